"""The `keras-tdplus params` command."""

import argparse
import os
import sys
import warnings

from keras import layers

from keras_tdplus._config.reader import read_model_file
from keras_tdplus._messages import format_shape, reworded
from keras_tdplus.cli._common import (
    EPILOG,
    NOT_CHECKED,
    OK,
    UsageError,
    add_max_config_option,
    fail_line,
    input_shape_arg,
    int_at_least,
)
from keras_tdplus.layers import TimeDistributedDense as _TimeDistributedDense
from keras_tdplus.params import estimate_memory, explain_flops, explain_params, param_table

__all__ = ["main"]

_PROG = "keras-tdplus params"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser():
    parser = _Parser(
        prog=_PROG,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Explain a layer's parameter count, or print a saved model's parameter "
        "table. Any other --name VALUE is passed to the layer, e.g. --units 5, "
        "--kernel-size 3,3, --return-sequences, --reset-after false.",
    )
    parser.add_argument("target", help="a layer class such as LSTM, or a MODEL.keras file")
    parser.add_argument(
        "--input-shape",
        help="the layer's input shape without the batch axis, e.g. 5,1 (None for unknown)",
    )
    parser.add_argument(
        "--flops",
        action="store_true",
        help="also count the FLOPs of one forward pass (2 per multiply-add of matrix "
        "products, convolutions and attention), per layer",
    )
    parser.add_argument(
        "--training",
        action="store_true",
        help="count the FLOPs of one training step, forward and backward (implies --flops)",
    )
    parser.add_argument(
        "--valid-steps",
        type=_valid_steps_arg,
        default=None,
        help="the valid steps of a padded batch, one count per sample (e.g. 7,3,5) or a "
        "fraction of the steps (e.g. 0.6): layers that skip masked steps count the valid "
        "ones (implies --flops; the batch is one per count unless --batch-size says)",
    )
    parser.add_argument(
        "--batch-size",
        type=int_at_least(1, "a positive integer"),
        default=None,
        help="the batch to count FLOPs and memory for (default: the model's own, else 1)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also estimate what training holds: weights, gradients, optimizer slots, "
        "activations (a model file only)",
    )
    parser.add_argument(
        "--optimizer",
        default="adam",
        help="the optimizer whose slots --memory counts: adam, adamw, sgd, rmsprop, ... or "
        "none for inference (default: adam)",
    )
    parser.add_argument(
        "--allow-build",
        action="store_true",
        help="count layers without a formula by building a throwaway copy (its weights "
        "are never allocated)",
    )
    add_max_config_option(parser)
    return parser


def _valid_steps_arg(text):
    """`--valid-steps`: step counts `7,3,5`, or a fraction of the steps `0.6`."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) == 1 and any(c in parts[0] for c in ".eE"):
            return float(parts[0])
        return [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected step counts such as 7,3,5 or a fraction such as 0.6, got {text!r}"
        ) from None


def _parse_value(text):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if "," in text:
        parts = tuple(_parse_value(part) for part in text.split(",") if part.strip())
        # Numbers make a tuple (`3,3`); anything else stays text (an equation).
        if all(p is None or isinstance(p, (int, float)) for p in parts):
            return parts
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _layer_kwargs(extras):
    kwargs = {}
    i = 0
    while i < len(extras):
        token = extras[i]
        if not token.startswith("--") or len(token) == 2:
            raise UsageError(f"unexpected argument {token!r}")
        key, _, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not _:
            following = extras[i + 1] if i + 1 < len(extras) else None
            if following is None or following.startswith("--"):
                value = "true"
            else:
                value = following
                i += 1
        kwargs[key] = _parse_value(value)
        i += 1
    return kwargs


def _layer_class(name):
    if name == "TimeDistributedDense":
        return _TimeDistributedDense
    cls = getattr(layers, name, None)
    if isinstance(cls, type) and issubclass(cls, layers.Layer):
        return cls
    raise UsageError(
        f"unknown layer class {name!r}; expected a keras.layers class name such as LSTM, "
        "or a path to a .keras file"
    )


def _make_layer(name, kwargs):
    cls = _layer_class(name)
    if issubclass(cls, (layers.Wrapper, layers.Bidirectional)):
        inner_name = kwargs.pop("layer", None)
        if not isinstance(inner_name, str):
            raise UsageError(f"{name} wraps a layer: pass --layer CLASS, e.g. --layer LSTM")
        own = {k: kwargs.pop(k) for k in ("merge_mode",) if k in kwargs}
        return cls(_make_layer(inner_name, kwargs), **own)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        words = {k: v for k, v in kwargs.items() if isinstance(v, str)}
        if isinstance(error, TypeError) and words:
            # Keras compares the value before checking its type: say what was meant.
            given = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in words.items())
            error = (
                f"an argument has the wrong type. Received: {given}. Expected: a number, "
                "true/false, None or comma-separated numbers, e.g. --units 5"
            )
        raise UsageError(f"could not create {name}({_kwargs_text(kwargs)}): {error}") from None


def _kwargs_text(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _as_option(argument):
    """An `Argument` of a library message, said as this command's option."""
    if argument.name == "allow_build":
        return "--allow-build"
    if argument.name == "batch_size":
        return f"--batch-size {argument.value}"
    if argument.name == "valid_steps":
        return "--valid-steps " + ",".join(map(str, argument.value))
    shape = argument.value
    if argument.name == "input_shape" and shape is None:
        return "pass --input-shape, without the batch axis"
    if argument.name == "input_shape" and shape[0] is None:
        # A batch shape `(None, 1, 3)` is `--input-shape 1,3` here.
        return "--input-shape " + ",".join(str(d) for d in shape[1:])
    return str(argument)


