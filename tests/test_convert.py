"""convert_time_distributed: same predictions, fast layers, weights copied."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed


def _sequential():
    return keras.Sequential(
        [
            keras.Input((5, 1)),
            layers.LSTM(5, return_sequences=True),
            layers.TimeDistributed(layers.Dense(3, activation="tanh", name="inner")),
            layers.TimeDistributed(layers.Dropout(0.2)),
            layers.TimeDistributed(layers.Dense(1), name="head"),
        ]
    )


def _functional():
    inputs = keras.Input((4, 6, 6, 2))
    h = layers.TimeDistributed(layers.Conv2D(3, 3))(inputs)
    h = layers.TimeDistributed(layers.Flatten())(h)
    h = layers.Masking(0.0)(h)
    h = layers.TimeDistributed(layers.Dense(4, use_bias=False))(h)
    outputs = layers.LSTM(2)(h)
    return keras.Model(inputs, outputs, name="video")


@pytest.mark.parametrize(
    "factory, x_shape",
    [(_sequential, (3, 5, 1)), (_functional, (2, 4, 6, 6, 2))],
)
def test_predictions_equal_the_original(factory, x_shape):
    keras.utils.set_random_seed(0)
    model = factory()
    x = np.random.default_rng(0).normal(size=x_shape).astype("float32")
    converted = convert_time_distributed(model)
    assert type(converted) is type(model)
    assert not any(type(layer) is layers.TimeDistributed for layer in converted.layers)
    assert converted.count_params() == model.count_params()
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6
    )


def test_dense_becomes_time_distributed_dense_and_the_rest_the_fast_wrapper():
    model = _sequential()
    converted = convert_time_distributed(model)
    kinds = [(type(layer).__name__, layer.name) for layer in converted.layers]
    assert kinds[1:] == [
        ("TimeDistributedDense", model.layers[1].name),
        ("TimeDistributed", model.layers[2].name),
        ("TimeDistributedDense", "head"),
    ]
    assert isinstance(converted.layers[2], TimeDistributed)
    assert converted.layers[1].activation is keras.activations.tanh
    assert isinstance(converted.layers[3], TimeDistributedDense)


def test_nested_models_are_converted_and_the_original_is_untouched():
    inner = _sequential()
    outer = keras.Sequential([keras.Input((5, 1)), inner, layers.Flatten(), layers.Dense(2)])
    converted = convert_time_distributed(outer)
    assert type(converted.layers[0].layers[-1]) is TimeDistributedDense
    assert type(outer.layers[0].layers[-1]) is layers.TimeDistributed
    x = np.random.default_rng(1).normal(size=(2, 5, 1)).astype("float32")
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), outer.predict(x, verbose=0), rtol=0, atol=1e-6
    )


def test_converted_model_trains_and_saves(tmp_path):
    converted = convert_time_distributed(_sequential())
    converted.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(2).normal(size=(4, 5, 1)).astype("float32")
    converted.fit(x, x, epochs=2, verbose=0)
    converted.save(tmp_path / "fast.keras")
    restored = keras.saving.load_model(tmp_path / "fast.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), converted.predict(x, verbose=0))


def test_refuses_what_it_cannot_convert():
    with pytest.raises(TypeError, match=r"expected a Sequential or Functional `keras.Model`"):
        convert_time_distributed(layers.Dense(2))

    class Custom(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match=r"subclassed model"):
        convert_time_distributed(Custom())
    with pytest.raises(ValueError, match=r"is not built, so it has no weights to copy"):
        convert_time_distributed(keras.Sequential([layers.TimeDistributed(layers.Dense(1))]))
