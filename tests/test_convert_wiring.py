"""convert_time_distributed: masks come from the new layers, shared inner layers stay shared."""

import keras
import numpy as np
from keras import layers

from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed


def _tokens():
    # (batch=3, time=4, words=5); 0 pads inside a step and whole steps.
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 9, size=(3, 4, 5)).astype("int32")
    tokens[0, :, 3:] = 0
    tokens[1, 2] = 0
    tokens[2, 1, 1:] = 0
    return tokens


def _tagger(wrapper):
    inputs = keras.Input((4, 5), dtype="int32")
    h = layers.Embedding(9, 3, mask_zero=True)(inputs)
    h = wrapper(layers.LSTM(4))(h)
    outputs = layers.LSTM(2)(h)
    return keras.Model(inputs, outputs)


def test_a_layer_after_a_converted_wrapper_gets_the_new_wrappers_mask():
    """Embedding(mask_zero) > TD(LSTM) > LSTM: the last LSTM gets the (batch, time) mask."""
    keras.utils.set_random_seed(1)
    stock = _tagger(layers.TimeDistributed)
    converted = convert_time_distributed(stock)
    built = _tagger(TimeDistributed)
    built.set_weights(stock.get_weights())
    tokens = _tokens()
    expected = built.predict(tokens, verbose=0)
    np.testing.assert_allclose(converted.predict(tokens, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(converted(tokens)), expected, rtol=1e-5, atol=1e-6
    )
    last = converted.layers[-1]
    mask = last._inbound_nodes[0].arguments.kwargs.get("mask")
    assert mask is None or tuple(mask.shape) == (None, 4)


def test_an_explicit_mask_argument_is_kept():
    inputs = keras.Input((4, 3))
    steps = keras.Input((4,), dtype="bool")
    h = layers.TimeDistributed(layers.Dense(2))(inputs)
    model = keras.Model([inputs, steps], layers.LSTM(2)(h, mask=steps))
    converted = convert_time_distributed(model)
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    m = np.array([[True, True, False, False], [True, True, True, True]])
    np.testing.assert_allclose(
        converted.predict([x, m], verbose=0), model.predict([x, m], verbose=0), atol=1e-6
    )


def _shared(kind):
    dense = layers.Dense(3, name="shared")
    a, b = keras.Input((4, 2)), keras.Input((4, 2))
    if kind == "two_wrappers":
        outputs = layers.Add()([layers.TimeDistributed(dense)(a), layers.TimeDistributed(dense)(b)])
    else:
        outputs = layers.Add()([layers.TimeDistributed(dense)(a), dense(b)])
    return keras.Model([a, b], outputs)


def _train(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)


def test_an_inner_layer_shared_by_two_wrappers_stays_one_layer():
    for kind in ("two_wrappers", "wrapper_and_direct"):
        model = _shared(kind)
        converted = convert_time_distributed(model)
        assert converted.count_params() == model.count_params() == 9
        wrappers = [layer for layer in converted.layers if isinstance(layer, TimeDistributed)]
        assert not any(isinstance(layer, TimeDistributedDense) for layer in converted.layers)
        inners = {id(w.layer) for w in wrappers}
        direct = [layer for layer in converted.layers if type(layer) is layers.Dense]
        assert len(inners | {id(layer) for layer in direct}) == 1, kind
        rng = np.random.default_rng(3)
        x = [rng.normal(size=(2, 4, 2)).astype("float32") for _ in range(2)]
        y = rng.normal(size=(2, 4, 3)).astype("float32")
        np.testing.assert_allclose(
            converted.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
        )
        _train(model, x, y)
        _train(converted, x, y)
        for before, after in zip(model.get_weights(), converted.get_weights(), strict=True):
            np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


@keras.saving.register_keras_serializable(package="test_convert_wiring")
def softmax_over_axis_1(x):
    return keras.ops.softmax(x, axis=1)


def test_a_dense_with_an_activation_over_another_axis_is_not_fused():
    model = keras.Sequential(
        [
            keras.Input((4, 3)),
            layers.TimeDistributed(layers.Dense(2, activation=softmax_over_axis_1)),
        ]
    )
    converted = convert_time_distributed(model)
    assert type(converted.layers[0]) is TimeDistributed
    x = np.random.default_rng(4).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
