"""The `keras-tdplus echo` command: train the echo experiments, print what they learned."""

import argparse
import os
import sys
import tempfile

from keras_tdplus.cli._common import int_at_least

__all__ = ["main"]

_positive_int = int_at_least(1, "a positive integer")
_non_negative_int = int_at_least(0, "an integer >= 0")


def _echo_parser():
    from keras_tdplus.echo import EXPERIMENTS

    parser = argparse.ArgumentParser(
        prog="keras-tdplus echo",
        description="Train the echo experiments on the current Keras backend "
        "(set KERAS_BACKEND) and print each model's summary, parameter count "
        "and predictions.",
    )
    parser.add_argument(
        "--experiment",
        choices=EXPERIMENTS,
        action="append",
        metavar="NAME",
        help=f"run only this experiment (repeatable); one of: {', '.join(EXPERIMENTS)}",
    )
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="first seed (0)")
    parser.add_argument(
        "--epochs", type=_non_negative_int, help="override each experiment's epochs"
    )
    parser.add_argument(
        "--seeds",
        type=_positive_int,
        metavar="N",
        help="run N seeds from --seed on and print a convergence table",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="Keras fit verbosity; 2 prints one line per epoch",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="save loss curves and predictions")
    return parser


def check_plot_path(path):
    """Raises `ValueError` saying why a PNG cannot be written at `path`.

    Called before any training, so a bad `--plot` fails at once: the path
    must end in `.png`, must not be a folder, and its folder must exist and
    take a new file (checked by creating and removing one).
    """
    if not path.lower().endswith(".png"):
        raise ValueError(f"--plot expects a .png file name, received {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"--plot: {path!r} is a folder; expected a .png file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(directory):
        raise ValueError(f"--plot: the folder {directory!r} does not exist")
    if not os.path.isdir(directory):
        raise ValueError(f"--plot: {directory!r} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".plot-", suffix=".png"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(f"--plot: cannot write in the folder {directory!r}: {reason}") from None


def _print_params(model):
    from keras_tdplus.params import explain_params

    print("Parameters:")
    for layer in model.layers:
        explanation = explain_params(layer, (None, *layer.input.shape[1:]))
        print(f"  {layer.name}: {explanation}")
    print(f"  total: {model.count_params()}")


def main(argv):
    """`keras-tdplus echo ARGS`; returns the exit status."""
    parser = _echo_parser()
    args = parser.parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(
                "keras-tdplus echo: --plot needs matplotlib. Fix: pip install 'keras-tdplus[plot]'",
                file=sys.stderr,
            )
            return 2
        try:
            check_plot_path(args.plot)
        except ValueError as error:
            parser.error(str(error))

    import keras

    from keras_tdplus import echo

    names = args.experiment or list(echo.EXPERIMENTS)
    print(f"keras {keras.__version__}, backend: {keras.config.backend()}")
    results = []
    if args.seeds:
        rows = []
        for name in names:
            runs = [
                echo.run(name, seed=seed, epochs=args.epochs, verbose=args.verbose)
                for seed in range(args.seed, args.seed + args.seeds)
            ]
            results.append(runs[0])
            rows.append(echo.Convergence.from_results(runs))
            print(f"{name}: {rows[-1].echoed}/{args.seeds} seeds echo", flush=True)
        print()
        print(echo.format_convergence_table(rows))
    else:
        for name in names:
            experiment = echo.get_experiment(name)
            print(f"\n=== {name}: {experiment.description}")

            def show(model):
                print(echo.summary_text(model), end="")
                _print_params(model)
                sys.stdout.flush()

            result = echo.run(
                name, seed=args.seed, epochs=args.epochs, verbose=args.verbose, before_fit=show
            )
            results.append(result)
            print("Predictions:")
            print(result.formatted_predictions())
            print(
                f"max abs error {result.max_abs_error:.3f}, final loss "
                f"{result.final_loss if result.loss_history else float('nan'):.2e}, "
                f"fit {result.fit_seconds:.1f} s, echoes: {'yes' if result.echoes else 'no'}",
                flush=True,
            )
    if args.plot:
        from keras_tdplus.echo import plot_results

        try:
            plot_results(results, args.plot)
        except OSError as error:
            print(
                f"keras-tdplus echo: --plot: cannot write {args.plot!r}: {error}", file=sys.stderr
            )
            return 2
        print(f"\nplot saved to {args.plot}")
    return 0
