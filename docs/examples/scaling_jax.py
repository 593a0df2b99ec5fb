"""DataParallel and ModelParallel on JAX with TimeDistributedDense; for docs/scaling.md.

The same runs as tests/_distributed_runs.py. Run it alone with
`python docs/examples/scaling_jax.py`; docs/scripts/generate.py runs it in a
process of its own, with the variables below set before it starts (EXAMPLE_ENV).
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:devices]
import os

# Set both before jax is imported: XLA reads its flags once, when it starts.
os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import jax
import keras

print(jax.devices())
# --8<-- [end:devices]

# --8<-- [start:model]
import numpy as np

from keras_tdplus import TimeDistributedDense

# Eight sequences of five steps; the target at each step is the running sum so far.
X = np.random.default_rng(0).uniform(size=(8, 5, 1)).astype("float32")
Y = np.cumsum(X, axis=1) / 5


def build(units=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5, 1)),
            keras.layers.LSTM(8, return_sequences=True),
            TimeDistributedDense(units, name="head"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def fit_losses(model):
    history = model.fit(X, Y, epochs=15, batch_size=8, shuffle=False, verbose=0)
    return history.history["loss"]


# --8<-- [end:model]

# --8<-- [start:data_parallel]
single = fit_losses(build())

data_parallel = keras.distribution.DataParallel(devices=jax.devices())
with data_parallel.scope():  # or keras.distribution.set_distribution(data_parallel)
    parallel = fit_losses(build())

print(f"1 device:  first loss {single[0]:.4f}, last {single[-1]:.4f}")
print(f"4 devices: first loss {parallel[0]:.4f}, last {parallel[-1]:.4f}")
print("same losses (rtol 1e-5):", np.allclose(parallel, single, rtol=1e-5, atol=0))
# --8<-- [end:data_parallel]

# --8<-- [start:model_parallel]
reference = build(units=4)  # no distribution: every weight whole, on one device
expected = reference.predict(X, verbose=0)

mesh = keras.distribution.DeviceMesh((2, 2), ["batch", "model"], jax.devices())
layout_map = keras.distribution.LayoutMap(mesh)
layout_map[".*/head/kernel"] = (None, "model")  # (features, units): split units
model_parallel = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")

with model_parallel.scope():
    sharded = build(units=4)
    sharded.set_weights(reference.get_weights())
    kernel = sharded.get_layer("head").kernel
    print("path:", kernel.path)
    print("shape:", tuple(kernel.shape))
    print("sharding:", kernel.value.sharding.spec)
    print("shard shapes:", sorted({s.data.shape for s in kernel.value.addressable_shards}))
    actual = sharded.predict(X, verbose=0, batch_size=8)
    print("same outputs (atol 1e-6):", np.allclose(actual, expected, rtol=0, atol=1e-6))
    losses = fit_losses(sharded)
print(f"training: first loss {losses[0]:.4f}, last {losses[-1]:.4f}")
# --8<-- [end:model_parallel]
