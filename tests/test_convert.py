"""convert_time_distributed: same predictions, fast layers, weights copied."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


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


@pytest.mark.backend_independent
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


def _random_weights(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])


def _head_model(**dense_kwargs):
    return keras.Sequential(
        [
            keras.Input((5, 8)),
            layers.TimeDistributed(layers.Dense(6, **dense_kwargs), name="body"),
            layers.TimeDistributed(layers.Dense(3, **dense_kwargs), name="head"),
        ]
    )


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_quantized_dense_heads_become_quantized_time_distributed_dense(mode):
    model = _head_model()
    _random_weights(model, 20)
    # Dense on the 3D input is the reference: Keras' wrapper of a quantized
    # Dense runs the float path on the quantized kernel.
    reference = keras.Sequential([keras.Input((5, 8)), layers.Dense(6), layers.Dense(3)])
    reference.set_weights(model.get_weights())
    model.quantize(mode)
    reference.quantize(mode)
    x = np.random.default_rng(21).normal(size=(3, 5, 8)).astype("float32")
    converted = convert_time_distributed(model)
    for before, after in zip(model.layers, converted.layers, strict=True):
        assert type(after) is TimeDistributedDense and after.name == before.name
        assert after.quantization_mode == mode == before.layer.quantization_mode
        assert after.dtype_policy.name == before.layer.dtype_policy.name
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    for before, after in zip(model.layers, converted.layers, strict=True):
        state = {v.name: _numpy(v) for v in after.weights}
        assert state.keys() == {v.name for v in before.weights}
        for variable in before.weights:
            np.testing.assert_array_equal(state[variable.name], _numpy(variable))


def test_lora_dense_heads_keep_their_adapters():
    model = _head_model()
    for wrapper in model.layers:
        wrapper.layer.enable_lora(2, lora_alpha=4)
    _random_weights(model, 22)
    x = np.random.default_rng(23).normal(size=(3, 5, 8)).astype("float32")
    converted = convert_time_distributed(model)
    head = converted.get_layer("head")
    assert head.lora_enabled and (head.lora_rank, head.lora_alpha) == (2, 4)
    assert [w.name for w in head.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_trainable_flags_dtype_policies_and_names_are_kept():
    model = keras.Sequential(
        [
            keras.Input((5, 8)),
            layers.TimeDistributed(layers.Dense(6), name="frozen_wrapper", trainable=False),
            layers.TimeDistributed(layers.Dense(6, trainable=False), name="frozen_inner"),
            layers.TimeDistributed(layers.Dense(3), name="mixed", dtype="mixed_bfloat16"),
        ]
    )
    _random_weights(model, 24)
    converted = convert_time_distributed(model)
    kinds = {layer.name: (type(layer).__name__, layer.trainable) for layer in converted.layers}
    assert kinds == {
        "frozen_wrapper": ("TimeDistributedDense", False),
        "frozen_inner": ("TimeDistributedDense", False),
        "mixed": ("TimeDistributedDense", True),
    }
    assert converted.get_layer("mixed").dtype_policy.name == "mixed_bfloat16"
    # Only "mixed" trains. (Keras' Sequential still lists the inner Dense of
    # `TimeDistributed(..., trainable=False)` among its trainable weights.)
    assert [w.path.split("/")[-2:] for w in converted.trainable_weights] == [
        ["mixed", "kernel"],
        ["mixed", "bias"],
    ]
    x = np.random.default_rng(25).normal(size=(2, 5, 8)).astype("float32")
    # bfloat16 keeps 8 bits of mantissa: one matmul over the folded steps and
    # stock's matmul per step may round a sum of 8 products differently, by a
    # few units in the last place of the largest product, so the tolerance
    # follows the outputs' scale. Compared in float32: the two bfloat16 outputs
    # need not share a numpy dtype (keras 3.13 with jax 0.4.30 gives float16).
    expected = np.asarray(model.predict(x, verbose=0), dtype="float32")
    actual = np.asarray(converted.predict(x, verbose=0), dtype="float32")
    np.testing.assert_allclose(actual, expected, rtol=2e-2, atol=2e-2 * np.abs(expected).max())


def test_a_frozen_inner_layer_stays_frozen_in_the_fast_wrapper():
    model = keras.Sequential(
        [
            keras.Input((5, 4, 3)),
            layers.TimeDistributed(layers.Conv1D(2, 2, trainable=False), name="conv"),
        ]
    )
    _random_weights(model, 26)
    converted = convert_time_distributed(model)
    conv = converted.get_layer("conv")
    assert type(conv) is TimeDistributed and conv.trainable and not conv.layer.trainable
    assert converted.trainable_weights == []


_FRAMES = (4, 8, 8, 2)


def _two_inputs_one_conv(per_step):
    """Two clips through one shared Conv2D, added: by two stock wrappers, or by a loop.

    The loop is the definition: the one Conv2D called on each step of each clip.
    """
    conv = layers.Conv2D(3, 3)
    clips = [keras.Input(_FRAMES), keras.Input(_FRAMES)]
    if per_step:
        steps = [
            keras.ops.stack([conv(clip[:, t]) for t in range(_FRAMES[0])], axis=1) for clip in clips
        ]
    else:
        steps = [layers.TimeDistributed(conv)(clip) for clip in clips]
    return keras.Model(clips, layers.Add()(steps))


def _one_sgd_step(model, x, y, jit_compile="auto"):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile)
    model.train_on_batch(x, y)
    return model.predict(x, verbose=0)


def _shared_conv_data():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(2, *_FRAMES)).astype("float32") for _ in range(2)]
    return x, rng.normal(size=(2, 4, 6, 6, 3)).astype("float32")


# The reference loop trains under XLA where there is one: TensorFlow's graph without XLA
# trains a layer called eight times in one model wrongly (the Keras bug test below).
_REFERENCE_JIT = keras.config.backend() != "torch"


def test_a_converted_shared_inner_layer_trains_like_the_per_step_loop():
    stock = _two_inputs_one_conv(per_step=False)
    converted = convert_time_distributed(stock)
    wrappers = [layer for layer in converted.layers if isinstance(layer, TimeDistributed)]
    assert len(wrappers) == 2 and wrappers[0].layer is wrappers[1].layer
    loop = _two_inputs_one_conv(per_step=True)
    loop.set_weights(stock.get_weights())
    x, y = _shared_conv_data()
    np.testing.assert_allclose(
        _one_sgd_step(converted, x, y),
        _one_sgd_step(loop, x, y, jit_compile=_REFERENCE_JIT),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.backend("tensorflow")
def test_keras_bug_tensorflow_without_xla_trains_a_layer_called_per_step_wrongly():
    """One SGD step of a Conv2D called on each of 4 steps of two clips, on TensorFlow.

    Under XLA it moves as on jax and torch; in TensorFlow's plain graph both the
    loop itself and Keras' two wrappers of the layer land elsewhere. The converted
    model calls the layer once per clip and trains right either way (above).
    """
    x, y = _shared_conv_data()
    loop = _two_inputs_one_conv(per_step=True)
    weights = loop.get_weights()
    under_xla = _one_sgd_step(loop, x, y, jit_compile=True)
    for per_step in (True, False):
        model = _two_inputs_one_conv(per_step=per_step)
        model.set_weights(weights)
        gap = np.abs(_one_sgd_step(model, x, y, jit_compile=False) - under_xla).max()
        assert gap > 1e-3, per_step
