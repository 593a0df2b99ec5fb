"""Time stock TimeDistributed(Dense) against keras_tdplus and plain Dense.

On the current backend (set KERAS_BACKEND), for batch 8 and 32 features to 32
units at each T, it times:

- first step: one `train_on_batch` on a fresh compiled model, so tracing and
  compiling are included (median of 5 fresh models, or 1 when it takes > 10 s);
- train step / predict step: the median of later `train_on_batch` /
  `predict_on_batch` calls.

The heads are timed in turn (one first step or one steady step of each, then
again), so load from elsewhere on a shared machine falls on all of them alike.

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

# With `--int8`: the same two heads built int8-quantized (a quantized dtype
# policy, as `model.quantize("int8")` leaves them), timed in the same rounds;
# their "x Dense" column is against the int8 Dense.
INT8_DENSE = "Dense on 3D, int8"
INT8_HEADS = {
    "TimeDistributedDense, int8": lambda: keras_tdplus.TimeDistributedDense(
        UNITS, dtype="int8_from_float32"
    ),
    INT8_DENSE: lambda: layers.Dense(UNITS, dtype="int8_from_float32"),
}


def _model(head, steps):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((steps, FEATURES)), head()])
    model.compile(optimizer="adam", loss="mse")
    return model


def first_step(head, steps, x, y):
    model = _model(head, steps)
    start = time.perf_counter()
    model.train_on_batch(x, y)
    return time.perf_counter() - start


def measure(heads, steps, repeats, first_repeats):
    """Times every head at one T, interleaved: each round times each head once.

    On a shared machine, load comes and goes; interleaving spreads it over the
    heads alike instead of loading whichever head ran at a bad moment. Each round
    takes the heads in a fresh (seeded) random order: a step right after stock
    TimeDistributed's large program runs on colder caches, so no head may always
    come after the same one.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, steps, UNITS)).astype("float32")
    firsts = {name: [] for name in heads}

    order = np.random.default_rng(1)

    def in_turn(items):
        items = list(items)
        return [items[i] for i in order.permutation(len(items))]

    for _ in range(first_repeats):
        for name, head in in_turn(heads.items()):
            # A compile that takes over 10 s is timed once: its noise is small next to it.
            if not firsts[name] or firsts[name][0] < 10:
                firsts[name].append(first_step(head, steps, x, y))
    # Keras models keep their own compiled functions, so the heads can live side by side.
    models = {}
    for name, head in heads.items():
        models[name] = _model(head, steps)
        models[name].train_on_batch(x, y)
        models[name].predict_on_batch(x)
    samples = {name: {"train step": [], "predict step": []} for name in heads}
    for _ in range(repeats):
        for name, model in in_turn(models.items()):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            middle = time.perf_counter()
            model.predict_on_batch(x)
            samples[name]["train step"].append(middle - start)
            samples[name]["predict step"].append(time.perf_counter() - middle)
    return {
        name: {
            "first step": statistics.median(firsts[name]),
            **{key: statistics.median(values) for key, values in samples[name].items()},
        }
        for name in heads
    }


def _format_seconds(seconds):
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.2f} ms"


def _format_ratio(ratio):
    # Three significant digits keep 0.0036 (a 280x speed-up) from printing as 0.00.
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a length of 0 or more, received {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=50, help="steady-state samples")
    parser.add_argument("--first-repeats", type=int, default=5, help="fresh compiles per head")
    parser.add_argument(
        "--skip-stock-above",
        type=_non_negative,
        default=None,
        help="skip stock TimeDistributed above this T, 0 for every T (a minute to compile "
        "on JAX at 1000)",
    )
    parser.add_argument(
        "--int8", action="store_true", help="also time int8 TimeDistributedDense and Dense"
    )
    args = parser.parse_args(argv)
    print(
        f"keras {keras.__version__}, backend {keras.config.backend()}, batch {BATCH}, "
        f"{FEATURES} features -> {UNITS} units, median of {args.repeats} steady steps\n"
    )
    measure({"warm-up": HEADS["Dense on 3D"]}, args.timesteps[0], 3, 1)  # start the backend
    print(
        "| T | head | first step | x Dense | x stock | train step | x Dense | x stock "
        "| predict step | x Dense | x stock |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for steps in args.timesteps:
        heads = {
            name: head
            for name, head in HEADS.items()
            if not (
                name.startswith("stock")
                and args.skip_stock_above is not None
                and steps > args.skip_stock_above
            )
        }
        if args.int8:
            heads.update(INT8_HEADS)
        figures = measure(heads, steps, args.repeats, args.first_repeats)
        for name, row in figures.items():
            quantized = name in INT8_HEADS
            dense = figures[INT8_DENSE if quantized else "Dense on 3D"]
            stock = None if quantized else figures.get("stock TimeDistributed(Dense)")
            cells = []
            for key in ("first step", "train step", "predict step"):
                vs_stock = _format_ratio(row[key] / stock[key]) if stock else "n/a"
                cells += [_format_seconds(row[key]), _format_ratio(row[key] / dense[key]), vs_stock]
            print(f"| {steps} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
