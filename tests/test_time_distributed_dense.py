"""TimeDistributedDense: equal to TimeDistributed(Dense), fused, mask-aware."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import SequenceShapeError, TimeDistributedDense
from keras_tdplus.testing import check_layer


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_standard_layer_checks():
    report = check_layer(
        TimeDistributedDense, {"units": 4}, (2, 5, 3), mask_behavior="pass_through"
    )
    report.raise_for_failures()
    assert [r.name for r in report.results] == list(keras_tdplus_checks())


def keras_tdplus_checks():
    from keras_tdplus.testing import CHECKS

    return CHECKS


@pytest.mark.parametrize(
    "shape, units, activation",
    [((7, 2, 3), 4, None), ((2, 7, 3), 1, "relu"), ((1, 1, 8), 5, "tanh"), ((3, 4, 5, 6), 2, None)],
)
def test_equals_stock_time_distributed_dense_with_the_same_weights(shape, units, activation):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    stock = layers.TimeDistributed(layers.Dense(units, activation=activation))
    stock.build(shape)
    fused = TimeDistributedDense(units, activation=activation)
    fused.build(shape)
    fused.set_weights(stock.get_weights())
    assert [w.shape for w in fused.get_weights()] == [(shape[-1], units), (units,)]
    np.testing.assert_allclose(_numpy(fused(x)), _numpy(stock(x)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("batch, steps", [(7, 2), (2, 7), (1, 1)])
def test_dynamic_time_axis_with_any_batch(batch, steps):
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, TimeDistributedDense(4)(inputs))
    assert model.output_shape == (None, None, 4)
    x = np.random.default_rng(1).normal(size=(batch, steps, 3)).astype("float32")
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_mask_is_honoured_by_the_lstm_behind_and_still_there_after():
    keras.utils.set_random_seed(0)
    padded = keras.Sequential(
        [keras.Input((6, 3)), layers.Masking(0.0), TimeDistributedDense(4), layers.LSTM(2)]
    )
    short = keras.Sequential([keras.Input((4, 3)), TimeDistributedDense(4), layers.LSTM(2)])
    short.set_weights(padded.get_weights())
    x = np.random.default_rng(2).uniform(0.5, 1.0, size=(3, 4, 3)).astype("float32")
    x_padded = np.concatenate([x, np.zeros((3, 2, 3), "float32")], axis=1)
    np.testing.assert_allclose(
        padded.predict(x_padded, verbose=0), short.predict(x, verbose=0), rtol=0, atol=1e-5
    )
    unmasked = keras.Sequential([keras.Input((6, 3)), TimeDistributedDense(4), layers.LSTM(2)])
    unmasked.set_weights(padded.get_weights())
    assert not np.allclose(unmasked.predict(x_padded, verbose=0), short.predict(x, verbose=0))

    layer = TimeDistributedDense(4)
    masked = layers.Masking(0.0)(keras.ops.convert_to_tensor(x_padded))
    mask = layers.Masking(0.0).compute_mask(x_padded)
    out_mask = layer.compute_mask(masked, mask)
    np.testing.assert_array_equal(_numpy(out_mask), _numpy(mask))


def test_keras_file_round_trip_without_custom_objects(tmp_path):
    model = keras.Sequential(
        [keras.Input((5, 1)), layers.LSTM(5, return_sequences=True), TimeDistributedDense(1)]
    )
    x = np.random.default_rng(3).normal(size=(2, 5, 1)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored.layers[-1]) is TimeDistributedDense
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.count_params() == 146


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    layer = TimeDistributedDense(3)
    out = layer(np.ones((2, 4, 5), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"


def test_jit_compiled_fit_learns():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 2)), TimeDistributedDense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=True)
    x = np.random.default_rng(4).normal(size=(16, 5, 2)).astype("float32")
    y = x @ np.array([[2.0], [-1.0]], "float32") + 0.5
    history = model.fit(x, y, epochs=200, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0]
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [2.0, -1.0], atol=0.1)


def test_2d_input_from_an_lstm_names_the_lstm_and_the_fix():
    with pytest.raises(
        SequenceShapeError,
        match=(
            r"^Layer 'head' \(TimeDistributedDense\) needs a time axis, but recurrent layer "
            r"'encoder' returns only its last step\.\n"
            r"  Received: shape \(None, 5\) from 'encoder'\n"
            r"  Expected: shape \(batch, time, \.\.\., features\), rank >= 3\n"
            r"  Fix: LSTM\(5, return_sequences=True\)  # layer 'encoder'$"
        ),
    ):
        keras.Sequential(
            [
                keras.Input((5, 1)),
                layers.LSTM(5, name="encoder"),
                TimeDistributedDense(1, name="head"),
            ]
        )


def test_2d_input_from_a_bidirectional_gru():
    with pytest.raises(
        SequenceShapeError, match=r"Bidirectional\(GRU\(3, return_sequences=True\)\)"
    ):
        keras.Sequential(
            [keras.Input((5, 1)), layers.Bidirectional(layers.GRU(3)), TimeDistributedDense(1)]
        )


def test_2d_eager_input_says_there_is_no_time_axis():
    with pytest.raises(
        SequenceShapeError,
        match=r"(?s)needs a time axis, but its input has rank 2\.\n  Received: shape \(4, 3\)\n.*"
        r"Fix: x = x\[:, None, :\]",
    ):
        TimeDistributedDense(2, name="tdd")(np.ones((4, 3), "float32"))
    assert issubclass(SequenceShapeError, ValueError)


def test_wrong_feature_size_after_build_is_refused():
    layer = TimeDistributedDense(2)
    layer(np.ones((1, 3, 4), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer(np.ones((1, 3, 5), "float32"))


@pytest.mark.parametrize("units", [0, -3, 2.5, "4", True, None])
def test_bad_units_are_named(units):
    with pytest.raises(
        ValueError, match=r"Received an invalid value for `units`, expected a positive"
    ):
        TimeDistributedDense(units)
