"""benchmarks/accelerators.py stops cleanly without accelerators and runs its data-parallel part.

Smoke tests: no timing is asserted. The script runs as a user runs it, in a process of
its own (on PyTorch it spawns its DDP processes from there).
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import keras
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accelerators.py"
TIMEOUT_S = 300


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGABRT makes the script and its DDP workers print where they hang, then die.
        os.killpg(process.pid, signal.SIGABRT)
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(
            f"timed out after {TIMEOUT_S} s; where it hung:\n{stdout[-2000:]}\n{stderr[-6000:]}"
        )
    return process.returncode, stdout, stderr


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
@pytest.mark.xdist_group("multiprocess")  # two DDP processes: not beside test_multiprocess's
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
