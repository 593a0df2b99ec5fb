"""keras_tdplus.TimeDistributed: a drop-in for keras.layers.TimeDistributed."""

import keras
import numpy as np
import pytest
from keras import layers

import keras_tdplus
from keras_tdplus import SequenceShapeError, TimeDistributed
from keras_tdplus.testing import check_layer


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _pair(inner_factory, shape):
    """Stock and fast wrappers of two copies of one layer, with equal weights."""
    stock = layers.TimeDistributed(inner_factory())
    stock.build(shape)
    fast = TimeDistributed(inner_factory())
    fast.build(shape)
    fast.set_weights(stock.get_weights())
    return stock, fast


@pytest.mark.parametrize(
    "inner, shape",
    [
        (lambda: layers.Dense(4), (2, 5, 3)),
        (lambda: layers.Conv2D(6, 3, padding="same"), (2, 3, 8, 8, 2)),
        (lambda: layers.LSTM(4), (2, 3, 6, 2)),
        (lambda: layers.LayerNormalization(), (3, 4, 5)),
    ],
)
def test_standard_layer_checks(inner, shape):
    report = check_layer(
        TimeDistributed,
        {"layer": inner()},
        shape,
        checks=[c for c in keras_tdplus.testing.CHECKS if c != "time_distributed"],
    )
    report.raise_for_failures()


