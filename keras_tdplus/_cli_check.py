"""The `keras-tdplus check` command."""

import argparse
import sys

from keras_tdplus._cli_params import _input_shape_arg, _UsageError
from keras_tdplus._model_file import UnreadableModelFile, read_model_file
from keras_tdplus._model_lint import check_saved_config


def main(argv):
    """Runs `keras-tdplus check MODEL.keras`; `argv` excludes the word `check`.

    Prints the `check_model` report of the saved model to stdout. The model
    is rebuilt from the file's config.json alone (weights are not read); when
    Keras cannot build it, each layer is rebuilt on its own and the config is
    linted as saved.

    Args:
        argv: The command-line arguments after `check`.

    Returns:
        The exit status: 0 when no error is found, 1 when one is, 2 when the
        file cannot be read or checked (with a one-line message on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="keras-tdplus check",
        description="Lint a saved .keras model for sequence-shape mistakes: a recurrent "
        "layer without return_sequences=True feeding a per-time-step layer, a per-step "
        "or recurrent layer fed a tensor with no time axis.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="the saved model")
    parser.add_argument(
        "--input-shape",
        help="for a model saved unbuilt without an Input: its input shape without the batch "
        "axis, e.g. 5,1 (None for unknown)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        shape = _input_shape_arg(args.input_shape) if args.input_shape else None
        report = check_saved_config(read_model_file(args.model), shape)
    except _UsageError as error:
        print(f"keras-tdplus check: {error}", file=sys.stderr)
        return 2
    except UnreadableModelFile as error:
        print(f"keras-tdplus check: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        reason = str(error).splitlines()[0]
        if "has no input shape" in reason:
            reason += " Fix: pass --input-shape, without the batch axis, e.g. --input-shape 5,1"
        print(f"keras-tdplus check: cannot check {args.model!r}: {reason}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1
