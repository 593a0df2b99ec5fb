"""Shared fixtures; fails loudly when the backend is not the one tox asked for."""

import os

import keras
import pytest

_EXPECTED = os.environ.get("TDPLUS_EXPECT_BACKEND")
if _EXPECTED and keras.config.backend() != _EXPECTED:
    raise pytest.UsageError(
        f"This test env asked for the `{_EXPECTED}` backend but Keras is running "
        f"`{keras.config.backend()}`. Check KERAS_BACKEND and ~/.keras/keras.json."
    )


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend: {keras.config.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from a clean session, float32 policy and pinned seeds."""
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1337)
    yield
    keras.config.set_dtype_policy("float32")
