"""How long counting takes on keras.applications models, beside Keras building them.

    KERAS_BACKEND=jax python benchmarks/flops_speed.py [--models ResNet50 ...] [--repeats 3]

For each model: the median time of `count_flops` and of `param_table` on its
config (nothing built), and of Keras building the model without initialising
its variables (`keras.StatelessScope(initialize_variables=False)`), which is
the cheapest way Keras itself gets to a parameter count. One markdown row per
model, and the slowest count at the end. The target is under 1 s per model.
"""

import argparse
import statistics
import sys
import time
import warnings

import keras

from keras_tdplus import count_flops, param_table

# The smallest input each model takes (32 unless said): the count does not depend on it.
_SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}


def _median_seconds(repeats, function, *args):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _build(name):
    size = _SIZES.get(name, 32)
    with keras.StatelessScope(initialize_variables=False):
        return getattr(keras.applications, name)(
            weights=None, input_shape=(size, size, 3), classes=10
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="keras.applications names (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    names = args.models or sorted(n for n in dir(keras.applications) if n[:1].isupper())
    print(f"keras {keras.__version__}, backend {keras.config.backend()}, {args.repeats} repeats")
    print()
    print("| model | layers | count_flops s | param_table s | Keras build s | count / build |")
    print("|---|---|---|---|---|---|")
    slowest = (0.0, None)
    for name in names:
        try:
            config = _build(name).get_config()
        except Exception as error:  # e.g. a model Keras does not build on this backend
            print(f"| {name} | - | - | - | - | {type(error).__name__} |")
            continue
        keras.backend.clear_session()
        counting = _median_seconds(args.repeats, count_flops, config)
        table = _median_seconds(args.repeats, param_table, config)
        build = _median_seconds(args.repeats, _build, name)
        keras.backend.clear_session()
        slowest = max(slowest, (counting, name))
        print(
            f"| {name} | {len(config['layers'])} | {counting:.2f} | {table:.2f} | {build:.2f} "
            f"| {counting / build:.2f}x |",
            flush=True,
        )
    if slowest[1] is not None:
        print()
        print(f"slowest count: {slowest[1]}, {slowest[0]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
