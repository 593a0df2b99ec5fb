"""The FLOPs reference, measured again: torch's `FlopCounterMode` on the torch backend.

Every figure of `tests/golden/flops_reference.json` is measured here around a
forward pass (see `tests/_flops_cases.py`) and must equal the file, and
`count_flops` must equal it too; `tests/test_flops.py` checks the calculator
against the same file in the jax env, from models and from `.keras` files.
"""

import json
import warnings
from pathlib import Path

import keras
import pytest
from _flops_cases import BATCH, FLOPS_CASES, reference_flops
from keras import layers

from keras_tdplus import count_flops

pytestmark = pytest.mark.backend("torch")

_REFERENCE = json.loads(
    (Path(__file__).resolve().parent / "golden" / "flops_reference.json").read_text()
)


def _params():
    for family, cases in FLOPS_CASES.items():
        marks = [pytest.mark.slow] if family == "applications" else []
        for case in cases:
            yield pytest.param(family, case, id=f"{family}/{case}", marks=marks)


@pytest.mark.parametrize(("family", "case"), list(_params()))
def test_torch_measures_what_the_reference_file_says_and_so_does_count_flops(family, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, shapes = FLOPS_CASES[family][case]()
    measured = reference_flops(model, shapes)
    assert (measured, count_flops(model)) == (_REFERENCE[f"{family}/{case}"],) * 2


def _stacked(steps):
    cells = [layers.LSTMCell(4), layers.GRUCell(3)]
    inputs = keras.Input((steps, 2), batch_size=BATCH)
    model = keras.Model(inputs, layers.RNN(cells)(inputs))
    return model, [(BATCH, steps, 2)]


def test_keras_runs_stacked_cells_one_step_more_than_the_model_computes():
    """Keras' RNN calls every cell of a StackedRNNCells once before its loop.

    It does so to set the cells' dropout masks (`RNN._maybe_config_dropout_masks`),
    on every backend, and throws the result away. `count_flops` counts the
    model's own `time` steps: torch's counter is one step more, at any length.
    """
    measured = {steps: reference_flops(*_stacked(steps)) for steps in (3, 5)}
    counted = {steps: count_flops(_stacked(steps)[0]) for steps in (1, 3, 5)}
    assert measured[5] - measured[3] == counted[5] - counted[3]
    assert measured[3] - counted[3] == counted[1] > 0
