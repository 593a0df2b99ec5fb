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
    # Without Keras' full garbage collection: it walks the whole heap of three frameworks
    # (0.2 s at the start of a run, 0.8 s late in one), more than most tests take. Python's
    # own collector still frees what the tests leave behind.
    keras.backend.clear_session(free_memory=False)
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1337)
    yield
    keras.config.set_dtype_policy("float32")


# A test whose outcome cannot depend on the backend (config arithmetic, argument handling,
# file screening before Keras reads anything, docs text) carries `backend_independent` and
# runs in this backend's env only: run in the other two it could not fail differently.
# Such tests still run under whatever backend a plain `pytest` picks outside tox, and in the
# keras-nightly env (TDPLUS_NEW_KERAS): they read Keras' classes and configs, which a new
# Keras can change on any backend.
BACKEND_INDEPENDENT_ENV = "torch"
NEW_KERAS = bool(os.environ.get("TDPLUS_NEW_KERAS"))

# Tests that need an env of their own (all three backends, the exporters, the built docs),
# by marker, and the variable by which such an env says it runs them.
OWN_ENV_MARKERS = {
    "cross_backend": "TDPLUS_CROSS_BACKEND",
    "export": "TDPLUS_EXPORT",
    "docs_site": "TDPLUS_SITE_DIR",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend(name): runs only in the test env of that backend (others deselect it)"
    )
    config.addinivalue_line(
        "markers",
        "backend_independent: its outcome cannot depend on the backend; in tox it runs in the "
        f"py3-{BACKEND_INDEPENDENT_ENV} env only",
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


def _own_env(item):
    return next((name for name in OWN_ENV_MARKERS if item.get_closest_marker(name)), None)


def pytest_collection_modifyitems(config, items):
    """Deselect, not skip, tests written for another backend's env or another env."""
    backend = keras.config.backend()
    here = {name for name, variable in OWN_ENV_MARKERS.items() if os.environ.get(variable)}
    # Only a tox env names its backend; there the backend-independent tests run in one env.
    in_tox = bool(_EXPECTED)
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        wrong_backend = marker is not None and backend not in marker.args
        elsewhere = (
            in_tox
            and not NEW_KERAS
            and item.get_closest_marker("backend_independent") is not None
            and backend != BACKEND_INDEPENDENT_ENV
        )
        own_env = _own_env(item)
        other_env = own_env not in here if own_env else bool(here)
        (drop if wrong_backend or elsewhere or other_env else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
