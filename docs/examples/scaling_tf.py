"""tf.distribute.MirroredStrategy with TimeDistributedDense; for docs/scaling.md.

The same run as tests/_distributed_runs.py. Run it alone with
`python docs/examples/scaling_tf.py`; docs/scripts/generate.py runs it in a
process of its own, with the variables below set before it starts (EXAMPLE_ENV).
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:devices]
import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # before keras is imported

import keras
import tensorflow as tf

# Split the one CPU into two logical devices, before TensorFlow first uses it.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
print([device.name for device in tf.config.list_logical_devices("CPU")])
# --8<-- [end:devices]

# The data, model and training of docs/examples/scaling_jax.py.
import numpy as np

from keras_tdplus import TimeDistributedDense

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


# --8<-- [start:mirrored]
single = fit_losses(build())

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():  # variables made here are mirrored on both devices
    model = build()
mirrored = fit_losses(model)  # fit may run outside the scope

print("replicas:", strategy.num_replicas_in_sync)
print(f"1 device:  first loss {single[0]:.4f}, last {single[-1]:.4f}")
print(f"mirrored:  first loss {mirrored[0]:.4f}, last {mirrored[-1]:.4f}")
print("same losses (rtol 1e-5):", np.allclose(mirrored, single, rtol=1e-5, atol=0))
# --8<-- [end:mirrored]
