"""TimeDistributedDense: equal to TimeDistributed(Dense), fused, mask-aware."""

import keras
import numpy as np
import pytest
from _keras_version import keras_at_least
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


def _random_weights(layer, seed):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in layer.get_weights()])


def _dense_twin(layer, shape, **kwargs):
    """A keras Dense with `layer`'s weights, to call on the same 3D input."""
    dense = layers.Dense(layer.units, **kwargs)
    dense.build(shape)
    dense.set_weights(layer.get_weights())
    return dense


def test_is_a_dense_with_its_config_keys():
    layer = TimeDistributedDense(3, lora_rank=2, lora_alpha=4)
    assert isinstance(layer, layers.Dense)
    config = layer.get_config()
    assert config.keys() == layers.Dense(3, lora_rank=2).get_config().keys()
    assert config["lora_rank"] == 2 and config["lora_alpha"] == 4
    assert "quantization_config" in config
    # As Dense: an AttributeError before build (worded by torch.nn.Module on torch).
    with pytest.raises(AttributeError) as ours:
        layer.kernel  # noqa: B018
    with pytest.raises(AttributeError) as dense:
        layers.Dense(3).kernel  # noqa: B018
    assert str(ours.value).replace("TimeDistributedDense", "Dense") == str(dense.value)


def test_a_config_saved_before_lora_and_quantization_still_loads():
    old = {
        "name": "head",
        "trainable": True,
        "dtype": "float32",
        "units": 2,
        "activation": "relu",
        "use_bias": True,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}},
        "bias_initializer": "zeros",
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    layer = TimeDistributedDense.from_config(old)
    assert (layer.name, layer.units, layer.activation) == ("head", 2, keras.activations.relu)
    assert layer.lora_rank is None and layer.quantization_mode is None


@pytest.mark.parametrize("build_with", ["lora_rank", "enable_lora"])
def test_lora_computes_dense_with_lora(build_with):
    shape = (3, 5, 4)
    x = np.random.default_rng(10).normal(size=shape).astype("float32")
    if build_with == "lora_rank":
        layer = TimeDistributedDense(3, lora_rank=2, lora_alpha=3)
        layer.build(shape)
    else:
        layer = TimeDistributedDense(3)
        layer.build(shape)
        layer.enable_lora(2, lora_alpha=3)
    assert [w.name for w in layer.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    _random_weights(layer, 11)
    assert layer.lora_alpha == layer.get_config()["lora_alpha"] == 3
    kernel, bias, a, b = layer.get_weights()
    expected = x @ (kernel + 1.5 * a @ b) + bias
    np.testing.assert_allclose(_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4)
    dense = layers.Dense(3)
    dense.build(shape)
    dense.enable_lora(2, lora_alpha=3)
    dense.set_weights(layer.get_weights())
    np.testing.assert_allclose(_numpy(layer(x)), _numpy(dense(x)), rtol=1e-6, atol=1e-6)


def test_lora_alpha_given_at_construction_survives_the_build():
    """Keras' Dense up to 3.15 enables LoRA in `build` with the rank alone, so its
    scale silently becomes 1 and its saved config loses the alpha; 3.16 keeps it."""
    layer = TimeDistributedDense(3, lora_rank=2, lora_alpha=8)
    layer.build((None, 5, 4))
    assert layer.lora_alpha == 8
    assert layer.get_config()["lora_alpha"] == 8
    dense = layers.Dense(3, lora_rank=2, lora_alpha=8)
    dense.build((None, 4))
    assert dense.lora_alpha == (8 if keras_at_least(3, 16) else 2)


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_quantize_computes_what_a_quantized_dense_computes(mode):
    shape = (4, 7, 32)
    x = np.random.default_rng(12).normal(size=shape).astype("float32")
    layer = TimeDistributedDense(16)
    layer.build(shape)
    _random_weights(layer, 13)
    dense = _dense_twin(layer, shape)
    float_out = _numpy(layer(x))
    layer.quantize(mode)
    dense.quantize(mode)
    assert layer.quantization_mode == mode == layer.dtype_policy.quantization_mode
    out = _numpy(layer(x))
    assert not np.array_equal(out, float_out)
    np.testing.assert_allclose(out, _numpy(dense(x)), rtol=1e-6, atol=1e-6)


def test_model_quantize_reaches_it_and_the_quantized_model_round_trips(tmp_path):
    model = keras.Sequential(
        [keras.Input((5, 8)), TimeDistributedDense(4), TimeDistributedDense(2)]
    )
    for seed, layer in enumerate(model.layers):
        _random_weights(layer, seed)
    x = np.random.default_rng(14).normal(size=(3, 5, 8)).astype("float32")
    model.quantize("int8")
    assert [layer.quantization_mode for layer in model.layers] == ["int8", "int8"]
    model.save(tmp_path / "q.keras")
    restored = keras.saving.load_model(tmp_path / "q.keras")
    assert restored.layers[0].dtype_policy.name == "int8_from_float32"
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_lora_model_round_trips_and_fine_tunes_only_the_adapters(tmp_path):
    model = keras.Sequential([keras.Input((5, 8)), TimeDistributedDense(4, lora_rank=2)])
    _random_weights(model.layers[0], 15)
    x = np.random.default_rng(16).normal(size=(6, 5, 8)).astype("float32")
    kernel_before = _numpy(model.layers[0]._kernel)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((6, 5, 4), "float32"), epochs=1, verbose=0)
    np.testing.assert_array_equal(_numpy(model.layers[0]._kernel), kernel_before)
    model.save(tmp_path / "lora.keras")
    restored = keras.saving.load_model(tmp_path / "lora.keras")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_a_quantized_dtype_policy_builds_quantized():
    layer = TimeDistributedDense(4, dtype="int8_from_float32")
    out = layer(np.ones((2, 3, 6), "float32"))
    assert keras.backend.standardize_dtype(layer._kernel.dtype) == "int8"
    assert out.shape == (2, 3, 4)


