"""The data and model that docs/examples/scaling_out_{jax,tf,torch}.py train in several processes.

Not run on its own: each worker script imports it, after it has chosen its backend.
"""

import argparse

# --8<-- [start:model]
import keras
import numpy as np

import keras_tdplus

FEATURES = 3
GLOBAL_BATCH = 8

# Eight sequences of up to six steps, padded with zero steps at the end. The target at
# each step is the mean of that step's features.
_rng = np.random.default_rng(0)
LENGTHS = np.array([6, 3, 5, 2, 6, 4, 6, 1])
X = _rng.uniform(0.1, 1.0, size=(GLOBAL_BATCH, 6, FEATURES)).astype("float32")
X[np.arange(6) >= LENGTHS[:, None]] = 0.0
Y = X.mean(axis=-1, keepdims=True)


def build(masked=True, units=1):
    """A fresh model with the same starting weights in every process.

    The mask made by `Masking` passes through both layers to the loss, which leaves
    out the padded steps.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, FEATURES))  # the time axis is left open
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    x = keras_tdplus.TimeDistributed(keras.layers.Dense(4, activation="tanh"))(x)
    outputs = keras_tdplus.TimeDistributedDense(units, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def shard(array, process_id, num_processes):
    """This process's contiguous share of the global batch."""
    per_process = len(array) // num_processes
    return array[process_id * per_process : (process_id + 1) * per_process]


# --8<-- [end:model]


DEFAULT_ADDRESSES = "127.0.0.1:12355,127.0.0.1:12356"


def parse_args(description):
    """The command line every worker script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--process-id", type=int, required=True, help="0 for the first process")
    parser.add_argument(
        "--addresses",
        default=DEFAULT_ADDRESSES,
        help="HOST:PORT of every process, comma-separated, process 0 first",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one RESULT line (the tests)")
    return parser
