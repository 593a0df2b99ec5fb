"""A `.keras` file saved under one backend predicts the same under the other two.

Runs in the `cross-backend` tox env, which installs all three backends; the
per-backend envs deselect it. One subprocess per backend saves, then one per
backend loads the other two files.
"""

import json
import os
import subprocess
import sys

import pytest

BACKENDS = ("tensorflow", "jax", "torch")
SCRIPT = os.path.join(os.path.dirname(__file__), "_cross_backend_runs.py")

pytestmark = pytest.mark.cross_backend


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_every_backend_loads_every_other_backends_file(tmp_path):
    for backend in BACKENDS:
        assert _run("save", backend, str(tmp_path)) == {"saved": backend}
    for loader in BACKENDS:
        others = [b for b in BACKENDS if b != loader]
        result = _run("load", loader, str(tmp_path), *others)
        assert result["loaded_by"] == loader
        assert set(result["gaps"]) == set(others)
        for saver, gap in result["gaps"].items():
            assert gap <= 1e-5, f"saved under {saver}, loaded under {loader}: gap {gap}"
