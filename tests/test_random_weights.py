"""Equal to stock and to a step-by-step loop, with random non-zero weights everywhere.

Fresh layers start with zero biases (and ones/zeros in normalization layers), so a
layer that forgot its bias, or added the wrong one, would still match stock Keras.
Here every weight, biases included, is set from a seeded normal draw first. Each
result is checked against stock `keras.layers.TimeDistributed` and against a plain
Python loop over the time steps, the definition of "applied to every time step".

The mask tests cover each path through `TimeDistributed.compute_mask`: a time
mask coming in only, a mask made by the inner layer only, both combined, and an
inner-axes mask handed to an inner layer that takes one; with static and
dynamic time axes.
"""

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed

TOL = {"rtol": 1e-5, "atol": 1e-5}


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def randomize(layer, seed):
    """Sets every weight of `layer` (a layer or a model) to non-zero seeded random values."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in layer.get_weights():
        value = rng.uniform(0.2, 1.0, size=w.shape) * rng.choice([-1.0, 1.0], size=w.shape)
        weights.append(value.astype(w.dtype))
    layer.set_weights(weights)
    for w in layer.get_weights():
        assert np.all(w != 0)
    return layer


def step_by_step(inner, x, **kwargs):
    """The definition: the inner layer on each step `x[:, t]`, stacked along time."""
    return np.stack([_numpy(inner(x[:, t], **kwargs)) for t in range(x.shape[1])], axis=1)


INNER = [
    (lambda: layers.Dense(4, activation="tanh"), (3, 5, 3)),
    (lambda: layers.Dense(2), (2, 4, 3, 5)),
    (lambda: layers.Conv1D(3, 2), (2, 4, 6, 3)),
    (lambda: layers.Conv2D(2, 3, padding="same"), (2, 3, 5, 5, 2)),
    (lambda: layers.LSTM(3), (2, 4, 5, 2)),
    (lambda: layers.GRU(2, return_sequences=True), (2, 3, 4, 2)),
    (lambda: keras.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)]), (3, 4, 5)),
    (lambda: layers.LayerNormalization(), (2, 4, 6)),
    (lambda: layers.BatchNormalization(), (2, 4, 6)),
]


@pytest.mark.parametrize("index", range(len(INNER)))
def test_time_distributed_equals_stock_and_the_step_loop(index):
    factory, shape = INNER[index]
    x = np.random.default_rng(index).normal(size=shape).astype("float32")
    stock = layers.TimeDistributed(factory())
    stock.build(shape)
    randomize(stock, seed=index)
    if isinstance(stock.layer, layers.BatchNormalization):
        # The moving variance must stay positive.
        stock.set_weights([np.abs(w) for w in stock.get_weights()])
    fast = TimeDistributed(factory())
    fast.build(shape)
    fast.set_weights(stock.get_weights())
    actual = _numpy(fast(x))
    np.testing.assert_allclose(actual, _numpy(stock(x)), **TOL)
    np.testing.assert_allclose(actual, step_by_step(fast.layer, x), **TOL)


@pytest.mark.parametrize("shape", [(7, 2, 3), (2, 7, 3), (1, 1, 8), (3, 4, 5, 6)])
@pytest.mark.parametrize("activation", [None, "tanh"])
def test_time_distributed_dense_equals_stock_and_numpy(shape, activation):
    units = 3
    x = np.random.default_rng(len(shape)).normal(size=shape).astype("float32")
    stock = layers.TimeDistributed(layers.Dense(units, activation=activation))
    stock.build(shape)
    randomize(stock, seed=shape[1])
    fused = TimeDistributedDense(units, activation=activation)
    fused.build(shape)
    fused.set_weights(stock.get_weights())
    kernel, bias = stock.get_weights()
    expected = x @ kernel + bias
    if activation == "tanh":
        expected = np.tanh(expected)
    actual = _numpy(fused(x))
    np.testing.assert_allclose(actual, expected, **TOL)
    np.testing.assert_allclose(actual, _numpy(stock(x)), **TOL)
    np.testing.assert_allclose(actual, step_by_step(stock.layer, x), **TOL)


def test_time_distributed_dense_without_bias_adds_none():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    fused = TimeDistributedDense(2, use_bias=False)
    fused.build(x.shape)
    randomize(fused, seed=1)
    assert len(fused.get_weights()) == 1
    np.testing.assert_allclose(_numpy(fused(x)), x @ fused.get_weights()[0], **TOL)


def _video_model(time_steps):
    inputs = keras.Input((time_steps, 6, 6, 2))
    h = layers.TimeDistributed(layers.Conv2D(3, 3))(inputs)
    h = layers.TimeDistributed(layers.Flatten())(h)
    h = layers.TimeDistributed(layers.Dense(4, activation="relu"))(h)
    h = layers.LSTM(3, return_sequences=True)(h)
    h = layers.TimeDistributed(layers.Dense(5, use_bias=False))(h)
    outputs = layers.TimeDistributed(layers.Dense(2), name="head")(h)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("time_steps", [4, None])
def test_converted_model_predicts_what_the_original_does(time_steps):
    model = randomize(_video_model(time_steps), seed=3)
    converted = convert_time_distributed(model)
    kinds = [type(layer).__name__ for layer in converted.layers[1:]]
    assert kinds == [
        "TimeDistributed",
        "TimeDistributed",
        "TimeDistributedDense",
        "LSTM",
        "TimeDistributedDense",
        "TimeDistributedDense",
    ]
    for before, after in zip(model.get_weights(), converted.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    x = np.random.default_rng(4).normal(size=(2, 4, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(converted.predict(x, verbose=0), model.predict(x, verbose=0), **TOL)
    # The head by hand: the last weights are its kernel and bias, both non-zero.
    kernel, bias = model.get_weights()[-2:]
    before_head = keras.Model(model.inputs, model.layers[-2].output).predict(x, verbose=0)
    np.testing.assert_allclose(converted.predict(x, verbose=0), before_head @ kernel + bias, **TOL)


# Masks


def _padded_steps(seed, batch=3, steps=6, features=3, valid=(6, 4, 2)):
    """Sequences of non-zero steps, padded at the end with all-zero steps."""
    x = np.random.default_rng(seed).uniform(0.5, 1.0, size=(batch, steps, features))
    for row, length in enumerate(valid):
        x[row, length:] = 0.0
    return x.astype("float32"), np.arange(steps)[None, :] < np.array(valid)[:, None]


@pytest.mark.parametrize("time_steps", [6, None])
@pytest.mark.parametrize(
    "inner", [lambda: layers.Dense(4), lambda: layers.Reshape((3, 1))], ids=["dense", "reshape"]
)
def test_incoming_time_mask_only_travels_on_unchanged(time_steps, inner):
    x, valid = _padded_steps(0)
    inputs = keras.Input((time_steps, 3))
    masked = layers.Masking(0.0)(inputs)
    wrapper = TimeDistributed(inner())
    outputs = wrapper(masked)
    model = keras.Model(inputs, outputs)
    out = model.predict(x, verbose=0)
    reference = step_by_step(wrapper.layer, x)
    np.testing.assert_allclose(out[valid], reference[valid], **TOL)
    out_mask = wrapper.compute_mask(
        keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(valid)
    )
    np.testing.assert_array_equal(_numpy(out_mask), valid)


@pytest.mark.parametrize("time_steps", [6, None])
def test_masked_steps_are_skipped_by_the_lstm_behind(time_steps):
    """Masking, TimeDistributed(Reshape, Conv1D, Flatten), LSTM: the LSTM on valid steps only."""
    x, valid = _padded_steps(1, features=4)
    inputs = keras.Input((time_steps, 4))
    h = layers.Masking(0.0)(inputs)
    h = TimeDistributed(layers.Reshape((2, 2)))(h)
    wrapper = TimeDistributed(layers.Conv1D(3, 2))
    h = TimeDistributed(layers.Flatten())(wrapper(h))
    lstm = layers.LSTM(2)
    model = keras.Model(inputs, lstm(h))
    randomize(model, seed=2)
    out = model.predict(x, verbose=0)
    features = step_by_step(wrapper.layer, x.reshape(3, 6, 2, 2))
    for row in range(3):
        length = int(valid[row].sum())
        expected = _numpy(lstm(features[row : row + 1, :length].reshape(1, length, 3)))
        np.testing.assert_allclose(out[row : row + 1], expected, **TOL)


def _tokens():
    # (batch=2, time=3, words=4); 0 is padding inside a step.
    return np.array(
        [
            [[1, 2, 0, 0], [0, 0, 0, 0], [3, 0, 0, 0]],
            [[4, 5, 6, 7], [8, 0, 0, 0], [9, 9, 0, 0]],
        ],
        dtype="int32",
    )


@pytest.mark.parametrize("time_steps", [3, None])
def test_inner_mask_only_is_folded_back(time_steps):
    tokens = _tokens()
    inputs = keras.Input((time_steps, 4), dtype="int32")
    wrapper = TimeDistributed(layers.Embedding(10, 3, mask_zero=True))
    embedded = wrapper(inputs)
    assert tuple(embedded._keras_mask.shape) == (None, time_steps, 4)
    mask = wrapper.compute_mask(keras.ops.convert_to_tensor(tokens), None)
    np.testing.assert_array_equal(_numpy(mask), tokens != 0)


def test_incoming_and_inner_masks_are_combined_with_and():
    tokens = _tokens()
    steps = np.array([[True, True, False], [False, True, True]])
    wrapper = TimeDistributed(layers.Embedding(10, 3, mask_zero=True))
    wrapper.build(tokens.shape)
    mask = wrapper.compute_mask(
        keras.ops.convert_to_tensor(tokens), keras.ops.convert_to_tensor(steps)
    )
    expected = steps[:, :, None] & (tokens != 0)
    np.testing.assert_array_equal(_numpy(mask), expected)
    # Not what `or` would give: a masked step stays masked.
    assert not np.array_equal(expected, steps[:, :, None] | (tokens != 0))


def test_incoming_and_inner_masking_layer_masks_are_combined_with_and():
    x = np.random.default_rng(5).uniform(0.5, 1.0, size=(2, 3, 4, 2)).astype("float32")
    x[0, 0, 2:] = 0.0
    x[1, 2, 1:] = 0.0
    steps = np.array([[False, True, True], [True, True, True]])
    wrapper = TimeDistributed(layers.Masking(0.0))
    mask = wrapper.compute_mask(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(steps))
    expected = steps[:, :, None] & np.any(x != 0, axis=-1)
    np.testing.assert_array_equal(_numpy(mask), expected)


@pytest.mark.parametrize(
    "time_steps",
    [
        3,
        None,
    ],
)
def test_inner_axes_mask_reaches_an_inner_lstm(time_steps):
    """Embedding(mask_zero) -> TimeDistributed(LSTM): each step's LSTM skips its padding."""
    tokens = _tokens()
    inputs = keras.Input((time_steps, 4), dtype="int32")
    embed = TimeDistributed(layers.Embedding(10, 3, mask_zero=True))
    encode = TimeDistributed(layers.LSTM(2))
    model = keras.Model(inputs, encode(embed(inputs)))
    randomize(model, seed=6)
    out = model.predict(tokens, verbose=0)
    vectors = step_by_step(embed.layer, tokens)
    lstm = encode.layer
    for b in range(tokens.shape[0]):
        for t in range(tokens.shape[1]):
            length = int((tokens[b, t] != 0).sum())
            if length == 0:
                continue
            expected = _numpy(lstm(vectors[b : b + 1, t, :length]))
            np.testing.assert_allclose(out[b : b + 1, t], expected, **TOL)
    # The mask after the LSTM: a step is valid while any of its words was.
    step_mask = encode.compute_mask(
        keras.ops.convert_to_tensor(vectors), keras.ops.convert_to_tensor(tokens != 0)
    )
    np.testing.assert_array_equal(_numpy(step_mask), np.any(tokens != 0, axis=-1))


