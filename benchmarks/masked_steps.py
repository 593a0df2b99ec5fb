"""Time `skip_masked_steps` against computing every step, on padded batches.

On the current backend (set KERAS_BACKEND), for three models that wrap a layer
in `TimeDistributed` over padded steps:

- sentence encoder: `TimeDistributed(LSTM(64))` over documents of up to 32
  sentences of 16 embedded words (a hierarchical attention network's lower
  half); the mask comes from `Embedding(mask_zero=True)`;
- frame encoder: `TimeDistributed` of two `Conv2D` and a pooling over clips of
  up to 16 frames of 32x32x3, the step mask given explicitly (`mask=`);
- tagger head: `TimeDistributed(Dense(64))` over 64 tokens of 128 features,
  the mask from `Masking`; `TimeDistributedDense` (which computes every step)
  alongside;

at 100%, 75%, 50%, 25% and 10% valid steps (every sample keeps the same number
of leading steps), it times the train step (`train_on_batch`) and the predict
step (`predict_on_batch`), median of `--repeats` calls after a warm-up, for
`keras_tdplus.TimeDistributed(..., skip_masked_steps=True)` ("skip"), the same
without it ("all steps") and stock `keras.layers.TimeDistributed` ("stock",
timed once per model: its cost does not depend on the padding). The models are
timed in turn, so load from elsewhere on a shared machine falls on all alike.

    KERAS_BACKEND=jax python benchmarks/masked_steps.py --json out/jax.json
    python benchmarks/plot_masked_steps.py out/*.json --out docs/img/masked_steps.png
"""

import argparse
import functools
import json
import os
import statistics
import sys
import time

import keras
import numpy as np
from keras import layers

import keras_tdplus

FRACTIONS = (1.0, 0.75, 0.5, 0.25, 0.1)
BATCH = 16


def _sentence_encoder(wrapper, steps=32, words=16, vocabulary=1000):
    ids = keras.Input((steps, words), dtype="int32")
    embedded = layers.Embedding(vocabulary, 32, mask_zero=True)(ids)
    sentences = wrapper(layers.LSTM(64))(embedded)
    # Flatten drops the mask: stock TimeDistributed passes the word mask on
    # as if it were the sentences' mask, which a masked pooling rejects.
    flat = layers.Flatten()(sentences)
    model = keras.Model(ids, layers.Dense(4)(flat))

    def data(fraction, rng):
        x = rng.integers(1, vocabulary, size=(BATCH, steps, words)).astype("int32")
        x[:, _valid_steps(steps, fraction) :] = 0
        return x, rng.normal(size=(BATCH, 4)).astype("float32")

    return model, data


def _frame_encoder(wrapper, steps=16, size=32):
    frames = keras.Input((steps, size, size, 3))
    step_mask = keras.Input((steps,), dtype="bool")
    cnn = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
        ]
    )
    encoded = wrapper(cnn)(frames, mask=step_mask)
    pooled = layers.GlobalAveragePooling1D()(encoded, mask=step_mask)
    model = keras.Model([frames, step_mask], layers.Dense(4)(pooled))

    def data(fraction, rng):
        x = rng.normal(size=(BATCH, steps, size, size, 3)).astype("float32")
        mask = np.zeros((BATCH, steps), bool)
        mask[:, : _valid_steps(steps, fraction)] = True
        return [x, mask], rng.normal(size=(BATCH, 4)).astype("float32")

    return model, data


def _tagger_head(wrapper, steps=64, features=128):
    tokens = keras.Input((steps, features))
    masked = layers.Masking()(tokens)
    tags = wrapper(layers.Dense(64))(masked)
    model = keras.Model(tokens, tags)

    def data(fraction, rng):
        x = rng.normal(size=(BATCH, steps, features)).astype("float32")
        x[:, _valid_steps(steps, fraction) :] = 0
        return x, rng.normal(size=(BATCH, steps, 64)).astype("float32")

    return model, data


MODELS = {
    "sentence encoder": _sentence_encoder,
    "frame encoder": _frame_encoder,
    "tagger head": _tagger_head,
}

WRAPPERS = {
    "skip": lambda layer: keras_tdplus.TimeDistributed(layer, skip_masked_steps=True),
    "all steps": keras_tdplus.TimeDistributed,
    "stock": layers.TimeDistributed,
}


def _valid_steps(steps, fraction):
    return max(1, round(steps * fraction))


def _compiled(build, wrapper):
    keras.utils.set_random_seed(0)
    model, data = build(wrapper)
    model.compile(optimizer="adam", loss="mse")
    return model, data


def _median_seconds(calls, repeats):
    """`{label: median seconds}`, the calls taking turns so load falls on all alike."""
    for fn in calls.values():
        fn()  # compile (and a second program for a new padding bucket)
        fn()
    times = {label: [] for label in calls}
    for _ in range(repeats):
        for label, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def measure(name, repeats, with_stock=True):
    """`{fraction: {wrapper: {"train": s, "predict": s}}}` for one model.

    Every wrapper gets the same batch at a fraction; the stock wrapper runs
    every step whatever the padding, so it is timed at the first fraction.
    """
    build = MODELS[name]
    variants = dict(WRAPPERS)
    if name == "tagger head":
        variants["TimeDistributedDense"] = lambda dense: keras_tdplus.TimeDistributedDense(
            dense.units
        )
    if not with_stock:
        variants.pop("stock")
    models = {label: _compiled(build, wrapper) for label, wrapper in variants.items()}
    results = {}
    rng = np.random.default_rng(0)
    for fraction in FRACTIONS:
        x, y = next(iter(models.values()))[1](fraction, rng)
        timed = {
            label: model
            for label, (model, _) in models.items()
            if label != "stock" or fraction == FRACTIONS[0]
        }
        train = _median_seconds(
            {label: functools.partial(m.train_on_batch, x, y) for label, m in timed.items()},
            repeats,
        )
        predict = _median_seconds(
            {label: functools.partial(m.predict_on_batch, x) for label, m in timed.items()},
            repeats,
        )
        results[fraction] = {
            label: {"train": train[label], "predict": predict[label]} for label in timed
        }
        if "stock" in models:
            results[fraction]["stock"] = results[FRACTIONS[0]]["stock"]
    return results


def table(name, results):
    lines = [
        f"### {name} ({keras.backend.backend()})",
        "",
        "| valid steps | train: skip / all steps | predict: skip / all steps "
        "| train: stock / all steps | train ms (skip, all steps) |",
        "|---|---|---|---|---|",
    ]
    for fraction, row in results.items():
        skip, every, stock = row["skip"], row["all steps"], row.get("stock")
        stock_ratio = "" if stock is None else f"{stock['train'] / every['train']:.2f}x"
        lines.append(
            f"| {fraction:.0%} | {skip['train'] / every['train']:.2f}x "
            f"| {skip['predict'] / every['predict']:.2f}x | {stock_ratio} "
            f"| {skip['train'] * 1e3:.1f}, {every['train'] * 1e3:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    parser.add_argument("--no-stock", action="store_true", help="leave stock TimeDistributed out")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected 1 or more, received {args.repeats}")
    everything = {}
    for name in args.models:
        results = measure(name, args.repeats, with_stock=not args.no_stock)
        everything[name] = {str(f): row for f, row in results.items()}
        print(table(name, results), end="\n\n", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            about = {"backend": keras.backend.backend(), "keras": keras.__version__}
            about["cpus"] = os.cpu_count()
            json.dump({**about, "models": everything}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
