"""Time stock TimeDistributed(Dense) against keras_tdplus and plain Dense.

On the current backend (set KERAS_BACKEND), for batch 8 and 32 features to 32
units at each T, it times:

- first step: one `train_on_batch` on a fresh compiled model, so tracing and
  compiling are included (median of 3 fresh models, or 1 when it takes > 10 s);
- train step / predict step: the median of later `train_on_batch` /
  `predict_on_batch` calls.

for four heads on a `(batch, T, 32)` input: stock `keras.layers.TimeDistributed(Dense)`,
`keras_tdplus.TimeDistributed(Dense)`, `keras_tdplus.TimeDistributedDense` and
`Dense` applied to the 3D input. Each figure is printed with its ratio to Dense
and to stock TimeDistributed, side by side in one run.

    KERAS_BACKEND=jax python benchmarks/time_distributed.py
    tox -e bench-jax            # or bench-tensorflow, bench-torch
"""

import argparse
import statistics
import time

import keras
import numpy as np
from keras import layers

import keras_tdplus

BATCH, FEATURES, UNITS = 8, 32, 32

HEADS = {
    "stock TimeDistributed(Dense)": lambda: layers.TimeDistributed(layers.Dense(UNITS)),
    "tdplus TimeDistributed(Dense)": lambda: keras_tdplus.TimeDistributed(layers.Dense(UNITS)),
    "TimeDistributedDense": lambda: keras_tdplus.TimeDistributedDense(UNITS),
    "Dense on 3D": lambda: layers.Dense(UNITS),
}


def first_step(head, steps, x, y):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((steps, FEATURES)), head()])
    model.compile(optimizer="adam", loss="mse")
    start = time.perf_counter()
    model.train_on_batch(x, y)
    return time.perf_counter() - start


def measure(head, steps, repeats, first_repeats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, steps, UNITS)).astype("float32")
    firsts = [first_step(head, steps, x, y)]
    # A compile that takes over 10 s is timed once: its noise is small next to it.
    while len(firsts) < first_repeats and firsts[0] < 10:
        firsts.append(first_step(head, steps, x, y))
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((steps, FEATURES)), head()])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, y)
    model.predict_on_batch(x)

    def median_seconds(fn):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    train = median_seconds(lambda: model.train_on_batch(x, y))
    predict = median_seconds(lambda: model.predict_on_batch(x))
    return {"first step": statistics.median(firsts), "train step": train, "predict step": predict}


def _format_seconds(seconds):
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.2f} ms"


def _format_ratio(ratio):
    # Three significant digits keep 0.0036 (a 280x speed-up) from printing as 0.00.
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=30, help="steady-state samples")
    parser.add_argument("--first-repeats", type=int, default=3, help="fresh compiles per head")
    parser.add_argument(
        "--skip-stock-above",
        type=int,
        default=None,
        help="skip stock TimeDistributed above this T (a minute to compile on JAX at 1000)",
    )
    args = parser.parse_args(argv)
    print(
        f"keras {keras.__version__}, backend {keras.config.backend()}, batch {BATCH}, "
        f"{FEATURES} features -> {UNITS} units, median of {args.repeats} steady steps\n"
    )
    measure(HEADS["Dense on 3D"], args.timesteps[0], 3, 1)  # warm up the backend
    print(
        "| T | head | first step | x Dense | x stock | train step | x Dense | x stock "
        "| predict step | x Dense | x stock |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for steps in args.timesteps:
        figures = {}
        for name, head in HEADS.items():
            if name.startswith("stock") and args.skip_stock_above and steps > args.skip_stock_above:
                continue
            figures[name] = measure(head, steps, args.repeats, args.first_repeats)
        dense = figures["Dense on 3D"]
        stock = figures.get("stock TimeDistributed(Dense)")
        for name, row in figures.items():
            cells = []
            for key in ("first step", "train step", "predict step"):
                vs_stock = _format_ratio(row[key] / stock[key]) if stock else "n/a"
                cells += [_format_seconds(row[key]), _format_ratio(row[key] / dense[key]), vs_stock]
            print(f"| {steps} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