def _is_model_path(target):
    return target.endswith(".keras") or os.sep in target or os.path.exists(target)


def main(argv):
    """Runs `keras-tdplus params ARGS`; returns the exit status.

    `keras-tdplus params LSTM --units 5 --input-shape 1,1` prints the layer's
    explanation; `keras-tdplus params MODEL.keras` prints the model's table,
    read from the file's config.json alone.

    Args:
        argv: The arguments after `params`.

    Returns:
        0 on success; 2 for bad arguments, or a `.keras` file that cannot be
        read, is refused or cannot be counted in full (with one line on stderr).
    """
    parser = _parser()
    model_path = None
    try:
        args, extras = parser.parse_known_args(list(argv))
        costs = {"training": args.training, "valid_steps": args.valid_steps}
        args.flops = args.flops or args.training or args.valid_steps is not None
        if _is_model_path(args.target):
            model_path = args.target
            if extras:
                raise UsageError(f"unexpected arguments for a model file: {' '.join(extras)}")
            shape = input_shape_arg(args.input_shape) if args.input_shape else None
            saved = read_model_file(args.target, max_config_bytes=args.max_config_mb * 2**20)
            table = param_table(
                saved,
                input_shape=shape,
                allow_build=args.allow_build,
                flops=args.flops,
                batch_size=args.batch_size,
                **(costs if args.flops else {}),
            )
            memory = None
            if args.memory:
                optimizer = None if args.optimizer.lower() == "none" else args.optimizer
                memory = estimate_memory(
                    saved, args.batch_size, optimizer, shape, allow_build=args.allow_build
                )
            print(table)
            if memory is not None:
                print(" Training memory, bytes:")
                print(memory)
            return _partial(table.flops_missing if args.flops else (), model_path)
        if args.memory:
            raise UsageError("--memory needs a model file: it counts a whole model's training")
        kwargs = _layer_kwargs(extras)
        _layer_class(args.target)  # an unknown class is the first thing to say
        if args.input_shape is None:
            raise UsageError(
                f"{args.target} needs --input-shape, without the batch axis, e.g. --input-shape 5,1"
            )
        shape = input_shape_arg(args.input_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = _make_layer(args.target, kwargs)
        explanation = explain_params(layer, shape, allow_build=args.allow_build)
        flops = None
        if args.flops:
            flops = explain_flops(
                layer, shape, args.batch_size, allow_build=args.allow_build, **costs
            )
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else NOT_CHECKED
    except UsageError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return NOT_CHECKED
    except Exception as error:
        text = reworded(error, _as_option)
        line = fail_line(_PROG, error, model_path, "cannot count", every_line=True, text=text)
        print(line, file=sys.stderr)
        return NOT_CHECKED
    print(explanation)
    print(f"  formula: n = {explanation.formula}")
    if explanation.weights:
        shapes = ", ".join(f"{w.name} {format_shape(w.shape)}" for w in explanation.weights)
        print(f"  weights: {shapes}")
    print(f"  trainable: {explanation.trainable:,}, non-trainable: {explanation.non_trainable:,}")
    if flops is not None:
        print(flops)
        print(f"  formula: FLOPs = {flops.formula}")
        return _partial(flops.missing, args.target)
    return OK


def _partial(missing, subject):
    """OK, or NOT_CHECKED with one line on stderr when some layer has no FLOPs formula."""
    if not missing:
        return OK
    print(
        f"{_PROG}: {subject}: the FLOPs are partial: no FLOPs formula for {', '.join(missing)}",
        file=sys.stderr,
    )
    return NOT_CHECKED
