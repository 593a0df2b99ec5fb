"""Time keras_tdplus.TimeDistributed against stock Keras over the inner layers users wrap.

On the current backend (set KERAS_BACKEND), for each family of inner layer and
each batch size B and step count T, three models are built with the same
weights: `keras.layers.TimeDistributed(inner)` ("stock"),
`keras_tdplus.TimeDistributed(inner)` ("ours") and, for the Dense family,
`keras_tdplus.TimeDistributedDense`. Each model is
`Input((T, *frame)) -> wrapper -> mean over steps -> Dense(1)`, compiled with
SGD and MSE as `model.compile` does by default (XLA on JAX). Train and predict
steps take turns on one batch; every round runs each model once, in a fresh
seeded order, so load from elsewhere on a shared machine falls on all alike.
Each figure is the median of the rounds, after two warm-up rounds.

    KERAS_BACKEND=jax python benchmarks/fold_vs_stock.py --json jax.json
    python benchmarks/fold_vs_stock.py --families conv2d --batches 16 --steps 16

The Markdown table goes to standard output; `--json` also writes the figures,
which `benchmarks/plot_fold_vs_stock.py` draws (the Performance page).
"""

import argparse
import json
import os
import statistics
import sys
import time

import keras
import numpy as np
from keras import layers

import keras_tdplus


def _attention():
    inputs = keras.Input((8, 16))
    attended = layers.MultiHeadAttention(2, 8)(inputs, inputs)
    return keras.Model(inputs, layers.GlobalAveragePooling1D()(attended))


# name: (frame shape, a function building the inner layer)
FAMILIES = {
    "dense": ((32,), lambda: layers.Dense(32)),
    "mlp": ((32,), lambda: keras.Sequential([layers.Dense(64, "relu"), layers.Dense(32)])),
    "conv1d": (
        (32, 8),
        lambda: keras.Sequential(
            [layers.Conv1D(16, 3, activation="relu"), layers.Conv1D(16, 3)]
            + [layers.GlobalAveragePooling1D()]
        ),
    ),
    "conv2d": (
        (16, 16, 3),
        lambda: keras.Sequential(
            [layers.Conv2D(16, 3, activation="relu"), layers.Conv2D(16, 3)]
            + [layers.GlobalAveragePooling2D()]
        ),
    ),
    "conv3d": (
        (4, 8, 8, 3),
        lambda: keras.Sequential(
            [layers.Conv3D(8, 3, activation="relu", padding="same"), layers.Conv3D(8, 3)]
            + [layers.GlobalAveragePooling3D()]
        ),
    ),
    "pool+flatten": (
        (16, 16, 3),
        lambda: keras.Sequential(
            [layers.MaxPooling2D(2), layers.AveragePooling2D(2), layers.Flatten()]
        ),
    ),
    "lstm": ((12, 8), lambda: layers.LSTM(16)),
    "gru": ((12, 8), lambda: layers.GRU(16)),
    "attention": ((8, 16), _attention),
}

WRAPPERS = {
    "stock": layers.TimeDistributed,
    "ours": keras_tdplus.TimeDistributed,
}


def _model(wrapper, family, steps):
    frame, inner = FAMILIES[family]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((steps, *frame))
    if wrapper == "TimeDistributedDense":
        per_step = keras_tdplus.TimeDistributedDense(32)(inputs)
    else:
        per_step = WRAPPERS[wrapper](inner())(inputs)
    summary = layers.GlobalAveragePooling1D()(layers.Reshape((steps, -1))(per_step))
    model = keras.Model(inputs, layers.Dense(1)(summary))
    model.compile(optimizer="sgd", loss="mse")
    return model


def measure(family, batch, steps, rounds):
    """`{wrapper: {"train": seconds, "predict": seconds}}` for one cell, in turns."""
    frame = FAMILIES[family][0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, *frame)).astype("float32")
    y = rng.normal(size=(batch, 1)).astype("float32")
    names = list(WRAPPERS) + (["TimeDistributedDense"] if family == "dense" else [])
    keras.backend.clear_session()
    models = {name: _model(name, family, steps) for name in names}
    weights = models["stock"].get_weights()
    for model in models.values():
        model.set_weights(weights)
    samples = {name: {"train": [], "predict": []} for name in names}
    order = np.random.default_rng(1)
    for round_ in range(rounds + 2):
        for i in order.permutation(len(names)):
            name = names[i]
            start = time.perf_counter()
            models[name].train_on_batch(x, y)
            middle = time.perf_counter()
            models[name].predict_on_batch(x)
            if round_ >= 2:
                samples[name]["train"].append(middle - start)
                samples[name]["predict"].append(time.perf_counter() - middle)
    return {
        name: {key: statistics.median(values) for key, values in figures.items()}
        for name, figures in samples.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--batches", type=int, nargs="+", default=[2, 16, 64])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per cell")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    backend = keras.config.backend()
    print(f"keras {keras.__version__}, backend {backend}, median of {args.rounds} rounds\n")
    print(
        "| family | B | T | stock train | ours train | x stock | stock predict "
        "| ours predict | x stock |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    cells = []
    for family in args.families:
        for batch in args.batches:
            for steps in args.steps:
                figures = measure(family, batch, steps, args.rounds)
                stock, ours = figures["stock"], figures["ours"]
                cells.append({"family": family, "batch": batch, "steps": steps, **figures})
                print(
                    f"| {family} | {batch} | {steps} "
                    f"| {stock['train'] * 1e3:.2f} ms | {ours['train'] * 1e3:.2f} ms "
                    f"| {ours['train'] / stock['train']:.2f} "
                    f"| {stock['predict'] * 1e3:.2f} ms | {ours['predict'] * 1e3:.2f} ms "
                    f"| {ours['predict'] / stock['predict']:.2f} |",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(
                {
                    "backend": backend,
                    "keras": keras.__version__,
                    "cpus": len(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity")
                    else os.cpu_count(),
                    "cells": cells,
                },
                file,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
