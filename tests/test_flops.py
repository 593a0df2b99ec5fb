"""`count_flops` equals torch's `FlopCounterMode`, family by family, from a model and its file.

The reference figures are in `tests/golden/flops_reference.json`, measured on
the torch backend (see `tests/_flops_cases.py`); `tests/test_flops_reference.py`
checks them in the torch env (a hash of their inputs, a sample measured again). The calculator
reads configs, never tensors: it is checked here once (a backend-independent test), both
from the model and from its `.keras` file.
"""

import json
import warnings
import zipfile
from pathlib import Path

import keras
import pytest
from _flops_cases import FLOPS_CASES, TRAINING_DRAWN, VALID_STEPS_CASES

from keras_tdplus import count_flops, explain_flops

pytestmark = pytest.mark.backend_independent

_GOLDEN = Path(__file__).resolve().parent / "golden"
_REFERENCE = json.loads((_GOLDEN / "flops_reference.json").read_text())
_TRAINING = json.loads((_GOLDEN / "flops_training_reference.json").read_text())
_VALID_STEPS = json.loads((_GOLDEN / "flops_valid_steps_reference.json").read_text())


def _cases(family):
    marks = [pytest.mark.slow] if family == "applications" else []
    return [
        pytest.param(family, case, id=f"{family}/{case}", marks=marks)
        for case in FLOPS_CASES[family]
    ]


def test_every_case_has_a_reference_and_every_reference_a_case():
    cases = {f"{family}/{case}" for family in FLOPS_CASES for case in FLOPS_CASES[family]}
    assert cases == set(_REFERENCE) == set(_TRAINING)
    assert set(VALID_STEPS_CASES) == set(_VALID_STEPS)


@pytest.mark.parametrize("case", sorted(VALID_STEPS_CASES))
def test_valid_steps_count_what_torch_runs_on_a_padded_batch(case):
    model, _, valid_steps = VALID_STEPS_CASES[case]()
    expected = _VALID_STEPS[case]
    assert valid_steps == expected["valid_steps"]
    forward = explain_flops(model, valid_steps=valid_steps)
    assert (forward.total, forward.padded) == (expected["forward"], expected["padded_forward"])
    assert count_flops(model, valid_steps=valid_steps, training=True) == expected["training"]


def _config_only_file(model, path):
    """A `.keras` archive of `model`'s config alone: what the calculator reads of any file."""
    config = keras.saving.serialize_keras_object(model)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("config.json", json.dumps(config))
    return path


def _count_both_ways(family, case, tmp_path):
    """The forward FLOPs from the model and from its file, and a training step's from the file.

    An application's forward pass is counted from the model alone: its file is read for the
    training step (the two counts read the same config, and each takes up to a second).
    """
    make = FLOPS_CASES[family][case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "applications":
            # Shapes, never values: building one would compile an initializer per shape.
            with keras.StatelessScope(initialize_variables=False):
                model, _ = make()
            path = _config_only_file(model, tmp_path / "model.keras")
        else:
            model, _ = make()
            path = tmp_path / "model.keras"
            model.save(path)
    from_model = count_flops(model)
    keras.backend.clear_session()
    key = f"{family}/{case}"
    if key in TRAINING_DRAWN:
        assert explain_flops(str(path), training=True).missing
        training = _TRAINING[key]
    else:
        training = count_flops(str(path), training=True)
    from_file = from_model if family == "applications" else count_flops(str(path))
    return from_model, from_file, training


def _expected(family, case):
    key = f"{family}/{case}"
    return (_REFERENCE[key], _REFERENCE[key], _TRAINING[key])


@pytest.mark.parametrize(
    ("family", "case"),
    [
        *_cases("layers"),
        *_cases("echo"),
        *_cases("ours"),
        *_cases("stock_time_distributed"),
        *_cases("functional"),
    ],
)
def test_layers_and_small_models_count_like_torch(family, case, tmp_path):
    assert _count_both_ways(family, case, tmp_path) == _expected(family, case)


@pytest.mark.parametrize(("family", "case"), _cases("recurrent"))
def test_recurrent_layers_count_each_step_like_torch(family, case, tmp_path):
    assert _count_both_ways(family, case, tmp_path) == _expected(family, case)


@pytest.mark.parametrize(("family", "case"), _cases("attention"))
def test_attention_counts_projections_and_products_like_torch(family, case, tmp_path):
    assert _count_both_ways(family, case, tmp_path) == _expected(family, case)


@pytest.mark.parametrize(("family", "case"), _cases("applications"))
def test_applications_count_like_torch(family, case, tmp_path):
    assert _count_both_ways(family, case, tmp_path) == _expected(family, case)
