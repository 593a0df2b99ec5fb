"""tf-keras' TimeDistributed tests, ported to Keras 3, run against stock Keras 3 and against ours.

From `tf_keras/layers/rnn/time_distributed_test.py` (keras-team/tf-keras). Each
case takes the wrapper class as an argument. TensorFlow-only pieces are
replaced by their Keras 3 equivalents: `keras.Input` for placeholders,
`keras.ops` for `tf`, an eager mask chain for `keras.backend.function`, and
the expected error sentences are Keras 3's own. Not ported: the ragged-input
cases (Keras 3 has no ragged tensors), the check of tf-keras' private
`_always_use_reshape`, and the checkpoint tracking check.

Stock's result is pinned too (`STOCK_FAILS`), so the claim "ours passes at
least every case stock does" is tested, and a Keras release that fixes stock
shows up here.
"""

import keras
import numpy as np
import pytest
from keras import layers, ops

import keras_tdplus

WRAPPERS = {"stock": layers.TimeDistributed, "ours": keras_tdplus.TimeDistributed}


def _rng(seed=0):
    return np.random.default_rng(seed)


def case_dense(td):
    model = keras.Sequential([keras.Input((3, 4)), td(layers.Dense(2))])
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(
        _rng().random((10, 3, 4)), _rng(1).random((10, 3, 2)), epochs=1, batch_size=10, verbose=0
    )
    model.get_config()
    assert len(model.variables) == 2


def case_static_batch_size(td):
    model = keras.Sequential([keras.Input((3, 4), batch_size=10), td(layers.Dense(2))])
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(
        _rng().random((10, 3, 4)), _rng(1).random((10, 3, 2)), epochs=1, batch_size=10, verbose=0
    )


def case_invalid_init(td):
    with pytest.raises(
        ValueError,
        match=r"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance\.",
    ):
        td(np.zeros((1, 1), "float32"))


def case_conv2d(td):
    model = keras.Sequential(
        [
            keras.Input((2, 4, 4, 3)),
            td(layers.Conv2D(5, (2, 2), padding="same")),
            layers.Activation("relu"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="mse")
    model.train_on_batch(_rng().random((1, 2, 4, 4, 3)), _rng(1).random((1, 2, 4, 4, 5)))
    keras.models.model_from_json(model.to_json(), custom_objects={"TimeDistributed": td}).summary(
        print_fn=lambda *a, **k: None
    )


def case_stacked(td):
    model = keras.Sequential(
        [keras.Input((3, 4)), td(layers.Dense(2)), td(layers.Dense(3)), layers.Activation("relu")]
    )
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(
        _rng().random((10, 3, 4)), _rng(1).random((10, 3, 3)), epochs=1, batch_size=10, verbose=0
    )


def case_regularizers(td):
    model = keras.Sequential(
        [
            keras.Input((3, 4)),
            td(layers.Dense(2, kernel_regularizer="l1", activity_regularizer="l1")),
            layers.Activation("relu"),
        ]
    )
    # Keras 3 records activity losses in an eager call, not at build time.
    model(np.ones((2, 3, 4), "float32"))
    assert len(model.losses) == 2


def case_learning_phase(td):
    keras.utils.set_random_seed(0)
    y = td(layers.Dropout(0.999))(ops.convert_to_tensor(_rng().random((10, 3, 2))), training=True)
    np.testing.assert_allclose(np.mean(ops.convert_to_numpy(y)), 0.0, atol=1e-1, rtol=1e-1)


def case_batchnorm(td):
    model = keras.Sequential(
        [keras.Input((10, 2)), td(layers.BatchNormalization(center=True, scale=True), name="bn")]
    )
    model.compile(optimizer="rmsprop", loss="mse")
    wrapper = model.layers[0]
    np.testing.assert_allclose(wrapper.get_weights()[2], [0, 0])
    np.testing.assert_array_equal(wrapper.get_weights()[3], [1, 1])
    model.train_on_batch(
        _rng().normal(loc=2, scale=2, size=(1, 10, 2)),
        np.broadcast_to(np.array([0, 1]), (1, 10, 2)),
    )
    assert not np.array_equal(wrapper.get_weights()[2], [0, 0])
    assert not np.array_equal(wrapper.get_weights()[3], [1, 1])


def case_trainable(td):
    layer = td(layers.BatchNormalization())
    layer(keras.Input((3, 2)))
    assert len(layer.trainable_weights) == 2
    layer.trainable = False
    assert not layer.trainable_weights
    layer.trainable = True
    assert len(layer.trainable_weights) == 2


def case_masked_embedding_and_unspecified_shape(td):
    model = keras.Sequential(
        [
            keras.Input((None, None), dtype="int32"),
            td(layers.Embedding(5, 6, mask_zero=True)),
            td(layers.SimpleRNN(7, return_sequences=True)),
            td(layers.SimpleRNN(8, return_sequences=False)),
            layers.SimpleRNN(1, return_sequences=False),
        ]
    )
    model.compile(optimizer="rmsprop", loss="mse")
    model_input = _rng().integers(low=1, high=5, size=(10, 3, 4)).astype("int32")
    for i in range(4):
        model_input[i, i:, i:] = 0
    model.fit(model_input, _rng(1).random((10, 1)), epochs=1, batch_size=10, verbose=0)
    h = ops.convert_to_tensor(model_input)
    mask = None
    masks = []
    for layer in model.layers:
        masks.append(layer.compute_mask(h, mask))
        h = layer(h, mask=mask) if mask is not None else layer(h)
        mask = masks[-1]
    reference = [model_input > 0, model_input > 0, np.any(model_input > 0, axis=-1)]
    for actual, expected in zip(masks[:3], reference, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(actual), expected)
    assert masks[-1] is None


def case_masking_layer(td):
    model = keras.Sequential(
        [keras.Input((None, 4)), td(layers.Masking(mask_value=0.0)), td(layers.Dense(5))]
    )
    model.compile(optimizer="rmsprop", loss="mse")
    model_input = _rng().integers(low=1, high=5, size=(10, 3, 4)).astype("float32")
    for i in range(4):
        model_input[i, i:, :] = 0.0
    model.fit(model_input, _rng(1).random((10, 3, 5)), epochs=1, batch_size=6, verbose=0)
    x = ops.convert_to_tensor(model_input)
    mask_0 = model.layers[0].compute_mask(x, None)
    mask_1 = model.layers[1].compute_mask(model.layers[0](x), mask_0)
    expected = np.any(model_input != 0, axis=-1)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask_0), expected)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask_1), expected)


