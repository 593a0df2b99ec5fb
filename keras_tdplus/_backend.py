"""Which Keras backend runs, found before Keras is imported.

Keras reads its backend from `KERAS_BACKEND`, else from `keras.json` in its home
folder (`KERAS_HOME`, else `~/.keras`), else uses tensorflow; on its first import
it writes a `keras.json` naming tensorflow when none exists. This module finds
the same answer without importing Keras or any backend, so that:

- the command line can pick an installed backend when none is configured, and
  keep Keras from writing the user's `keras.json`;
- `import keras_tdplus` under a backend that is not installed fails with one
  message naming `KERAS_BACKEND` and the backends that are installed.

`keras-tdplus --help` imports no backend: while the command line starts, the
package's `__init__` defers its imports (see `started_by_cli`).
"""

import atexit
import importlib.util
import json
import os
import shutil
import sys
import tempfile

__all__ = []

BACKENDS = ("jax", "torch", "tensorflow")
"""The backends, in the order the command line prefers them when none is configured.

JAX first: it trains the echo experiments fastest on a CPU and its wheel is
small; torch next; tensorflow, Keras' own default, last.
"""

_KERAS_DEFAULT = "tensorflow"
_CONFIG_LIMIT = 64 * 1024


def installed():
    """The backends whose package can be imported, in `BACKENDS` order; imports none."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def _keras_home():
    """The folder Keras reads `keras.json` from, as Keras' own config computes it."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return os.path.join(home, ".keras")


def config_path():
    """The path of the `keras.json` Keras reads (which may not exist)."""
    return os.path.expanduser(os.path.join(_keras_home(), "keras.json"))


def configured():
    """`(backend, source)`: the backend Keras will load and what set it.

    `source` is `"KERAS_BACKEND"`, the path of the `keras.json` that names it,
    or `None` when nothing does and Keras falls back to tensorflow.
    """
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    path = config_path()
    if not os.path.isfile(path):
        return _KERAS_DEFAULT, None
    try:
        with open(path, encoding="utf-8") as file:
            config = json.loads(file.read(_CONFIG_LIMIT))
    except (OSError, ValueError):
        config = {}
    backend = config.get("backend") if isinstance(config, dict) else None
    return (backend if isinstance(backend, str) else _KERAS_DEFAULT), path


def missing_backend_message(backend, source):
    """The `ImportError` text for a configured backend that is not installed."""
    others = installed()
    if source == "KERAS_BACKEND":
        origin = f"set by KERAS_BACKEND={backend!r}"
    elif source is not None:
        origin = f"named in {source}"
    else:
        origin = f"Keras' default: KERAS_BACKEND is not set and {config_path()} does not exist"
    fix = (
        f"Fix: set KERAS_BACKEND to an installed backend, e.g. KERAS_BACKEND={others[0]}, "
        f"or install this one: pip install 'keras-tdplus[{backend}]'"
        if others
        else "Fix: install a backend, e.g. pip install 'keras-tdplus[jax]', and set KERAS_BACKEND"
    )
    return (
        f"keras_tdplus: Keras cannot load its backend {backend!r} ({origin}): "
        "it is not installed.\n"
        f"Received: KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}\n"
        f"Installed backends: {', '.join(others) or 'none'}\n"
        f"{fix}"
    )


def started_by_cli():
    """True while `keras-tdplus` or `python -m keras_tdplus` imports the package.

    The console script's `argv[0]` is the script; while `python -m` locates the
    module to run (importing its parent package), `argv[0]` is `"-m"`.
    """
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return name in ("keras-tdplus", "keras-tdplus.exe", "keras-tdplus-script.py", "-m")


def import_keras():
    """Imports Keras; a backend that is not installed becomes an `ImportError` saying
    which backend was asked for, by what, which are installed, and the fix.

    When the backend is missing, Keras is imported with `KERAS_HOME` pointed at a
    temporary folder, only to chain its own error: its first import would
    otherwise write a `keras.json` into the user's home.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    backend, source = configured()
    if backend not in BACKENDS or backend in installed():
        import keras

        return keras
    message = missing_backend_message(backend, source)
    saved = os.environ.get("KERAS_HOME")
    with tempfile.TemporaryDirectory(prefix="keras-tdplus-keras-home-") as home:
        os.environ["KERAS_HOME"] = home
        try:
            import keras
        except ImportError as error:
            raise ImportError(message) from error
        finally:
            if saved is None:
                del os.environ["KERAS_HOME"]
            else:
                os.environ["KERAS_HOME"] = saved
    return keras


def choose_for_cli():
    """Prepares the environment of the command line before Keras is imported.

    When no `keras.json` exists, points `KERAS_HOME` at a temporary folder
    (removed at exit) so Keras' first import writes nothing in the user's home.
    When no backend is configured, sets `KERAS_BACKEND` to the first installed
    one of `BACKENDS`.

    Returns:
        A line for the user saying which backend was picked and why, or `None`
        when the user's own configuration decides (or Keras is already loaded).

    Raises:
        ImportError: no backend is installed at all, or the one `KERAS_BACKEND`
            or `keras.json` names is not.
    """
    if "keras" in sys.modules:
        return None
    backend, source = configured()
    if not os.path.isfile(config_path()):
        home = tempfile.mkdtemp(prefix="keras-tdplus-keras-home-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["KERAS_HOME"] = home
    if source is not None:
        if backend in BACKENDS and backend not in installed():
            raise ImportError(missing_backend_message(backend, source))
        return None
    available = installed()
    if not available:
        raise ImportError(missing_backend_message(backend, source))
    os.environ["KERAS_BACKEND"] = available[0]
    return (
        f"keras-tdplus: using the {available[0]} backend (KERAS_BACKEND is not set and "
        f"no keras.json exists; installed: {', '.join(available)}). "
        "Set KERAS_BACKEND to choose."
    )
