"""The `keras-tdplus` command: `echo`, `check` and `params`."""

import sys

from keras_tdplus.cli._common import INTERRUPTED

__all__ = ["main"]

_USAGE = """usage: keras-tdplus {echo,check,params} ...

commands:
  echo     train the echo experiments and print summaries and predictions
  check    lint a saved .keras model for sequence-shape mistakes
  params   explain a layer's or a saved model's parameter count
"""


def main(argv=None):
    """Entry point of `keras-tdplus` and `python -m keras_tdplus`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("-h", "--help"):
        from keras_tdplus import _backend

        try:
            note = _backend.choose_for_cli()
        except ImportError as error:
            print(str(error).splitlines()[0] + " " + str(error).splitlines()[-1], file=sys.stderr)
            return 2
        if note:
            print(note, file=sys.stderr)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "echo":
            from keras_tdplus.cli._echo import main as echo_main

            return echo_main(rest)
        if command == "check":
            from keras_tdplus.cli._check import main as check_main

            return check_main(rest)
        if command == "params":
            from keras_tdplus.cli._params import main as params_main

            return params_main(rest)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    except KeyboardInterrupt:
        print("keras-tdplus: interrupted", file=sys.stderr)
        return INTERRUPTED
    print(
        f"keras-tdplus: unknown command {command!r}; expected echo, check or params",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
