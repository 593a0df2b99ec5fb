"""The FLOPs reference, checked against what it was measured from and measured again.

`tests/golden/flops_reference.json` holds torch's `FlopCounterMode` figures for
every model of `tests/_flops_cases.py`; measuring all of them (the
keras.applications models among them) takes minutes. So each run:
- recomputes the hash of the reference's inputs (the generator, the cases'
  modules, the list of cases, the torch and keras versions) and fails, saying
  how to regenerate, when it differs from `flops_reference_inputs.json`;
- measures a fixed sample of models, one or two of each family, again, and
  `count_flops` must equal the file for them too.
`TDPLUS_FULL_SWEEP=1` (`tox -e sweep-torch`) measures every model.
`tests/test_flops.py` checks the calculator against every figure of the file
once (a backend-independent test), from models and from `.keras` files.
"""

import importlib.util
import json
import os
import warnings
from pathlib import Path

import keras
import pytest
from _flops_cases import BATCH, FLOPS_CASES, reference_flops
from keras import layers

from keras_tdplus import count_flops

pytestmark = pytest.mark.backend("torch")

GOLDEN = Path(__file__).resolve().parent / "golden"
_REFERENCE = json.loads((GOLDEN / "flops_reference.json").read_text())
REGENERATE = "KERAS_BACKEND=torch python tests/golden/make_flops_reference.py"

# Measured every run: each family, the reference's adjustments (an unrolled recurrent
# loop, a masked LSTM, the CPU attention kernel) and our own layers.
SAMPLE = (
    "applications/MobileNetV3Small",
    "attention/MultiHeadAttention-cross",
    "attention/transformer-block",
    "echo/many_to_many_tdplus",
    "functional/ops.matmul",
    "functional/shared-layer",
    "layers/Conv2D-0",
    "layers/Dense-0",
    "layers/EinsumDense-0",
    "ours/TimeDistributed-skip_masked_steps",
    "ours/frame-encoder",
    "recurrent/LSTM-masked",
    "recurrent/GRU-reset_before",
    "stock_time_distributed/nested-model",
)
FULL_SWEEP = os.environ.get("TDPLUS_FULL_SWEEP") == "1"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "_make_flops_reference", GOLDEN / "make_flops_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_was_measured_from_these_inputs():
    generator = _generator()
    stored = json.loads(generator.INPUTS.read_text())
    # The case list is in the hash; that each case has a figure and each figure a case,
    # tests/test_flops.py checks (in this env too).
    now = generator.inputs_fingerprint()
    changed = [key for key in now if now[key] != stored.get(key)]
    assert not changed, (
        f"the FLOPs reference was measured from other inputs ({', '.join(changed)} changed: "
        f"{ {key: stored.get(key) for key in changed} } -> { {key: now[key] for key in changed} }"
        f"); regenerate it with `{REGENERATE}` and commit both files"
    )


def _params():
    for family, cases in FLOPS_CASES.items():
        for case in cases:
            key = f"{family}/{case}"
            if FULL_SWEEP or key in SAMPLE:
                yield pytest.param(family, case, id=key)


def test_the_sample_names_cases_of_every_family():
    assert set(SAMPLE) <= set(_REFERENCE)
    assert {key.split("/")[0] for key in SAMPLE} == set(FLOPS_CASES)


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