def case_different_time_shapes(td):
    time_dist = td(layers.Dense(5))
    assert tuple(time_dist(keras.Input((10, 13))).shape) == (None, 10, 5)
    assert tuple(time_dist(keras.Input((1, 13))).shape) == (None, 1, 5)
    with pytest.raises(ValueError, match="is incompatible with"):
        time_dist(keras.Input((1, 18)))


def case_invalid_dimensions(td):
    time_dist = td(layers.Dense(5))
    with pytest.raises(
        ValueError, match="`TimeDistributed` Layer should be passed an `input_shape`"
    ):
        time_dist(keras.Input((10,)))


class _Doubling(layers.Layer):
    def call(self, inputs):
        return ops.concatenate([inputs, inputs], axis=-1)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[-1] is not None:
            shape[-1] = shape[-1] * 2
        return shape


class _DoublingTuple(_Doubling):
    def compute_output_shape(self, input_shape):
        return tuple(super().compute_output_shape(input_shape))


def case_output_shape_return_types(td):
    for input_shape, expected in [
        ((3, 2, 4), (3, 2, 8)),
        ((None, 2, 4), (None, 2, 8)),
        ((None, None, 4), (None, None, 8)),
    ]:
        for cls in (_Doubling, _DoublingTuple):
            wrapper = td(cls())
            output = wrapper(keras.Input(batch_shape=input_shape))
            assert tuple(output.shape) == expected
            assert tuple(wrapper.compute_output_shape(input_shape)) == expected


def case_mask_first_implementation(td):
    keras.utils.set_random_seed(100)
    rnn_layer = layers.LSTM(4, return_sequences=True, stateful=True)
    data = np.array(
        [
            [[[1.0], [1.0]], [[0.0], [1.0]]],
            [[[1.0], [0.0]], [[1.0], [1.0]]],
            [[[1.0], [0.0]], [[1.0], [1.0]]],
        ],
        "float32",
    )
    x = keras.Input(shape=(2, 2, 1), batch_size=3)
    model_1 = keras.Model(x, td(rnn_layer)(layers.Masking()(x)))
    output_with_mask = model_1.predict(data, verbose=0)
    model_2 = keras.Model(x, td(rnn_layer)(x))
    output = model_2.predict(data, verbose=0)
    assert not np.allclose(output_with_mask, output, atol=1e-7)


