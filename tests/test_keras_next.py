"""What changes with the next Keras, and what ours does on either side of it.

Keras 3.16 sets `supports_masking=False` on its `TimeDistributed` (keras-team/keras#23235):
after `Embedding(mask_zero=True)` the stock wrapper drops the mask, with a warning, so an
`LSTM` after it runs over the padding. Ours keeps the mask on every Keras. Each test checks
ours against a reference built without any wrapper, and states stock's behaviour in the
form the installed Keras has, so the suite passes on 3.15 and on the nightly alike (the
keras-nightly env runs this file).
"""

import warnings

import keras
import numpy as np
from _keras_version import needs_layer
from keras import layers

import keras_tdplus as tdp

# Two sequences of word ids; 0 is padding, at the end of the first and in the middle of the
# second (a masked LSTM skips a step wherever it is).
WORDS = np.array([[3, 4, 5, 0, 0], [6, 0, 7, 8, 9]])


def _model(wrapper):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    embedded = layers.Embedding(10, 4, mask_zero=True)(inputs)
    per_step = wrapper(layers.Dense(3, activation="tanh"))(embedded)
    return keras.Model(inputs, layers.LSTM(2)(per_step))


def _reference(model, masked):
    """The same weights without a wrapper: Dense on each position, the LSTM given the mask."""
    embedding, dense, lstm = (
        layer for layer in model.layers if layer.weights and not isinstance(layer, keras.Model)
    )
    dense = getattr(dense, "layer", dense)
    steps = keras.ops.convert_to_numpy(dense(embedding(WORDS)))
    mask = WORDS != 0 if masked else np.ones(WORDS.shape, bool)
    return keras.ops.convert_to_numpy(lstm(steps, mask=mask))


def _stock_keeps_the_mask():
    """Whether the installed Keras' TimeDistributed passes a mask on (True up to 3.15)."""
    return layers.TimeDistributed(layers.Dense(1)).supports_masking


def test_ours_keeps_the_mask_for_the_layer_after_it():
    ours = _model(tdp.TimeDistributed)
    expected = _reference(ours, masked=True)
    # The padding changes the unmasked result, so the comparison can tell the two apart.
    assert not np.allclose(expected, _reference(ours, masked=False), atol=1e-3)
    np.testing.assert_allclose(ours.predict(WORDS, verbose=0), expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(WORDS)), expected, rtol=1e-5, atol=1e-6
        )
    # No "will therefore destroy the mask" warning about our wrapper (Keras 3.16 gives one
    # about the LSTM, which reads the mask from its call argument all the same).
    wrapper = ours.layers[2].name
    assert not [str(w.message) for w in caught if f"'{wrapper}'" in str(w.message)]


def test_stock_keeps_or_drops_the_mask_as_this_keras_says():
    stock = _model(layers.TimeDistributed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = stock.predict(WORDS, verbose=0)
    keeps = _stock_keeps_the_mask()
    np.testing.assert_allclose(got, _reference(stock, masked=keeps), rtol=1e-5, atol=1e-6)
    if not keeps:  # Keras 3.16 on: the mask is gone, and Keras says so
        assert any("mask" in str(warning.message) for warning in caught)


def test_ours_says_it_supports_masking_whatever_stock_says():
    wrapper = tdp.TimeDistributed(layers.Dense(1))
    assert wrapper.supports_masking
    mask = keras.ops.convert_to_numpy(
        wrapper.compute_mask(np.zeros((2, 5, 3), "float32"), np.array([[1, 1, 0, 0, 0]] * 2, bool))
    )
    np.testing.assert_array_equal(mask, [[True, True, False, False, False]] * 2)


@needs_layer("TernaryDense")
def test_a_ternary_dense_head_runs_in_place_like_on_each_step():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    wrapper = tdp.TimeDistributed(layers.TernaryDense(3, activation="relu"))
    out = keras.ops.convert_to_numpy(wrapper(x))
    assert wrapper.decision.mode == "in place"
    inner = wrapper.layer
    per_step = np.stack([keras.ops.convert_to_numpy(inner(x[:, t])) for t in range(5)], axis=1)
    np.testing.assert_allclose(out, per_step, rtol=1e-5, atol=1e-6)


@needs_layer("TernaryDense")
def test_a_ternary_dense_counts_the_weights_and_products_of_a_dense():
    layer = layers.TernaryDense(3)
    # Its kernel is rounded to -1, 0 or 1 and scaled element-wise: the products are a Dense's.
    assert tdp.count_flops(layer, (None, 4), batch_size=5) == 2 * 5 * 4 * 3
    assert tdp.count_flops(layer, (None, 4), batch_size=5) == tdp.count_flops(
        layers.Dense(3), (None, 4), batch_size=5
    )
    assert tdp.count_params(layer, (None, 4)) == 4 * 3 + 3
    layer.build((None, 4))
    assert layer.count_params() == 4 * 3 + 3


@needs_layer("Mosaic")
def test_mosaic_mixes_the_batch_so_it_runs_per_step_with_no_weights():
    wrapper = tdp.TimeDistributed(layers.Mosaic(seed=1))
    wrapper.build((2, 3, 8, 8, 3))
    assert wrapper.decision.mode == "per step"
    assert tdp.count_params(layers.Mosaic(), (None, 8, 8, 3)) == 0
    assert tdp.count_flops(layers.Mosaic(), (None, 8, 8, 3), batch_size=2) == 0
