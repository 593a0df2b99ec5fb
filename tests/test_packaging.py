"""The version is written once, in keras_tdplus/__init__.py, and the metadata agrees."""

import importlib.metadata
import re
from pathlib import Path

import keras_tdplus

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_defined_once_and_the_installed_metadata_agrees():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.MULTILINE)
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_tdplus.__version__)
    assert importlib.metadata.version("keras-tdplus") == keras_tdplus.__version__