def case_set_static_shape(td):
    outputs = td(layers.Conv2D(16, (3, 3)))(keras.Input(batch_shape=(1, None, 32, 32, 1)))
    assert tuple(outputs.shape) == (1, None, 30, 30, 16)


def case_mimo(td):
    dense_1, dense_2 = layers.Dense(8), layers.Dense(16)

    class TwoDense(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense_1, self.dense_2 = dense_1, dense_2

        def call(self, inputs):
            return self.dense_1(inputs[0]), self.dense_2(inputs[1])

        def compute_output_shape(self, input_shape):
            return (
                self.dense_1.compute_output_shape(input_shape[0]),
                self.dense_2.compute_output_shape(input_shape[1]),
            )

    data = np.array([[[[1.0], [1.0]], [[2.0], [2.0]]], [[[4.0], [4.0]], [[5.0], [5.0]]]], "float32")
    x1, x2 = keras.Input((None, 2, 1)), keras.Input((None, 2, 1))
    y1, y2 = td(TwoDense())([x1, x2])
    model_1 = keras.Model([x1, x2], [y1, y2])
    model_1.compile(optimizer="rmsprop", loss="mse")
    output_1 = model_1.predict((data, data), verbose=0)
    model_2 = keras.Model([x1, x2], [dense_1(x1), dense_2(x2)])
    output_2 = model_2.predict((data, data), verbose=0)
    for a, b in zip(output_1, output_2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model_1.fit(
        [_rng().random((10, 2, 2, 1)), _rng(1).random((10, 2, 2, 1))],
        [_rng(2).random((10, 2, 2, 8)), _rng(3).random((10, 2, 2, 16))],
        epochs=1,
        batch_size=3,
        verbose=0,
    )


def case_attention(td):
    query, value = keras.Input((None, 1, 10)), keras.Input((None, 4, 10))
    model = keras.Model([query, value], td(layers.Attention())([query, value]))
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(
        [_rng().random((10, 8, 1, 10)), _rng(1).random((10, 8, 4, 10))],
        _rng(2).random((10, 8, 1, 10)),
        epochs=1,
        batch_size=10,
        verbose=0,
    )
    model.get_config()
    keras.models.model_from_json(model.to_json(), custom_objects={"TimeDistributed": td})


CASES = {
    name[len("case_") :]: fn for name, fn in dict(globals()).items() if name.startswith("case_")
}

# Where stock Keras 3 fails a ported case, and why.
STOCK_FAILS = {
    "regularizers": "drops the inner activity regularizer (calls the inner `call`)",
    "masked_embedding_and_unspecified_shape": "passes a (batch, time, words) mask on to a "
    "layer that consumes the words",
    "mimo": "refuses several inputs",
    "attention": "refuses several inputs",
    "masking_layer": "drops the mask the inner Masking computes",
    "different_time_shapes": "calls the inner layer's `call`, which skips its input check",
}

# Where ours fails a ported case too, and why.
OURS_FAILS = {
    "different_time_shapes": "calls the inner layer's `call`, as stock does, which skips the "
    "inner layer's input check; a wrong feature size fails later, in the matmul",
}


@pytest.mark.backend_independent
def test_the_port_is_complete_and_ours_passes_every_case_stock_does():
    assert len(CASES) == 18
    assert set(OURS_FAILS) <= set(STOCK_FAILS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_ours(name):
    if name not in OURS_FAILS:
        CASES[name](WRAPPERS["ours"])
        return
    with pytest.raises((Exception, pytest.fail.Exception)):  # any failure of ours
        CASES[name](WRAPPERS["ours"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_stock(name):
    """Stock Keras 3 on the same case: passes, or fails where `STOCK_FAILS` says."""
    if name not in STOCK_FAILS:
        CASES[name](WRAPPERS["stock"])
        return
    with pytest.raises((Exception, pytest.fail.Exception)):  # any failure of stock's
        CASES[name](WRAPPERS["stock"])
