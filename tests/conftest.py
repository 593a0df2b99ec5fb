"""Shared fixtures; fails loudly when the backend is not the one tox asked for."""

import os

import keras
import pytest
from hypothesis import settings

# CI runs the same examples every time, so a red build is reproducible and a green
# one is not luck; a run on a laptop keeps exploring new examples. Tests that set
# `max_examples` keep their own budget; the profile's applies to the rest.
settings.register_profile("ci", derandomize=True, max_examples=100, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend(name): runs only in the test env of that backend (others deselect it)"
    )
    config.addinivalue_line(
        "markers", "cross_backend: needs all three backends; runs only in `tox -e cross-backend`"
    )
    config.addinivalue_line(
        "markers", "export: needs the exporters (onnx, LiteRT, ...); runs only in `tox -e export`"
    )
    config.addinivalue_line(
        "markers",
        "multiprocess: starts two processes on 127.0.0.1 that train together "
        "(select with `-m multiprocess`, leave out with `-m 'not multiprocess'`)",
    )


def pytest_collection_modifyitems(config, items):
    """Deselect, not skip, tests written for another backend's env."""
    backend = keras.config.backend()
    cross_backend_env = os.environ.get("TDPLUS_CROSS_BACKEND") == "1"
    export_env = os.environ.get("TDPLUS_EXPORT") == "1"
    site_env = bool(os.environ.get("TDPLUS_SITE_DIR"))
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        wrong_backend = marker is not None and backend not in marker.args
        is_cross = item.get_closest_marker("cross_backend") is not None
        is_export = item.get_closest_marker("export") is not None
        is_site = item.get_closest_marker("docs_site") is not None
        other_env = is_cross != cross_backend_env or is_export != export_env or is_site != site_env
        (drop if wrong_backend or other_env else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
