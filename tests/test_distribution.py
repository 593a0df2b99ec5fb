"""Keras' distribution APIs train models holding TimeDistributedDense, and
a TimeDistributed with skip_masked_steps whose replicas pack their own shards.

Each run is a subprocess (tests/_distributed_runs.py), because the device
flags must be set before the backend starts: four XLA host devices for JAX,
two logical CPUs for TensorFlow's MirroredStrategy.
"""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "_distributed_runs.py")

# Losses of the data-parallel and single-device runs agree to float32 rounding
# of a mean over 4 (or 2) shards: measured gaps are below 1e-7 relative.
LOSS_RTOL = 1e-5


# The runs are cached, so the tests of one run share its process: one worker.
pytestmark = pytest.mark.xdist_group("distribution")


@functools.cache
def _run(name):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, SCRIPT, name], capture_output=True, text=True, env=env, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.backend("jax")
def test_jax_data_parallel_matches_one_device():
    result = _run("jax-data-parallel")
    assert result["devices"] == 4
    np.testing.assert_allclose(result["parallel"], result["single"], rtol=LOSS_RTOL)
    assert result["single"][-1] < result["single"][0] / 5


@pytest.mark.backend("jax")
def test_jax_model_parallel_shards_the_kernel_along_units():
    result = _run("jax-model-parallel")
    assert result["spec"] == ["None", "model"]
    assert result["kernel_shape"] == [8, 4]
    assert result["shard_shapes"] == [[8, 2]]
    assert result["max_gap"] <= 1e-6
    assert result["losses"][-1] < result["losses"][0]


@pytest.mark.backend("tensorflow")
def test_tf_mirrored_strategy_over_two_cpus_matches_one_device():
    result = _run("tf-mirrored")
    assert result["replicas"] == 2
    np.testing.assert_allclose(result["parallel"], result["single"], rtol=LOSS_RTOL)
    assert result["single"][-1] < result["single"][0] / 5


@pytest.mark.backend("jax")
def test_skip_masked_steps_under_data_parallel_matches_one_device():
    _check_masked(_run("jax-data-parallel")["masked"])


@pytest.mark.backend("tensorflow")
def test_skip_masked_steps_under_mirrored_strategy_matches_one_device():
    _check_masked(_run("tf-mirrored")["masked"])


def _check_masked(result):
    """Packing on one device and on several trains and predicts like not packing."""
    reference = result["single_all_steps"]
    for name in ("single", "parallel"):
        np.testing.assert_allclose(result[name]["losses"], reference["losses"], rtol=LOSS_RTOL)
        np.testing.assert_allclose(
            result[name]["predictions"], reference["predictions"], rtol=1e-5, atol=1e-6
        )
    assert reference["losses"][-1] < reference["losses"][0]
