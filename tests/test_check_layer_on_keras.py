"""`check_layer` on every public `keras.layers` class: Keras' own layers must pass.

Keras' layers are right by definition, so a FAIL here is a false failure of
`check_layer` that a user would also meet on a right layer of theirs. The
arguments and inputs are in `tests/_check_layer_cases.py`. Each class that
`keras_tdplus.TimeDistributed` folds (in place or into the batch) is checked
again inside it.

Per push every class runs the cheap checks on every backend; the expensive ones run on a
sample (see `_checks_for`). `TDPLUS_FULL_SWEEP=1` runs every check on every class: `tox -e
sweep-jax` (and `-tensorflow`, `-torch`), before closing a change to `check_layer`, the fold
rule or the wrapper, and in the scheduled workflow.
"""

import collections
import copy
import importlib.util
import os

import keras
import numpy as np
import pytest
from _check_layer_cases import CANNOT_RUN, CHECK_CASES, NEEDS_TENSORFLOW
from _keras_version import NEWER_LAYERS, keras_at_least, no_such_layer
from _layer_cases import exported_layer_classes

import keras_tdplus as tdp
from keras_tdplus.layers._fold_rule import PER_STEP, classify
from keras_tdplus.testing import CHECKS, check_layer

_EXPORTED = exported_layer_classes()
# The rows this Keras can run: all but those of classes newer than it.
_HERE = sorted(name for name in CHECK_CASES if name in _EXPORTED)


def _marks(name):
    marks = [pytest.mark.backend("tensorflow")] if name in NEEDS_TENSORFLOW else []
    if name not in _EXPORTED:
        marks.append(pytest.mark.skip(reason=no_such_layer(name)))
    return marks


def _params(names):
    return [pytest.param(name, id=name, marks=_marks(name)) for name in sorted(names)]


# A training step, a compiled predict, two mixed-precision calls and a `.keras` round trip:
# most of a class's time here (torch.compile alone takes 2-30 s a model on a 2-core CPU).
EXPENSIVE_CHECKS = (
    "training_step",
    "jit_compile",
    "mixed_float16",
    "bfloat16",
    "keras_file_round_trip",
)
FULL_SWEEP = os.environ.get("TDPLUS_FULL_SWEEP") == "1"
# Every sixth class of each family gets the expensive checks per push, from a different first
# class on each backend, so that the three backends share out half of the classes.
_STRIDE = 6
_FIRST = {"tensorflow": 0, "jax": 1, "torch": 2}
# torch.compile per push on these small classes of five families, sampled or not; the rest
# in the full sweep (the sample would compile about 27 models: 8 minutes on torch).
_TORCH_COMPILE_PER_PUSH = {"Dense", "LayerNormalization", "ReLU", "MaxPooling1D", "Embedding"}


def _family(cls):
    """The Keras family a class comes from: `keras.src.layers.<family>.<module>`."""
    parts = cls.__module__.split(".")
    return parts[3] if len(parts) > 4 else parts[-1]


def _sample(names):
    families = collections.defaultdict(list)
    for name in sorted(names):
        families[_family(_EXPORTED[name])].append(name)
    first = _FIRST.get(keras.config.backend(), 0)
    return {
        name for members in families.values() for name in members[first % len(members) :: _STRIDE]
    }


def _checks_for(name, checks, known, sampled):
    """Which of `checks` to run on class `name` here.

    All of them in the full sweep or where one must fail on this backend; per push the
    expensive ones for a sampled class only, and on torch the compiled check for the
    few classes of `_TORCH_COMPILE_PER_PUSH` only.
    """
    if FULL_SWEEP or known:
        return checks
    left_out = set() if name in sampled else set(EXPENSIVE_CHECKS)
    if keras.config.backend() == "torch":
        if name in _TORCH_COMPILE_PER_PUSH:
            left_out.discard("jit_compile")
        else:
            left_out.add("jit_compile")
    return tuple(check for check in checks if check not in left_out)


def _known_here(known_failures):
    """The known failures (check -> why) on this backend."""
    backend = keras.config.backend()
    return {check: why for check, (backends, why) in known_failures.items() if backend in backends}


@pytest.mark.backend_independent
def test_every_keras_layer_has_a_row():
    missing = sorted(set(_EXPORTED) - set(CHECK_CASES) - set(CANNOT_RUN))
    assert missing == [], f"keras.layers classes with no check_layer row: {missing}"
    assert not set(CHECK_CASES) & set(CANNOT_RUN)
    assert set(CHECK_CASES) | set(CANNOT_RUN) <= set(_EXPORTED) | set(NEWER_LAYERS)
    assert all(reason.strip() for reason in CANNOT_RUN.values())


@pytest.mark.parametrize("name", _params(CHECK_CASES))
def test_keras_layer_passes_check_layer(name):
    case = copy.deepcopy(CHECK_CASES[name])
    known = _known_here(case.pop("known_failures"))
    del case["wrapped_known_failures"]
    checks = _checks_for(name, CHECKS, known, _SAMPLE)
    report = check_layer(_EXPORTED[name], case.pop("init_kwargs"), checks=checks, **case)
    failed = {result.name for result in report.failures}
    assert failed == set(known), str(report)


def _folded():
    """The single-input classes `keras_tdplus.TimeDistributed` folds (in place or not)."""
    names = []
    for name in _HERE:
        case = CHECK_CASES[name]
        shape = case["input_data"].shape if "input_data" in case else case["input_shape"]
        if case.get("unpack_inputs") or not all(isinstance(d, int) for d in shape):
            continue
        if name in NEEDS_TENSORFLOW and importlib.util.find_spec("tensorflow") is None:
            continue  # cannot be made here; deselected in this env anyway
        layer = _EXPORTED[name](**copy.deepcopy(case["init_kwargs"]))
        if classify(layer).mode != PER_STEP:
            names.append(name)
    return names