@pytest.mark.parametrize(
    "inner, shape",
    [
        (lambda: layers.Dense(4, activation="relu"), (7, 2, 3)),
        (lambda: layers.Dense(1), (2, 9, 4, 3)),
        (lambda: layers.Conv2D(5, 3), (2, 4, 7, 7, 3)),
        (lambda: layers.Conv1D(3, 2), (3, 2, 6, 4)),
        (lambda: layers.GRU(3, return_sequences=True), (2, 3, 5, 2)),
        (lambda: layers.MaxPooling2D(), (2, 3, 4, 4, 1)),
        (lambda: keras.Sequential([layers.Dense(3), layers.Dense(2)]), (4, 3, 5)),
        (lambda: layers.LayerNormalization(), (3, 4, 5)),
        (lambda: layers.LayerNormalization(axis=(-2, -1)), (3, 4, 2, 5)),
        (lambda: layers.Activation("softmax"), (2, 3, 6)),
    ],
)
def test_equals_stock_time_distributed(inner, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    stock, fast = _pair(inner, shape)
    expected = _numpy(stock(x))
    actual = _numpy(fast(x))
    assert actual.shape == expected.shape == tuple(fast.compute_output_shape(shape))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch, steps", [(7, 2), (2, 7), (1, 1)])
def test_dynamic_batch_and_time(batch, steps):
    inputs = keras.Input((None, 4, 4, 1))
    conv = TimeDistributed(layers.Conv2D(2, 3))
    model = keras.Model(inputs, conv(inputs))
    assert model.output_shape == (None, None, 2, 2, 2)
    x = np.random.default_rng(1).normal(size=(batch, steps, 4, 4, 1)).astype("float32")
    expected = np.stack([_numpy(conv.layer(x[:, t])) for t in range(steps)], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_dropout_is_active_in_training_only():
    wrapper = TimeDistributed(layers.Dropout(0.5, seed=1))
    x = np.ones((4, 6, 8), "float32")
    np.testing.assert_array_equal(_numpy(wrapper(x, training=False)), x)
    dropped = _numpy(wrapper(x, training=True))
    assert set(np.unique(dropped)) == {0.0, 2.0}


def test_mask_is_honoured_by_the_lstm_behind_and_still_there_after():
    keras.utils.set_random_seed(0)
    padded = keras.Sequential(
        [keras.Input((6, 3)), layers.Masking(0.0), TimeDistributed(layers.Dense(4)), layers.LSTM(2)]
    )
    short = keras.Sequential(
        [keras.Input((4, 3)), TimeDistributed(layers.Dense(4)), layers.LSTM(2)]
    )
    short.set_weights(padded.get_weights())
    x = np.random.default_rng(2).uniform(0.5, 1.0, size=(3, 4, 3)).astype("float32")
    x_padded = np.concatenate([x, np.zeros((3, 2, 3), "float32")], axis=1)
    np.testing.assert_allclose(
        padded.predict(x_padded, verbose=0), short.predict(x, verbose=0), rtol=0, atol=1e-5
    )
    mask = layers.Masking(0.0).compute_mask(x_padded)
    wrapper = padded.layers[1]
    out_mask = wrapper.compute_mask(keras.ops.convert_to_tensor(x_padded), mask)
    np.testing.assert_array_equal(_numpy(out_mask), _numpy(mask))


def test_inner_mask_from_embedding_is_folded_back_and_consumed():
    tokens = np.array([[[1, 2, 0], [0, 0, 0]], [[3, 0, 0], [4, 5, 6]]])
    inputs = keras.Input((2, 3), dtype="int32")
    embedded = TimeDistributed(layers.Embedding(10, 4, mask_zero=True))(inputs)
    assert tuple(embedded._keras_mask.shape) == (None, 2, 3)
    encoded_layer = TimeDistributed(layers.LSTM(2))
    encoded = encoded_layer(embedded)
    model = keras.Model(inputs, encoded)
    out = model.predict(tokens, verbose=0)
    assert out.shape == (2, 2, 2)
    step_mask = encoded_layer.compute_mask(
        keras.ops.zeros((2, 2, 3, 4)), keras.ops.convert_to_tensor(tokens != 0)
    )
    np.testing.assert_array_equal(_numpy(step_mask), [[True, False], [True, True]])


def test_stateful_inner_layer_runs_step_by_step_like_stock():
    shape = (2, 5, 4, 2)
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    stock, fast = _pair(lambda: layers.SimpleRNN(3, stateful=True), shape)
    np.testing.assert_allclose(_numpy(fast(x)), _numpy(stock(x)), rtol=1e-5, atol=1e-6)
    # Both carry their state into the second call, and still agree.
    np.testing.assert_allclose(_numpy(fast(x)), _numpy(stock(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.backend("tensorflow")
def test_stateful_inner_layer_with_a_time_axis_unknown_while_tracing():
    """Only a TensorFlow graph has a time axis unknown while tracing."""
    import tensorflow as tf

    shape = (2, 5, 4, 2)
    x = np.random.default_rng(4).normal(size=shape).astype("float32")
    stock, fast = _pair(lambda: layers.SimpleRNN(3, stateful=True), shape)
    traced = tf.function(fast, input_signature=[tf.TensorSpec((2, None, 4, 2))])
    np.testing.assert_allclose(traced(x).numpy(), _numpy(stock(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.backend_independent
def test_same_config_format_as_keras():
    stock = layers.TimeDistributed(layers.Dense(3), name="td")
    fast = TimeDistributed(layers.Dense(3), name="td")
    stock_config, fast_config = stock.get_config(), fast.get_config()
    assert stock_config.keys() == fast_config.keys()
    assert fast_config["layer"]["class_name"] == "Dense"
    rebuilt = TimeDistributed.from_config(stock_config)
    assert isinstance(rebuilt, TimeDistributed) and rebuilt.layer.units == 3


def test_keras_file_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((3, 6, 6, 1)), TimeDistributed(layers.Conv2D(2, 3))])
    x = np.random.default_rng(5).normal(size=(2, 3, 6, 6, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert type(restored.layers[0]) is TimeDistributed
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_jit_compiled_fit_trains_like_stock():
    x = np.random.default_rng(6).normal(size=(8, 4, 5, 3)).astype("float32")
    y = np.random.default_rng(7).normal(size=(8, 4, 4, 2)).astype("float32")
    histories, weights = [], None
    for wrapper in (layers.TimeDistributed, TimeDistributed):
        model = keras.Sequential([keras.Input((4, 5, 3)), wrapper(layers.Conv1D(2, 2))])
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
        histories.append(model.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)
    assert histories[1][-1] < 0.9 * histories[1][0]


def test_2d_input_names_the_lstm():
    with pytest.raises(
        SequenceShapeError,
        match=r"^Layer 'td' \(TimeDistributed\) needs a time axis, but recurrent layer 'lstm_a'"
        r"(?s:.*)Fix: LSTM\(5, return_sequences=True\)  # layer 'lstm_a'$",
    ):
        keras.Sequential(
            [
                keras.Input((5, 1)),
                layers.LSTM(5, name="lstm_a"),
                TimeDistributed(layers.Dense(1), name="td"),
            ]
        )


def test_mismatched_mask_is_refused():
    wrapper = TimeDistributed(layers.Dense(2), name="td")
    x = np.ones((2, 4, 3), "float32")
    with pytest.raises(
        SequenceShapeError,
        match=r"^Layer 'td' \(TimeDistributed\): The `mask` passed to the `TimeDistributed` layer "
        r"has a shape \(2, 5\) that is incompatible with the input shape \(2, 4, 3\)\.\n"
        r"  Received: mask shape \(2, 5\), input shape \(2, 4, 3\)\n"
        r"  Expected: mask shape \(2, 4\), or longer with the same first two axes\n"
        r"  Fix: pass the mask made for this input",
    ):
        wrapper(x, mask=np.ones((2, 5), bool))


@pytest.mark.parametrize("bad", ["dense", 3, None, keras.layers.Dense, np.zeros((1, 1))])
@pytest.mark.backend_independent
def test_non_layer_is_refused(bad):
    # A ValueError, as keras.layers.TimeDistributed raises.
    with pytest.raises(ValueError, match=r"Received an invalid value for `layer`, expected a"):
        TimeDistributed(bad)


_NO_STEPS = {
    "Dense": (lambda: layers.Dense(3), (6,)),
    "nested_mlp": (
        lambda: keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3)]),
        (6,),
    ),
    "Conv1D_same": (lambda: layers.Conv1D(4, 3, padding="same"), (7, 4)),
    "Conv2D": (lambda: layers.Conv2D(4, 3), (8, 8, 2)),
    "LSTM": (lambda: layers.LSTM(3), (5, 2)),
    "stateful_LSTM_per_step": (lambda: layers.LSTM(3, stateful=True), (5, 2)),
    "Embedding_mask_zero": (lambda: layers.Embedding(10, 4, mask_zero=True), (5,)),
}


@pytest.mark.parametrize("skip_masked_steps", [False, True], ids=["all_steps", "skip_masked"])
@pytest.mark.parametrize("name", sorted(_NO_STEPS))
def test_zero_steps_in_give_zero_steps_out_like_a_loop(name, skip_masked_steps):
    """A loop over no steps gives `(batch, 0, *one step's output shape)`, eagerly and in predict."""
    make, step_shape = _NO_STEPS[name]
    dtype = "int32" if name.startswith("Embedding") else "float32"
    batch = 3
    x = np.zeros((batch, 0, *step_shape), dtype)
    inner = make()
    one_step = inner.compute_output_shape((batch, *step_shape))
    expected = (batch, 0, *one_step[1:])
    wrapper = TimeDistributed(make(), skip_masked_steps=skip_masked_steps)
    assert tuple(_numpy(wrapper(x)).shape) == expected
    inputs = keras.Input((None, *step_shape), batch_size=batch, dtype=dtype)
    model = keras.Model(
        inputs, TimeDistributed(make(), skip_masked_steps=skip_masked_steps)(inputs)
    )
    assert model.predict(x, verbose=0).shape == expected
    # The model still computes steps after a call with none.
    steps = np.ones((batch, 2, *step_shape), dtype)
    assert model.predict(steps, verbose=0).shape == (batch, 2, *one_step[1:])


@pytest.mark.backend("tensorflow")
def test_zero_steps_in_a_tensorflow_graph_traced_for_any_number_of_steps():
    """A graph traced for `(None, None, 6)` learns the step count only when it runs."""
    import tensorflow as tf

    wrapper = TimeDistributed(keras.Sequential([layers.Dense(5), layers.Dense(3)]))
    wrapper.build((None, None, 6))
    graph = tf.function(wrapper, input_signature=[tf.TensorSpec((None, None, 6), tf.float32)])
    assert tuple(graph(np.zeros((3, 0, 6), "float32")).shape) == (3, 0, 3)
    assert tuple(graph(np.ones((3, 2, 6), "float32")).shape) == (3, 2, 3)
