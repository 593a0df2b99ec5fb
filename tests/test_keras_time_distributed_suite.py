"""Keras' own TimeDistributed tests, run against keras_tdplus.TimeDistributed.

The installed Keras ships `keras/src/layers/rnn/time_distributed_test.py`. Its
source is loaded as a module of its own, the `layers` it sees is swapped for a
copy whose `TimeDistributed` is ours, and each of its test methods runs here.
Nothing is copied: a newer Keras brings its newer tests. From 3.16 Keras' wheel
and sdist ship no test files; there the module is skipped, saying so.
"""

import importlib.util
import types
import unittest
from pathlib import Path

import keras
import pytest
from _keras_version import keras_at_least

import keras_tdplus

_SOURCE = Path(keras.__file__).parent / "src" / "layers" / "rnn" / "time_distributed_test.py"
if not _SOURCE.is_file() and keras_at_least(3, 16):
    pytest.skip(
        f"Keras {keras.__version__} ships no test files (none from 3.16 on): its "
        "time_distributed_test.py runs here where the installed Keras has it",
        allow_module_level=True,
    )


def _suite_module():
    spec = importlib.util.spec_from_file_location("_keras_time_distributed_test", _SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stock_layers = module.layers
    swapped = types.SimpleNamespace(
        **{name: getattr(stock_layers, name) for name in dir(stock_layers)}
    )
    swapped.TimeDistributed = keras_tdplus.TimeDistributed
    module.layers = swapped
    return module


# Held in a namespace, not as a module global, so pytest does not collect the
# stock TestCase a second time under its own name.
_SUITE = types.SimpleNamespace(module=_suite_module())
_NAMES = unittest.TestLoader().getTestCaseNames(_SUITE.module.TimeDistributedTest)


@pytest.mark.backend_independent
def test_the_suite_is_the_installed_one_and_complete():
    assert _SOURCE.is_file()
    assert len(_NAMES) == 11
    assert _SUITE.module.layers.TimeDistributed is keras_tdplus.TimeDistributed


@pytest.mark.parametrize("name", _NAMES)
def test_keras_time_distributed_suite(name):
    result = unittest.TestResult()
    _SUITE.module.TimeDistributedTest(name).run(result)
    problems = result.errors + result.failures
    assert not problems, problems[0][1]
    assert result.testsRun == 1 and not result.skipped
