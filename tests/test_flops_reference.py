"""The FLOPs references, checked against what they were measured from and measured again.

`tests/golden/flops_reference.json` holds torch's `FlopCounterMode` figures for
one forward pass of every model of `tests/_flops_cases.py`,
`flops_training_reference.json` for one training step of each, and
`flops_valid_steps_reference.json` those of the `skip_masked_steps` models on
padded batches; measuring all of them (the keras.applications models among
them) takes minutes. So each run:
- recomputes the hash of the references' inputs (the generator, the cases'
  modules, the lists of cases, the torch and keras versions) and fails, saying
  how to regenerate, when it differs from `flops_reference_inputs.json`;
- measures a fixed sample of models, one or two of each family, again, a
  forward pass (`count_flops` must equal the file for them too) and a training
  step, and one padded-batch model.
`TDPLUS_FULL_SWEEP=1` (`tox -e sweep-torch`) measures every model.
`tests/test_flops.py` checks the calculator against every forward figure once
(a backend-independent test), from models and from `.keras` files."""

import importlib.util
import json
import os
import warnings
from pathlib import Path

import keras
import pytest
from _flops_cases import (
    BATCH,
    FLOPS_CASES,
    TRAINING_DRAWN,
    VALID_STEPS_CASES,
    reference_flops,
    reference_training_flops,
    reference_valid_steps,
)
from keras import layers

from keras_tdplus import count_flops

pytestmark = pytest.mark.backend("torch")

GOLDEN = Path(__file__).resolve().parent / "golden"
_REFERENCE = json.loads((GOLDEN / "flops_reference.json").read_text())
_TRAINING = json.loads((GOLDEN / "flops_training_reference.json").read_text())
_VALID_STEPS = json.loads((GOLDEN / "flops_valid_steps_reference.json").read_text())
REGENERATE = "KERAS_BACKEND=torch python tests/golden/make_flops_reference.py"

# Measured every run, a forward pass and a training step: each family, the reference's
# adjustments (an unrolled recurrent loop, a masked LSTM, the CPU attention kernel and
# its backward, a grouped convolution's weight gradient, AugMix's seeded draw) and our
# own layers.
SAMPLE = (
    "applications/MobileNetV3Small",
    "attention/MultiHeadAttention-cross",
    "attention/transformer-block",
    "echo/many_to_many_tdplus",
    "functional/ops.matmul",
    "functional/shared-layer",
    "layers/Conv2D-0",
    "layers/AugMix-0",
    "layers/RandomRotation-0",
    "layers/SpectralNormalization-0",
    "layers/Dense-0",
    "layers/DepthwiseConv2D-0",
    "layers/EinsumDense-0",
    "ours/TimeDistributed-skip_masked_steps",
    "ours/frame-encoder",
    "recurrent/LSTM-masked",
    "recurrent/GRU-reset_before",
    "stock_time_distributed/nested-model",
)
# The padded-batch model measured every run: an LSTM over each sentence's words, skipped
# for padded sentences.
VALID_STEPS_SAMPLE = "document"
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
        f"); regenerate it with `{REGENERATE}` and commit the four files"
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


def test_the_training_reference_has_a_figure_for_every_forward_one():
    assert set(_TRAINING) == set(_REFERENCE)


def test_the_valid_steps_reference_has_a_figure_for_every_padded_batch_model():
    assert set(_VALID_STEPS) == set(VALID_STEPS_CASES)


@pytest.mark.parametrize(("family", "case"), list(_params()))
def test_torch_measures_what_the_reference_file_says_and_so_does_count_flops(family, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, shapes = FLOPS_CASES[family][case]()
    measured = reference_flops(model, shapes)
    assert (measured, count_flops(model)) == (_REFERENCE[f"{family}/{case}"],) * 2


@pytest.mark.parametrize(("family", "case"), list(_params()))
def test_torch_measures_a_training_step_as_the_training_file_says(family, case):
    key = f"{family}/{case}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, shapes = FLOPS_CASES[family][case]()
    assert reference_training_flops(model, shapes) == _TRAINING[key]
    if key not in TRAINING_DRAWN:
        assert count_flops(model, training=True) == _TRAINING[key]


@pytest.mark.parametrize("case", sorted(VALID_STEPS_CASES) if FULL_SWEEP else [VALID_STEPS_SAMPLE])
def test_torch_measures_a_padded_batch_as_the_valid_steps_file_says(case):
    model, shapes, valid_steps = VALID_STEPS_CASES[case]()
    assert reference_valid_steps(model, shapes, valid_steps) == _VALID_STEPS[case]
    counted = count_flops(model, valid_steps=valid_steps, training=True)
    assert counted == _VALID_STEPS[case]["training"]


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
