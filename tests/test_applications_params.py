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


def _case(name):
    if name in _EVERY_BACKEND:
        return pytest.param(name, id=name)
    return pytest.param(name, id=name, marks=[pytest.mark.slow, pytest.mark.backend("jax")])


def test_the_list_of_models_is_keras_own():
    assert _EVERY_BACKEND <= set(_MODELS)
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
