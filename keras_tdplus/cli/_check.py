"""The `keras-tdplus check` command."""

import argparse
import sys

from keras_tdplus._config.reader import read_model_file
from keras_tdplus.cli._common import (
    EPILOG,
    FINDINGS,
    NOT_CHECKED,
    OK,
    UsageError,
    add_max_config_option,
    fail_line,
    input_shape_arg,
)
from keras_tdplus.validation import check_saved_config

__all__ = ["main"]

_PROG = "keras-tdplus check"
_INPUT_SHAPE_FIX = "Fix: pass --input-shape, without the batch axis, e.g. --input-shape 5,1"


def _parser():
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Lint a saved .keras model for sequence-shape mistakes: a recurrent "
        "layer without return_sequences=True feeding a per-time-step layer, a per-step "
        "or recurrent layer fed a tensor with no time axis. Only the file's config.json is "
        "read; no weights are read or created, no code in the file is run, and no other "
        "file is opened.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL.keras", help="the saved model")
    parser.add_argument(
        "--input-shape",
        help="for a model saved unbuilt without an Input: its input shape without the batch "
        "axis, e.g. 5,1 (None for unknown)",
    )
    add_max_config_option(parser)
    return parser


def main(argv):
    """Runs `keras-tdplus check MODEL.keras`; `argv` excludes the word `check`.

    Prints the `check_model` report of the saved model to stdout. Each layer
    is rebuilt on its own from the file's config.json, unbuilt: weights are
    neither read nor created.

    Args:
        argv: The command-line arguments after `check`.

    Returns:
        The exit status: 0 when the whole model was checked and no error
        found, 1 when an error was found, 2 when the file cannot be read, is
        refused, or could not be checked in full (with one line on stderr).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else NOT_CHECKED
    try:
        shape = input_shape_arg(args.input_shape) if args.input_shape else None
        saved = read_model_file(args.model, max_config_bytes=args.max_config_mb * 2**20)
        report = check_saved_config(saved, shape)
    except UsageError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return NOT_CHECKED
    except Exception as error:
        line = fail_line(_PROG, error, args.model)
        if "has no input shape" in line:
            line += f" {_INPUT_SHAPE_FIX}"
        print(line, file=sys.stderr)
        return NOT_CHECKED
    print(report)
    if report.errors:
        return FINDINGS
    unchecked = [f for f in report.findings if f.severity == "info"]
    if unchecked:
        first = unchecked[0].message.splitlines()[0]
        more = f" (and {len(unchecked) - 1} more)" if len(unchecked) > 1 else ""
        print(f"{_PROG}: {args.model!r} was not checked in full: {first}{more}", file=sys.stderr)
        return NOT_CHECKED
    if report.layers_checked == 0 and _has_layers(saved):
        print(
            f"{_PROG}: {args.model!r} was not checked: no layer had a known input shape. "
            f"{_INPUT_SHAPE_FIX}",
            file=sys.stderr,
        )
        return NOT_CHECKED
    return OK


def _has_layers(saved):
    layers = saved["config"].get("layers")
    return isinstance(layers, list) and any(
        isinstance(e, dict) and e.get("class_name") != "InputLayer" for e in layers
    )