@pytest.mark.parametrize(
    "policy", ["float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"]
)
def test_every_dtype_policy_computes_what_dense_computes(policy):
    shape = (2, 4, 5)
    x = np.random.default_rng(17).normal(size=shape).astype("float32")
    layer = TimeDistributedDense(3, dtype=policy)
    layer.build(shape)
    _random_weights(layer, 18)
    dense = _dense_twin(layer, shape, dtype=policy)
    out, expected = layer(x), dense(x)
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    np.testing.assert_array_equal(_numpy(out).astype("float32"), _numpy(expected).astype("float32"))


def test_bfloat16_tensors_are_numeric_and_strings_are_not():
    x = keras.ops.cast(np.ones((2, 3, 4)), "bfloat16")
    assert TimeDistributedDense(2, dtype="bfloat16")(x).shape == (2, 3, 2)
    with pytest.raises(TypeError, match=r"needs numeric `inputs`\. Received: inputs of dtype <U1"):
        TimeDistributedDense(2, name="tdd")(np.full((2, 3, 4), "a"))


def test_a_mask_that_does_not_fit_is_refused_like_time_distributed_does():
    layer = TimeDistributedDense(2, name="head")
    x = np.ones((2, 4, 3), "float32")
    assert layer(x, mask=np.ones((2, 4), bool)).shape == (2, 4, 2)
    with pytest.raises(
        SequenceShapeError,
        match=r"^Layer 'head' \(TimeDistributedDense\): The `mask` passed to the "
        r"`TimeDistributedDense` layer has a shape \(2, 5\) that is incompatible",
    ):
        layer(x, mask=np.ones((2, 5), bool))
    with pytest.raises(SequenceShapeError, match=r"must be at least 2D"):
        layer(x, mask=np.ones((2,), bool))
