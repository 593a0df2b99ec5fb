"""Backend choice: the command line with nothing configured, and a backend that is missing.

Each case runs Python in a subprocess with a fresh, empty HOME and no KERAS_BACKEND,
so Keras starts as on a new user's machine, and the test sees what it writes there.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("jax", "torch", "tensorflow")
INSTALLED = [name for name in BACKENDS if importlib.util.find_spec(name) is not None]
MISSING = [name for name in BACKENDS if name not in INSTALLED]


def _run(tmp_path, args, backend=None):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KERAS_BACKEND", "KERAS_HOME", "TDPLUS_EXPECT_BACKEND")
    }
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.backend_independent
def test_help_imports_no_backend_and_writes_nothing(tmp_path):
    done = _run(tmp_path, ["-X", "importtime", "-m", "keras_tdplus", "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: keras-tdplus")
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "keras_tdplus" in imported
    assert not imported & {"keras", *BACKENDS}
    assert not (tmp_path / ".keras").exists()


def test_command_line_picks_an_installed_backend_and_says_so(tmp_path):
    done = _run(
        tmp_path, ["-m", "keras_tdplus", "echo", "--experiment", "many_to_one", "--epochs", "1"]
    )
    assert done.returncode == 0, done.stderr
    picked = INSTALLED[0]
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"keras-tdplus: using the {picked} backend (KERAS_BACKEND is not set")
    assert f"backend: {picked}" in done.stdout
    assert "=== many_to_one" in done.stdout
    assert not (tmp_path / ".keras").exists()


def test_command_line_follows_the_users_keras_json_and_leaves_it_alone(tmp_path):
    config = tmp_path / ".keras" / "keras.json"
    config.parent.mkdir()
    text = json.dumps({"backend": INSTALLED[-1], "floatx": "float32"})
    config.write_text(text)
    done = _run(
        tmp_path, ["-m", "keras_tdplus", "echo", "--experiment", "many_to_one", "--epochs", "0"]
    )
    assert done.returncode == 0, done.stderr
    assert "using the" not in done.stderr
    assert f"backend: {INSTALLED[-1]}" in done.stdout
    assert config.read_text() == text


def test_command_line_with_keras_backend_set_writes_no_keras_json(tmp_path):
    done = _run(
        tmp_path,
        ["-m", "keras_tdplus", "params", "LSTM", "--units", "5", "--input-shape", "1,1"],
        backend=INSTALLED[0],
    )
    assert done.returncode == 0, done.stderr
    assert "140" in done.stdout
    assert "using the" not in done.stderr
    assert not (tmp_path / ".keras").exists()


@pytest.mark.skipif(not MISSING, reason="every backend is installed in this env")
def test_import_under_a_missing_backend_names_keras_backend_and_the_installed_ones(tmp_path):
    code = (
        "try:\n"
        "    import keras_tdplus\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, type(error.__cause__).__name__)\n"
        "    print(error)\n"
    )
    done = _run(tmp_path, ["-c", code], backend=MISSING[0])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ImportError ModuleNotFoundError"
    assert f"Keras cannot load its backend '{MISSING[0]}' (set by KERAS_BACKEND=" in lines[1]
    assert f"Received: KERAS_BACKEND='{MISSING[0]}'" in lines
    assert f"Installed backends: {', '.join(INSTALLED)}" in lines
    assert lines[-1].startswith(
        f"Fix: set KERAS_BACKEND to an installed backend, e.g. KERAS_BACKEND={INSTALLED[0]}"
    )
    assert not (tmp_path / ".keras").exists()


@pytest.mark.skipif(not MISSING, reason="every backend is installed in this env")
@pytest.mark.parametrize("command", [["echo", "--epochs", "0"], ["params", "LSTM", "--units", "5"]])
def test_command_line_under_a_missing_backend_says_so_in_one_line(tmp_path, command):
    done = _run(tmp_path, ["-m", "keras_tdplus", *command], backend=MISSING[0])
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"keras_tdplus: Keras cannot load its backend '{MISSING[0]}' (set by KERAS_BACKEND="
    )
    assert line.endswith(f"or install this one: pip install 'keras-tdplus[{MISSING[0]}]'")
    assert f"KERAS_BACKEND={INSTALLED[0]}" in line
    assert not (tmp_path / ".keras").exists()


@pytest.mark.backend("jax", "torch")
@pytest.mark.skipif("tensorflow" in INSTALLED, reason="Keras' default backend is installed")
def test_import_with_nothing_configured_says_keras_defaults_to_tensorflow(tmp_path):
    code = "import keras_tdplus"
    done = _run(tmp_path, ["-c", code])
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()
    assert any(
        "backend 'tensorflow' (Keras' default: KERAS_BACKEND is not set" in line for line in message
    )
    assert "Received: KERAS_BACKEND=None" in message
    assert not (tmp_path / ".keras").exists()
