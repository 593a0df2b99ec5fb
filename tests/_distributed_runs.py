"""Distributed runs of the many-to-many TimeDistributedDense model, one per process.

Device flags must be set before the backend starts, so each run is its own
process: `python tests/_distributed_runs.py NAME` prints one JSON line.
"""

import json
import os
import sys

RUN = sys.argv[1] if __name__ == "__main__" else None
if RUN in ("jax-data-parallel", "jax-model-parallel"):
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
elif RUN == "tf-mirrored":
    os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tdplus import TimeDistributed, TimeDistributedDense  # noqa: E402

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


def _documents():
    """8 documents of 4 sentences of 5 words, `0` padding both words and whole sentences."""
    rng = np.random.default_rng(1)
    words = rng.integers(1, 10, size=(8, 4, 5))
    words[rng.uniform(size=words.shape) < 0.3] = 0
    for row, sentences in enumerate([4, 1, 2, 3, 4, 2, 1, 3]):
        words[row, sentences:] = 0
    return words, (words == 1).any(axis=(1, 2)).astype("float32")[:, None]


DOCUMENTS, LABELS = _documents()


def build_masked(skip):
    """A hierarchical model whose sentence encoder packs the valid sentences."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 5), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    h = TimeDistributed(keras.layers.LSTM(8), skip_masked_steps=skip)(h)
    outputs = keras.layers.Dense(1)(keras.layers.LSTM(8)(h))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def masked_run(model):
    """Losses and predictions of the hierarchical model."""
    losses = model.fit(DOCUMENTS, LABELS, epochs=3, batch_size=8, shuffle=False, verbose=0)
    return {
        "losses": losses.history["loss"],
        "predictions": model.predict(DOCUMENTS, batch_size=8, verbose=0).ravel().tolist(),
    }


def _two_logical_cpus(tf):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )


def jax_data_parallel():
    import jax

    single = fit_losses(build())
    masked = {"single_all_steps": masked_run(build_masked(False))}
    masked["single"] = masked_run(build_masked(True))
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    parallel = fit_losses(build())
    masked["parallel"] = masked_run(build_masked(True))
    return {
        "devices": len(jax.devices()),
        "single": single,
        "parallel": parallel,
        "masked": masked,
    }


def jax_model_parallel():
    import jax

    reference = build(units=4)
    expected = reference.predict(X, verbose=0)
    weights = reference.get_weights()
    mesh = keras.distribution.DeviceMesh((2, 2), ["batch", "model"], jax.devices())
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*/head/kernel"] = (None, "model")
    keras.distribution.set_distribution(
        keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    )
    sharded = build(units=4)
    sharded.set_weights(weights)
    kernel = sharded.get_layer("head").kernel.value
    shard_shapes = sorted({tuple(s.data.shape) for s in kernel.addressable_shards})
    actual = sharded.predict(X, verbose=0, batch_size=8)
    return {
        "spec": [str(axis) for axis in kernel.sharding.spec],
        "shard_shapes": shard_shapes,
        "kernel_shape": list(kernel.shape),
        "max_gap": float(np.max(np.abs(actual - expected))),
        "losses": fit_losses(sharded),
    }


def tf_mirrored():
    import tensorflow as tf

    _two_logical_cpus(tf)
    single = fit_losses(build())
    masked = {"single_all_steps": masked_run(build_masked(False))}
    masked["single"] = masked_run(build_masked(True))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
        masked_model = build_masked(True)
    mirrored = fit_losses(model)
    masked["parallel"] = masked_run(masked_model)
    return {
        "replicas": strategy.num_replicas_in_sync,
        "single": single,
        "parallel": mirrored,
        "masked": masked,
    }


if __name__ == "__main__":
    runs = {
        "jax-data-parallel": jax_data_parallel,
        "jax-model-parallel": jax_model_parallel,
        "tf-mirrored": tf_mirrored,
    }
    print("RESULT " + json.dumps(runs[RUN]()))
