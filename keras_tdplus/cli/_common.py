"""What the `keras-tdplus` commands share: exit statuses, one-line errors, option types."""

import argparse

from keras_tdplus._config.reader import MAX_CONFIG_BYTES, UnreadableModelFile

__all__ = [
    "EPILOG",
    "FINDINGS",
    "INTERRUPTED",
    "NOT_CHECKED",
    "OK",
    "UsageError",
    "add_max_config_option",
    "fail_line",
    "input_shape_arg",
    "int_at_least",
]

OK = 0
FINDINGS = 1
NOT_CHECKED = 2
INTERRUPTED = 130

EPILOG = """exit status:
  0    the model was read and checked in full; nothing was found
  1    a sequence-shape error was found (check only)
  2    bad arguments, or the file cannot be read, was refused (it would make
       Keras run code or open another file, or it is too large or too deep),
       or could not be checked in full; one line on stderr says why
  130  interrupted (Ctrl-C)"""


_MAX_LINE = 600


class UsageError(Exception):
    """Bad command-line arguments: one line on stderr and exit status 2."""


def fail_line(prog, error, subject=None, verb="cannot check", every_line=False, text=None):
    """The one line on stderr for `error`, raised while working on `subject` (a path).

    `text` says the error in the command's own terms, when not `str(error)`.
    """
    if isinstance(error, UnreadableModelFile):
        return f"{prog}: {error}"
    if isinstance(error, RecursionError):
        reason = "refused: it nests too deeply to follow"
    elif isinstance(error, MemoryError):
        reason = "refused: it needs more memory than there is"
    else:
        lines = [line.strip() for line in (text or str(error)).splitlines() if line.strip()]
        if not every_line:
            lines = lines[:1]
        # Lines that end a sentence already are not followed by a stray ';'.
        joined = [line if line.endswith((".", ":")) else line + ";" for line in lines[:-1]]
        reason = " ".join([*joined, *lines[-1:]]) or type(error).__name__
        if not isinstance(error, (ValueError, TypeError, OSError)):
            reason = f"unexpected {type(error).__name__}: {reason}"
    if len(reason) > _MAX_LINE:
        reason = reason[: _MAX_LINE - 3] + "..."
    return f"{prog}: {reason}" if subject is None else f"{prog}: {verb} {subject!r}: {reason}"


def int_at_least(minimum, wording):
    """An argparse type: an integer >= `minimum`, else a message using `wording`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, received {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wording}, received {text!r}")
        return value

    return parse


def add_max_config_option(parser):
    """`--max-config-mb MB`: the cap on a model file's inflated config.json."""
    default = MAX_CONFIG_BYTES // 2**20
    parser.add_argument(
        "--max-config-mb",
        type=int_at_least(1, "a positive integer"),
        default=default,
        metavar="MB",
        help=f"the largest config.json read, inflated, in MiB (default {default})",
    )


def input_shape_arg(text):
    """`--input-shape 5,1` (or `None,1`) as a shape with the batch axis, `(None, 5, 1)`."""
    dims = []
    for part in text.split(","):
        part = part.strip()
        if part.lower() in ("none", "?"):
            dims.append(None)
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise UsageError(
                "Received an invalid value for `--input-shape`, expected comma-separated "
                "non-negative integers (or None) without the batch axis, e.g. 5,1. "
                f"Received: --input-shape={text}"
            )
    return (None, *dims)
