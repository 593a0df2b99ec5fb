"""The one reader of model files: the config of a `.keras` archive, without its weights.

Every way a saved model comes in (`keras-tdplus check`, `keras-tdplus params`,
`param_table(path)`) reads it here, so a file is judged the same way by all.
"""

import json
import os
import zipfile
import zlib


class UnreadableModelFile(ValueError):
    """A model file that cannot be read; the message names the file and says why."""

    def __init__(self, path, reason):
        super().__init__(f"cannot read {path!r}: {reason}")
        self.path = path
        self.reason = reason


class MissingModelFile(UnreadableModelFile, FileNotFoundError):
    """There is no file at the path given."""


def read_model_file(path):
    """The saved-model dict inside a `.keras` file (`class_name`, `config`, ...).

    Args:
        path: Path to a `.keras` file.

    Returns:
        The parsed `config.json`, a dict whose `"config"` is a dict.

    Raises:
        MissingModelFile: There is no file at `path` (a `FileNotFoundError`).
        UnreadableModelFile: The file is not a readable `.keras` archive (a `ValueError`).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingModelFile(path, "no such file")
    if os.path.isdir(path):
        raise UnreadableModelFile(path, "it is a folder, not a .keras file")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read("config.json")
    except zipfile.BadZipFile:
        raise UnreadableModelFile(
            path, "not a .keras file (not a zip archive, or truncated)"
        ) from None
    except KeyError:
        raise UnreadableModelFile(
            path, "it has no config.json, so it is not a Keras 3 .keras file"
        ) from None
    except (OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as error:
        raise UnreadableModelFile(path, str(error)) from None
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnreadableModelFile(path, "its config.json is not valid JSON") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise UnreadableModelFile(path, "its config.json does not describe a model")
    return config
