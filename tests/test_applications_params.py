"""Every keras.applications model counts exactly as Keras does, from its config alone.

Keras' own counts come from the model built in a
`keras.StatelessScope(initialize_variables=False)`: its variables get their
shapes and never a value, so building the expected side takes about a second
(initialising them would compile one random initializer per shape: half a
minute for EfficientNetB0 on JAX). The session is then cleared, so the
calculator, given only `model.get_config()`, starts from nothing the model left
behind, and builds nothing itself.
"""

import keras
import numpy as np
import pytest

from keras_tdplus import param_table

_MODELS = sorted(name for name in dir(keras.applications) if name[:1].isupper())

# Two small models, between them every layer family but SeparableConv2D, run
# on every backend; all 40 run in the jax env.
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


@pytest.mark.backend_independent
def test_the_list_of_models_is_keras_own():
    assert _EVERY_BACKEND <= set(_MODELS)
    assert len(_MODELS) >= 30


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", [_case(name) for name in _MODELS])
def test_application_counts_like_keras_without_building(name):
    with keras.StatelessScope(initialize_variables=False):
        model = getattr(keras.applications, name)(weights=None)
    expected = (
        model.count_params(),
        _size(model.trainable_weights),
        _size(model.non_trainable_weights),
    )
    config = model.get_config()
    del model
    keras.backend.clear_session()  # drops the model's never-initialised variables
    table = param_table(config)
    assert (table.total, table.trainable, table.non_trainable) == expected
