"""The version is written once, in keras_tdplus/__init__.py, and the metadata agrees."""

import importlib.metadata
import re
from pathlib import Path

import pytest

import keras_tdplus

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_defined_once_and_the_installed_metadata_agrees():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.MULTILINE)
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_tdplus.__version__)
    assert importlib.metadata.version("keras-tdplus") == keras_tdplus.__version__


def _tox_env_list():
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    return _expand(re.search(r"^env_list = (.*)$", tox, re.MULTILINE).group(1))


def _expand(line):
    """tox's `a, py3-{x,y}` as `["a", "py3-x", "py3-y"]`."""
    envs = []
    for item in (part.strip() for part in re.split(r",(?![^{]*\})", line)):
        match = re.fullmatch(r"(.*)\{(.*)\}(.*)", item)
        if match:
            envs += [f"{match[1]}{factor}{match[3]}" for factor in match[2].split(",")]
        else:
            envs.append(item)
    return envs


def _matrix(workflow):
    text = (ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8")
    return re.findall(r"^          - ([\w-]+)$", text, re.M)


def test_ci_workflow_runs_every_tox_env():
    assert _matrix("ci.yml") == _tox_env_list()


def test_the_scheduled_workflow_runs_every_sweep_env():
    tox = (ROOT / "tox.ini").read_text(encoding="utf-8")
    (sweeps,) = re.findall(r"^\[testenv:(sweep-\{[^}]*\})\]$", tox, re.M)
    assert (
        _matrix("sweep.yml")
        == _expand(sweeps)
        == [
            "sweep-tensorflow",
            "sweep-jax",
            "sweep-torch",
        ]
    )
