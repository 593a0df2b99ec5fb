"""Writes the golden `.keras` files: models saved by a release, which later releases must load.

    KERAS_BACKEND=jax python tests/golden/make_golden.py

Run once per release that changes what is saved, never to make a failing golden test
pass: the files are what users already have on disk. Each model's inputs and
predictions go into `expected.npz` beside the files.
"""

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

import keras_tdplus

HERE = Path(__file__).resolve().parent


def dense_heads():
    """Both layers on a plain sequence: TimeDistributedDense and TimeDistributed(Dense)."""
    return keras.Sequential(
        [
            keras.Input((4, 3)),
            keras_tdplus.TimeDistributedDense(5, activation="tanh"),
            keras_tdplus.TimeDistributed(layers.Dense(2)),
        ],
        name="dense_heads",
    ), np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")


def masked_words():
    """A per-step mask computed inside the wrapper, carried by the saved mask op."""
    inputs = keras.Input((4, 6), dtype="int32")
    embedded = keras_tdplus.TimeDistributed(layers.Embedding(10, 3, mask_zero=True))(inputs)
    encoded = keras_tdplus.TimeDistributed(layers.LSTM(5))(embedded)
    outputs = layers.LSTM(2)(encoded)
    words = np.random.default_rng(1).integers(1, 10, size=(2, 4, 6))
    words[0, 2:, :] = 0
    words[1, :, 4:] = 0
    return keras.Model(inputs, outputs, name="masked_words"), words.astype("int32")


def frames():
    """A convolution, pooling and a nested Sequential over video frames."""
    per_frame = keras.Sequential(
        [layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D()], name="frame"
    )
    return keras.Sequential(
        [
            keras.Input((3, 8, 8, 2)),
            keras_tdplus.TimeDistributed(layers.Conv2D(3, 3, padding="same")),
            keras_tdplus.TimeDistributed(layers.MaxPooling2D()),
            keras_tdplus.TimeDistributed(per_frame),
            keras_tdplus.TimeDistributedDense(2),
        ],
        name="frames",
    ), np.random.default_rng(2).normal(size=(2, 3, 8, 8, 2)).astype("float32")


def quantized_head():
    """A TimeDistributedDense quantized to int8, with its scales."""
    model = keras.Sequential(
        [keras.Input((4, 8)), keras_tdplus.TimeDistributedDense(6)], name="quantized_head"
    )
    model.quantize("int8")
    return model, np.random.default_rng(3).normal(size=(2, 4, 8)).astype("float32")


MODELS = (dense_heads, masked_words, frames, quantized_head)


def main():
    keras.utils.set_random_seed(0)
    arrays = {}
    for make in MODELS:
        model, x = make()
        model.save(HERE / f"{make.__name__}.keras")
        arrays[f"{make.__name__}_x"] = x
        arrays[f"{make.__name__}_y"] = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    arrays["keras_version"] = np.array(keras.__version__)
    arrays["tdplus_version"] = np.array(keras_tdplus.__version__)
    arrays["backend"] = np.array(os.environ.get("KERAS_BACKEND", keras.config.backend()))
    np.savez(HERE / "expected.npz", **arrays)


if __name__ == "__main__":
    main()
