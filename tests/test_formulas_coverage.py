"""Every layer class keras.layers exports has a parameter formula, checked against Keras.

A new Keras release that adds a layer class fails `test_every_keras_layer_is_known`
here, in CI, before a user meets "has no parameter formula".
"""

import importlib.util

import keras
import numpy as np
import pytest
from _layer_cases import LAYER_CASES, exported_layer_classes
from keras import layers

from keras_tdplus.params import count_params, explain_params
from keras_tdplus.params._registry import REGISTRY, registered

# A layer's weights and their shapes are the same on every backend, and the
# calculator reads configs, never tensors: the whole of keras.layers is checked
# once, in the jax env. The layers only TensorFlow can build are checked in the
# tensorflow env (their own marker wins), and tests/test_formulas_families.py
# compares drawn layers with Keras' count on every backend.
pytestmark = pytest.mark.backend("jax")


_EXPORTED = exported_layer_classes()

# The classes no formula can count (their weights come from code), and those with a formula.
NO_FORMULA = {cls.__name__ for cls, entry in REGISTRY.items() if entry.why_no_weights}


def covered_classes():
    return {cls.__name__ for cls in registered("weights")}


# Classes newer than the pinned Keras (3.15.1), checked where the installed Keras has them (the
# keras-nightly env). Kept out of _layer_cases.py, whose cases the FLOPs reference measured on
# the pinned Keras.
_ZEROS = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
_NEWER = {
    "Mosaic": (lambda: layers.Mosaic(), (None, 8, 8, 3)),
    "TernaryDense": (lambda: layers.TernaryDense(3, **_ZEROS), (None, 4)),
}
CASES = {**LAYER_CASES, **{name: [case] for name, case in _NEWER.items() if name in _EXPORTED}}


# These hold their state in TensorFlow resources and cannot be made without it.
_NEEDS_TF = {"Hashing", "HashedCrossing", "IntegerLookup", "StringLookup", "TextVectorization"}


_ATTENTION = ("MultiHeadAttention", "GroupedQueryAttention")


def _build(layer, shape):
    """Builds `layer` on `shape` the way a model would, making its weights."""
    if isinstance(shape, list):
        tensors = [keras.KerasTensor(s) for s in shape]
        if type(layer).__name__ in _ATTENTION:
            layer(*tensors[:2], key=tensors[2] if len(tensors) > 2 else None)
        else:
            layer(tensors)
    elif type(layer).__name__ in _ATTENTION:
        layer(keras.KerasTensor(shape), keras.KerasTensor(shape))
    elif isinstance(layer, layers.Pipeline):
        layer(keras.KerasTensor(shape))  # its build() leaves the inner layers unbuilt
    elif not layer.built:
        layer.build(shape)


def _size(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def test_every_keras_layer_is_known():
    unknown = sorted(set(_EXPORTED) - set(covered_classes()) - set(NO_FORMULA))
    assert unknown == [], f"keras.layers classes without a parameter formula: {unknown}"


def test_no_formula_list_names_only_keras_classes_without_a_formula():
    assert set(NO_FORMULA) <= set(_EXPORTED)
    assert not set(NO_FORMULA) & set(covered_classes())


def test_every_keras_class_with_a_formula_has_a_case():
    assert sorted(set(covered_classes()) & set(_EXPORTED)) == sorted(CASES)


# STFTSpectrogram computes its initial kernels with scipy, which not every env has.
_NEEDS_SCIPY = pytest.mark.skipif(
    importlib.util.find_spec("scipy") is None, reason="STFTSpectrogram needs scipy to build"
)
_PARAMS = [
    pytest.param(
        make,
        shape,
        id=f"{name}-{index}",
        marks=[_NEEDS_SCIPY] if name == "STFTSpectrogram" else [],
    )
    for name, cases in sorted(CASES.items())
    for index, (make, shape) in enumerate(cases)
    if name not in _NEEDS_TF
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make, shape", _PARAMS)
def test_formula_counts_what_keras_builds(make, shape):
    layer = make()
    explanation = explain_params(layer, shape)
    assert not layer.weights, "counting built the layer"
    config = keras.saving.serialize_keras_object(layer)
    assert count_params(config, shape) == explanation.total
    _build(layer, shape)
    assert explanation.total == layer.count_params()
    assert explanation.trainable == _size(layer.trainable_weights)
    assert explanation.non_trainable == _size(layer.non_trainable_weights)
    expected = sorted((tuple(int(d) for d in w.shape), bool(w.trainable)) for w in layer.weights)
    assert sorted((w.shape, w.trainable) for w in explanation.weights) == expected


@pytest.mark.backend("tensorflow")
@pytest.mark.parametrize("name", sorted(_NEEDS_TF))
def test_lookup_layers_hold_no_keras_weights(name):
    ((make, shape),) = LAYER_CASES[name]
    layer = make()
    assert count_params(layer, shape) == 0
    layer.build(shape if not isinstance(shape, list) else shape)
    assert layer.count_params() == 0


def test_classes_without_a_formula_say_why():
    layer = layers.Lambda(lambda x: x * 2, name="double")
    with pytest.raises(
        ValueError,
        match=r"^Layer 'double' \(Lambda\) has no parameter formula in keras_tdplus: it runs a "
        r"Python function, whose weights are not in its config\. Fix: pass allow_build=True",
    ):
        count_params(layer, (None, 3))
