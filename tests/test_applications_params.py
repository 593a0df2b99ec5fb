"""Every keras.applications model counts exactly as Keras does, from its config alone.

Keras' own counts come from the model built in a `keras.StatelessScope`, where
variables get their shapes but no values, so building the expected side stays
cheap. The calculator gets only `model.get_config()` and builds nothing.
"""

import keras
import numpy as np
import pytest

from keras_tdplus import param_table

_MODELS = sorted(name for name in dir(keras.applications) if name[:1].isupper())

# Building a model's graph, even without values, takes seconds per model: two
# small models, between them every family but SeparableConv2D, run on every
# backend; all the others are marked slow and run once, on JAX.
_EVERY_BACKEND = {
    "ConvNeXtTiny",  # LayerScale, StochasticDepth, Normalization, LayerNormalization
    "MobileNetV3Small",  # Rescaling, DepthwiseConv2D, op nodes
}


def _size(weights):
    return int(sum(np.prod(w.shape) for w in weights))


# One model of each family runs in the jax env of every CI run. Their larger
# siblings reuse the same layer classes at other widths and depths and take
# minutes in all: they are `heavy`, deselected by default; `pytest -m heavy`
# (in the jax env) runs them.
_FAMILIES = _EVERY_BACKEND | {
    "DenseNet121",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "NASNetMobile",
    "ResNet50",
    "ResNet50V2",
    "VGG16",
    "Xception",
}


def _case(name):
    if name in _EVERY_BACKEND:
        return pytest.param(name, id=name)
    marks = [pytest.mark.slow, pytest.mark.backend("jax")]
    if name not in _FAMILIES:
        marks.append(pytest.mark.heavy)
    return pytest.param(name, id=name, marks=marks)


def test_the_list_of_models_is_keras_own():
    assert _FAMILIES <= set(_MODELS)
    assert len(_MODELS) >= 30


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", [_case(name) for name in _MODELS])
def test_application_counts_like_keras_without_building(name):
    with keras.StatelessScope():
        model = getattr(keras.applications, name)(weights=None)
    expected = (
        model.count_params(),
        _size(model.trainable_weights),
        _size(model.non_trainable_weights),
    )
    table = param_table(model.get_config())
    assert (table.total, table.trainable, table.non_trainable) == expected