@pytest.mark.parametrize("time_steps", [6, None])
def test_time_mask_before_a_wrapped_lstm_does_not_crash(time_steps):
    """Masking, TimeDistributed(Reshape), TimeDistributed(LSTM) runs; valid steps as the loop."""
    x, valid = _padded_steps(7, features=4)
    inputs = keras.Input((time_steps, 4))
    h = layers.Masking(0.0)(inputs)
    h = TimeDistributed(layers.Reshape((2, 2)))(h)
    encode = TimeDistributed(layers.LSTM(3))
    outputs = encode(h)
    model = keras.Model(inputs, outputs)
    randomize(model, seed=8)
    out = model.predict(x, verbose=0)
    assert out.shape == (3, 6, 3)
    reference = step_by_step(encode.layer, x.reshape(3, 6, 2, 2))
    np.testing.assert_allclose(out[valid], reference[valid], **TOL)
    out_mask = encode.compute_mask(
        keras.ops.convert_to_tensor(x.reshape(3, 6, 2, 2)), keras.ops.convert_to_tensor(valid)
    )
    np.testing.assert_array_equal(_numpy(out_mask), valid)


def test_converted_frozen_layers_stay_frozen_through_training():
    model = randomize(_video_model(4), seed=9)
    model.layers[1].trainable = False  # TimeDistributed(Conv2D)
    model.layers[3].layer.trainable = False  # the Dense inside TimeDistributed
    model.layers[-1].trainable = False  # the head
    converted = convert_time_distributed(model)
    assert [layer.trainable for layer in converted.layers[1:]] == [
        False,
        True,
        False,
        True,
        True,
        False,
    ]
    frozen = [converted.layers[i].get_weights() for i in (1, 3, 6)]
    converted.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(10).normal(size=(2, 4, 6, 6, 2)).astype("float32")
    converted.fit(x, np.ones((2, 4, 2), "float32"), epochs=1, verbose=0)
    for index, before in zip((1, 3, 6), frozen, strict=True):
        for w_before, w_after in zip(before, converted.layers[index].get_weights(), strict=True):
            np.testing.assert_array_equal(w_before, w_after)
    # A trainable layer did move, so the step above did train.
    assert not np.array_equal(
        model.layers[5].get_weights()[0], converted.layers[5].get_weights()[0]
    )
