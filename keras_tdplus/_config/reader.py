"""The one reader of model files: the config of a `.keras` archive, without its weights.

Every way a saved model comes in (`keras-tdplus check`, `keras-tdplus params`,
`param_table(path)`) reads it here, so a file is judged the same way by all.
A model file is treated as hostile: only a regular file is opened; the zip
directory is checked before anything is inflated, and `config.json` is read
with a cap on its inflated size; the JSON is checked for depth, size and
layer count before any of it is used; and a config that would make Keras open
another file or run code is refused (`screen`). Nothing else in
the archive, the weights included, is read.
"""

import json
import os
import stat
import struct
import zipfile
import zlib

from keras_tdplus._messages import short_repr

__all__ = ["MAX_CONFIG_BYTES", "UnreadableModelFile", "UnsafeConfig", "read_model_file", "screen"]

MAX_CONFIG_BYTES = 64 * 2**20
MAX_DEPTH = 100
MAX_LAYERS = 10_000
# Brackets in the JSON text; each becomes a Python object, so this bounds memory.
MAX_CONTAINERS = 2_000_000
# A `.keras` archive holds three entries; its directory takes a few hundred bytes.
_MAX_DIRECTORY_BYTES = 2**20
_MAX_ENTRIES = 1_000
_END_OF_DIRECTORY = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_MAX_COMMENT = 2**16 - 1
_FILE_KINDS = (
    (stat.S_ISDIR, "it is a folder, not a .keras file"),
    (stat.S_ISFIFO, "it is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
)


# Layers whose config names something outside it that Keras would load.
_LOADERS = {
    "TFSMLayer": "loads a TensorFlow SavedModel from a folder it names",
    "TorchModuleWrapper": "holds a pickled torch module, which unpickling would run",
}
# Config keys whose text value Keras (or keras-hub's tokenizers) reads as a path.
_PATH_KEYS = ("vocabulary", "filepath", "merges", "proto")


class UnsafeConfig(ValueError):
    """A config refused because rebuilding it would run code or open a file."""


class UnreadableModelFile(ValueError):
    """A model file that cannot be read or is refused; the message says which and why."""

    def __init__(self, path, reason):
        super().__init__(f"cannot read {path!r}: {reason}")
        self.path = path
        self.reason = reason


class MissingModelFile(UnreadableModelFile, FileNotFoundError):
    """There is no file at the path given."""


def read_model_file(path, *, max_config_bytes=None):
    """The saved-model dict inside a `.keras` file (`class_name`, `config`, ...).

    Args:
        path: Path to a `.keras` file.
        max_config_bytes: The largest `config.json` read, inflated; default
            64 MiB.

    Returns:
        The parsed `config.json`, a dict whose `"config"` is a dict.

    Raises:
        MissingModelFile: There is no file at `path` (a `FileNotFoundError`).
        UnreadableModelFile: The file is not a readable `.keras` archive, or it
            is refused (a `ValueError`); the message says why.
    """
    path = os.fspath(path)
    limit = MAX_CONFIG_BYTES if max_config_bytes is None else max_config_bytes
    raw = _read_config_bytes(path, limit)
    config = _parse(path, raw)
    try:
        screen(config)
    except UnsafeConfig as refusal:
        raise UnreadableModelFile(path, f"refused: {refusal}") from None
    return config


def _open_regular(path):
    """A binary file object on `path`, which must be a regular file (checked before opening)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MissingModelFile(path, "no such file") from None
    except OSError as error:
        raise UnreadableModelFile(path, error.strerror or str(error)) from None
    for is_kind, reason in _FILE_KINDS:
        if is_kind(info.st_mode):
            raise UnreadableModelFile(path, reason)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableModelFile(path, "it is not a regular file")
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, opening it
        # does not wait for a writer; the fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise UnreadableModelFile(path, error.strerror or str(error)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnreadableModelFile(path, "it is not a regular file")
    return os.fdopen(fd, "rb")


def _check_directory(path, file):
    """Refuses an archive whose zip directory is too large to be a `.keras` file's."""
    size = file.seek(0, os.SEEK_END)
    tail_size = min(size, _END_RECORD_SIZE + _MAX_COMMENT)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < _END_RECORD_SIZE:
        raise UnreadableModelFile(path, "not a .keras file (not a zip archive, or truncated)")
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries > _MAX_ENTRIES or directory_bytes > _MAX_DIRECTORY_BYTES:
        raise UnreadableModelFile(
            path,
            f"refused: its zip directory lists {entries} entries in {directory_bytes} bytes; "
            f"a .keras file has a few (at most {_MAX_ENTRIES} are read)",
        )
    file.seek(0)


def _read_config_bytes(path, limit):
    with _open_regular(path) as file:
        _check_directory(path, file)
        try:
            with zipfile.ZipFile(file) as archive:
                try:
                    info = archive.getinfo("config.json")
                except KeyError:
                    raise UnreadableModelFile(
                        path, "it has no config.json, so it is not a Keras 3 .keras file"
                    ) from None
                if info.flag_bits & 0x1:
                    raise UnreadableModelFile(
                        path, "refused: its config.json is encrypted; a .keras file never is"
                    )
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise UnreadableModelFile(
                        path,
                        f"refused: its config.json uses zip compression method "
                        f"{info.compress_type}; a .keras file uses 0 (stored) or 8 (deflated)",
                    )
                too_large = (
                    f"refused: its config.json inflates to more than {limit} bytes "
                    "(the limit; see --max-config-mb)"
                )
                if info.file_size > limit:
                    raise UnreadableModelFile(path, too_large)
                with archive.open(info) as member:
                    # The directory's size may lie; the read stops at the limit regardless.
                    raw = member.read(limit + 1)
                if len(raw) > limit:
                    raise UnreadableModelFile(path, too_large)
                return raw
        except zipfile.BadZipFile:
            raise UnreadableModelFile(
                path, "not a .keras file (not a zip archive, or truncated)"
            ) from None
        except (OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as error:
            raise UnreadableModelFile(
                path, f"its config.json cannot be inflated: {error}"
            ) from None


def _parse(path, raw):
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_CONTAINERS:
        raise UnreadableModelFile(
            path,
            f"refused: its config.json holds {containers} JSON objects and arrays "
            f"(at most {MAX_CONTAINERS} are read)",
        )
    try:
        config = json.loads(raw)
    except RecursionError:
        raise UnreadableModelFile(
            path, f"refused: its config.json nests deeper than {MAX_DEPTH} levels"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnreadableModelFile(path, "its config.json is not valid JSON") from None
    except ValueError as error:
        # Integers of more than 4300 digits, for one.
        raise UnreadableModelFile(path, f"its config.json is not usable JSON: {error}") from None
    depth, layers = _measure(config)
    if depth > MAX_DEPTH:
        raise UnreadableModelFile(
            path, f"refused: its config.json nests deeper than {MAX_DEPTH} levels"
        )
    if layers > MAX_LAYERS:
        raise UnreadableModelFile(
            path, f"refused: its config.json lists {layers} layers (at most {MAX_LAYERS})"
        )
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise UnreadableModelFile(path, "its config.json does not describe a model")
    return config


def _measure(config):
    """`(depth, layer entries)` of a parsed JSON value, without recursion."""
    depth = layers = 0
    stack = [(config, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            depth = max(depth, level)
            if depth > MAX_DEPTH:
                break
            if isinstance(value.get("layers"), list):
                layers += len(value["layers"])
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            depth = max(depth, level)
            if depth > MAX_DEPTH:
                break
            stack.extend((v, level + 1) for v in value)
    return depth, layers


def screen(config):
    """Raises `UnsafeConfig` when any part of `config` would run code or open a file.

    It refuses, before Keras sees them, a serialized Python lambda and a config
    that names something outside it for Keras to load: a lookup layer's
    vocabulary file, a SavedModel folder, a pickled torch module. This holds
    whether or not Keras' own safe mode is on
    (`keras.config.enable_unsafe_deserialization()` turns it off for the whole
    process).
    """
    stack = [(config, None)]
    while stack:
        value, owner = stack.pop()
        if isinstance(value, list):
            stack.extend((item, owner) for item in value)
            continue
        if not isinstance(value, dict):
            continue
        class_name = value.get("class_name")
        inner = value.get("config")
        if isinstance(class_name, str) and isinstance(inner, dict) and class_name[:2] != "__":
            owner = _describe(class_name, inner)
        if class_name == "__lambda__":
            raise UnsafeConfig(
                f"{owner or 'the config'} holds Python bytecode (a serialized lambda), "
                "which is never run"
            )
        if class_name in _LOADERS and isinstance(inner, dict):
            raise UnsafeConfig(f"{owner} {_LOADERS[class_name]}; it is never loaded")
        for key in _PATH_KEYS:
            if isinstance(value.get(key), str):
                raise UnsafeConfig(
                    f"{owner or 'the config'} names a file outside the model, "
                    f"{key}={short_repr(value[key], 80)}; it is never opened"
                )
        stack.extend((v, owner) for v in value.values())


def _describe(class_name, config):
    shown = (
        class_name
        if class_name.isidentifier() and len(class_name) <= 80
        else short_repr(class_name, 80)
    )
    name = config.get("name")
    if isinstance(name, str):
        return f"layer {short_repr(name, 80)} ({shown})"
    return f"class {shown}"
