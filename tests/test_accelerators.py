"""benchmarks/accelerators.py stops cleanly without accelerators and runs its data-parallel part.

Smoke tests: no timing is asserted. The script runs as a user runs it, in a process of
its own (on PyTorch it spawns its DDP processes from there).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accelerators.py"


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300
    )
    return done.returncode, done.stdout, done.stderr


def _has_accelerator():
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return any(d.platform != "cpu" for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    import torch

    return torch.cuda.is_available()


def test_without_accelerators_it_says_so_and_exits_0():
    if _has_accelerator():
        pytest.skip("this machine has an accelerator: the script measures instead of stopping")
    code, stdout, stderr = _run()
    assert code == 0, stderr[-3000:]
    assert stdout.strip() == (
        f"No GPU or TPU visible to the {keras.config.backend()} backend: nothing to measure "
        "here. Run this on a machine with accelerators, or pass --cpu to try it."
    )


@pytest.mark.multiprocess
@pytest.mark.xdist_group("multiprocess")  # its free port must not race test_multiprocess's
def test_data_parallel_part_runs_on_the_cpu():
    code, stdout, stderr = _run(
        "--cpu", "--timesteps", "3", "--repeats", "1", "--batch", "2", "--skip-benchmark"
    )
    assert code == 0, stderr[-3000:]
    rows = [line.split(" | ") for line in stdout.splitlines() if line.startswith("| 3 |")]
    # One device, then all of them on PyTorch (two processes) with twice the global batch.
    devices = 2 if keras.config.backend() == "torch" else 1
    expected = [("1", "2")] + ([(str(devices), str(2 * devices))] if devices > 1 else [])
    assert [(row[1], row[2]) for row in rows] == expected
    for row in rows:
        assert re.fullmatch(r"[\d.]+ m?s", row[3]), row
        assert float(row[4]) > 0