_FOLDED = _folded()
_SAMPLE = _sample(_HERE)
_FOLDED_SAMPLE = _sample(_FOLDED)


# torch.compile (inductor) takes 2-30 s per model on a 2-core CPU: the wrapped sweep leaves
# it out on torch even in the full sweep (about 20 minutes) and compiles on jax and tensorflow.
_WRAPPED_CHECKS = {
    "torch": tuple(check for check in CHECKS if check != "jit_compile"),
}


@pytest.mark.parametrize("name", _params(_FOLDED))
def test_keras_layer_inside_time_distributed_passes_check_layer(name):
    case = copy.deepcopy(CHECK_CASES[name])
    known = _known_here(case["wrapped_known_failures"])
    steps = 3
    if "input_data" in case:  # text: the same strings at every step
        inputs = {"input_data": np.repeat(case["input_data"][:, None], steps, axis=1)}
    else:
        batch, *sample = case["input_shape"]
        inputs = {"input_shape": (batch, steps, *sample), "input_dtype": case.get("input_dtype")}
    report = check_layer(
        tdp.TimeDistributed,
        {"layer": _EXPORTED[name](**case["init_kwargs"])},
        **inputs,
        checks=_checks_for(
            name, _WRAPPED_CHECKS.get(keras.config.backend(), CHECKS), known, _FOLDED_SAMPLE
        ),
        expected_num_losses=case.get("expected_num_losses"),
    )
    failed = {result.name for result in report.failures}
    assert failed == set(known), str(report)


def test_the_expensive_checks_run_per_push_on_every_family():
    assert set(EXPENSIVE_CHECKS) <= set(CHECKS)
    for names, sample in ((_HERE, _SAMPLE), (_FOLDED, _FOLDED_SAMPLE)):
        families = {_family(_EXPORTED[name]) for name in names}
        assert {_family(_EXPORTED[name]) for name in sample} == families
        assert len(sample) < len(names) / 3, sorted(sample)
    compiled = {name for name in _HERE if "jit_compile" in _checks_for(name, CHECKS, {}, _SAMPLE)}
    if FULL_SWEEP:
        assert compiled == set(_HERE)
    elif keras.config.backend() == "torch":
        assert compiled == _TORCH_COMPILE_PER_PUSH
    else:
        assert compiled == _SAMPLE


@pytest.mark.backend_independent
def test_the_time_distributed_sweep_covers_the_folded_classes():
    assert len(_FOLDED) > 80, _FOLDED
    assert {"Dense", "Conv2D", "LSTM", "BatchNormalization", "EinsumDense"} <= set(_FOLDED)


# The known failures are Keras' own bugs: each shown here in plain Keras, so
# a row of known failures goes when Keras fixes the bug.

_IMAGES = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")


def test_keras_bug_category_encoding_predicts_float32_where_its_model_says_float16():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input((3,), dtype="int32")
        model = keras.Model(inputs, keras.layers.CategoryEncoding(10)(inputs))
    finally:
        keras.config.set_dtype_policy("float32")
    predicted = model.predict(np.array([[1, 2, 3]]), verbose=0)
    assert (model.output.dtype, predicted.dtype) == ("float16", np.float32)


def test_keras_bug_equalization_returns_its_input_so_no_model_holds_it():
    inputs = keras.Input((8, 8, 3))
    assert keras.layers.Equalization()(inputs) is inputs
    with pytest.raises(ValueError, match="cycle"):
        keras.Model(inputs, keras.layers.Equalization()(inputs))


def test_keras_bug_random_crop_returns_the_uncropped_image_at_inference():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.RandomCrop(4, 4)(inputs))
    assert model.output.shape == (None, 4, 4, 3)
    assert model.predict(_IMAGES, verbose=0).shape == (2, 8, 8, 3)


@pytest.mark.backend("jax")
def test_keras_bug_random_elastic_transform_cannot_be_trained_on_jax():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.RandomElasticTransform()(inputs))
    model.compile(optimizer="adam", loss="mse")
    # Keras up to 3.15 fails in its own code; 3.16's nightly reaches JAX, which cannot trace
    # the layer's data-dependent shape (a RuntimeError around it).
    failure = RuntimeError if keras_at_least(3, 16) else (AttributeError, TypeError)
    with pytest.raises(failure):
        model.fit(_IMAGES, _IMAGES, epochs=1, verbose=0)


@pytest.mark.backend("tensorflow")
def test_keras_bug_cut_mix_fails_on_bfloat16_images_on_tensorflow():
    layer = keras.layers.CutMix(dtype="mixed_bfloat16")
    with pytest.raises(ValueError, match="dtype float32 for Tensor with dtype bfloat16"):
        layer(_IMAGES)


@pytest.mark.backend("tensorflow")
def test_keras_bug_mix_up_cannot_be_jit_compiled_on_tensorflow():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.MixUp()(inputs))
    model.compile(jit_compile=True)
    with pytest.raises(Exception, match="StatelessRandomGamma"):
        model.predict(_IMAGES, verbose=0)


def test_stft_spectrogram_refuses_bfloat16_input():
    layer = keras.layers.STFTSpectrogram(frame_length=16, dtype="mixed_bfloat16")
    with pytest.raises(TypeError, match="bfloat16"):
        layer(np.ones((2, 100, 1), "float32"))


@pytest.mark.backend_independent
def test_every_known_failure_has_a_plain_keras_test():
    shown = {"CategoryEncoding", "Equalization", "RandomCrop", "RandomElasticTransform"}
    shown |= {"CutMix", "MixUp", "STFTSpectrogram"}
    assert {name for name, case in CHECK_CASES.items() if case["known_failures"]} == shown
