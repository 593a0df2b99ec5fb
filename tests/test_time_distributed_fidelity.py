"""keras_tdplus.TimeDistributed where Keras' wrapper is wrong, against step-by-step loops.

Each test computes the expected result by calling the inner layer on one step
at a time in a Python loop (the definition of "time distributed"), checks ours
against it, and shows what `keras.layers.TimeDistributed` does instead.
"""

import keras
import numpy as np
import pytest
from _keras_version import keras_at_least
from keras import layers

from keras_tdplus import (
    SequenceShapeError,
    TimeDistributed,
    TimeDistributedDense,
    convert_time_distributed,
)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _steps(layer, *xs):
    """`layer` called on each time step of `xs` in turn, stacked on axis 1."""
    steps = xs[0].shape[1]
    outs = [_numpy(layer(*[x[:, t] for x in xs])) for t in range(steps)]
    return np.stack(outs, axis=1)


def _masked_sequences(rng, shape, masked):
    x = rng.uniform(0.5, 1.0, size=shape).astype("float32")
    for b, t in masked:
        x[b, t] = 0.0
    return x


def test_a_masked_step_masks_every_position_of_an_inner_lstm():
    """Masking -> TimeDistributed(Reshape) -> TimeDistributed(LSTM): a masked step
    is an LSTM that sees nothing, so it returns its zero initial state."""
    keras.utils.set_random_seed(0)
    masked = [(0, 1), (2, 3), (1, 0)]
    x = _masked_sequences(np.random.default_rng(0), (3, 4, 4), masked)

    def model(wrapper):
        return keras.Sequential(
            [
                keras.Input((4, 4)),
                layers.Masking(0.0),
                wrapper(layers.Reshape((2, 2))),
                wrapper(layers.LSTM(3)),
            ]
        )

    ours = model(TimeDistributed)
    lstm = ours.layers[-1].layer
    expected = np.zeros((3, 4, 3), "float32")
    for b in range(3):
        for t in range(4):
            if (b, t) not in masked:
                expected[b, t] = _numpy(lstm(x[b : b + 1, t].reshape(1, 2, 2)))[0]
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(ours(x)), expected, rtol=1e-5, atol=1e-6)

    stock = model(layers.TimeDistributed)
    stock.set_weights(ours.get_weights())
    if not keras_at_least(3, 16):  # it hands the LSTM a (batch,) mask for (batch, 2) steps
        with pytest.raises(Exception, match="list assignment index out of range"):
            stock.predict(x, verbose=0)
        return
    # Keras 3.16's wrapper drops the mask and reads the masked steps as data: all zeros, on
    # which this LSTM (zero biases) also ends in its zero state, so here the two agree.
    np.testing.assert_allclose(stock.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("second", ["TimeDistributed", "TimeDistributedDense"])
def test_a_mask_with_unknown_batch_and_time_in_call_predict_fit_and_save(second, tmp_path):
    keras.utils.set_random_seed(0)
    head = (
        TimeDistributed(layers.Dense(5)) if second == "TimeDistributed" else TimeDistributedDense(5)
    )
    model = keras.Sequential(
        [keras.Input((None, 4)), TimeDistributed(layers.Masking(0.0)), head, layers.LSTM(2)]
    )
    x = _masked_sequences(np.random.default_rng(1), (6, 3, 4), [(0, 2), (3, 1)])
    kernel, bias = model.layers[1].get_weights()
    dense = layers.Dense(5)
    dense.build((None, 4))
    dense.set_weights([kernel, bias])
    lstm = model.layers[2]
    # The LSTM skips the steps Masking masks: the reference drops them.
    expected = np.stack(
        [
            _numpy(lstm(_steps(dense, x[b : b + 1][:, [t for t in range(3) if x[b, t].any()]])))[0]
            for b in range(6)
        ]
    )
    np.testing.assert_allclose(_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, np.zeros((6, 2), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def test_an_inner_layer_mask_reaches_the_lstm_in_a_functional_model_saved_and_cloned(tmp_path):
    """Keras' wrapper drops the mask its inner `Masking` computes, so the LSTM
    after it reads the padding; the step loop (padding dropped) is the reference."""
    keras.utils.set_random_seed(0)
    x = _masked_sequences(np.random.default_rng(11), (5, 4, 3), [(0, 3), (1, 2), (1, 3)])

    def model(wrapper):
        inputs = keras.Input((None, 3))
        h = wrapper(layers.Masking(0.0))(inputs)
        h = wrapper(layers.Dense(4))(h)
        return keras.Model(inputs, layers.LSTM(2)(h))

    ours = model(TimeDistributed)
    dense, lstm = ours.layers[2].layer, ours.layers[3]
    kept = [[t for t in range(4) if x[b, t].any()] for b in range(5)]
    expected = np.stack([_numpy(lstm(_steps(dense, x[b : b + 1, kept[b]])))[0] for b in range(5)])
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    ours.save(tmp_path / "m.keras")
    clones = [keras.saving.load_model(tmp_path / "m.keras"), keras.models.clone_model(ours)]
    clones[1].set_weights(ours.get_weights())
    clones.append(convert_time_distributed(ours))
    for clone in clones:
        np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    stock = model(layers.TimeDistributed)
    stock.set_weights(ours.get_weights())
    assert not np.allclose(stock.predict(x, verbose=0), expected, atol=1e-3)


SENTENCES, WORDS = 4, 6

# jit_compile on torch is torch.compile, minutes on a CPU: the jit case runs on
# TensorFlow and JAX, the eager one everywhere.
JIT = [
    pytest.param(False, id="eager"),
    pytest.param(True, id="jit", marks=pytest.mark.backend("tensorflow", "jax")),
]


def _word_ids():
    """`(documents, sentences, words)` ids, 0 for padding, words padded at the front
    (`pad_sequences`' default), so a sentence's first word says nothing of the sentence."""
    ids = np.random.default_rng(21).integers(1, 20, size=(3, SENTENCES, WORDS))
    ids[0, 2:] = 0  # two padded sentences
    ids[1, :, :4] = 0  # two words each
    ids[1, 3] = 0
    ids[2, 1, :5] = 0  # one word
    ids[2, 0] = 0  # a padded sentence before valid ones
    return ids


def _document_model(wrapper, words, **kwargs):
    """Word ids -> Embedding(mask_zero) -> wrapper(sentence encoder) -> LSTM over sentences."""
    ids = keras.Input((SENTENCES if words else None, words), dtype="int32")
    embedded = layers.Embedding(20, 8, mask_zero=True)(ids)
    encoder = keras.Sequential([keras.Input((words, 8)), layers.LSTM(5)])
    sentences = wrapper(encoder, **kwargs)(embedded)
    return keras.Model(ids, layers.LSTM(3)(sentences)), sentences


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize(
    "words, skip",
    [(WORDS, False), (None, False), (WORDS, True)],
    ids=["known_sizes", "unknown_sizes", "skip_masked_steps"],
)
def test_a_sentence_encoder_over_word_ids_gives_the_next_lstm_a_sentence_mask(words, skip, jit):
    """The encoder's output is one vector per sentence, so its mask is one value per sentence:
    valid while any of its words is. The reference is the same layers with that mask given."""
    keras.utils.set_random_seed(0)
    ids = _word_ids()
    model, sentences = _document_model(TimeDistributed, words, skip_masked_steps=skip)
    assert tuple(sentences._keras_mask.shape) == (None, SENTENCES if words else None)
    embedding, wrapper, lstm = model.layers[1:]
    x = keras.ops.convert_to_tensor(ids)
    sentence_mask = (ids != 0).any(axis=-1)
    np.testing.assert_array_equal(_numpy(wrapper.compute_mask(embedding(x), x != 0)), sentence_mask)
    expected = _numpy(lstm(wrapper(embedding(x), mask=x != 0), mask=sentence_mask))
    model.compile(jit_compile=jit)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)

    if not keras_at_least(3, 16):  # Keras 3.16's wrapper drops the mask instead
        _, stock = _document_model(layers.TimeDistributed, words)
        assert tuple(stock._keras_mask.shape) == tuple(sentences.shape[:2]) + (words,)


def _loop_mask(layer, x, mask):
    """The loop's output mask: each step's mask, its axes beyond those of the step's
    output reduced by `any`, stacked on the time axis."""
    steps = []
    for t in range(x.shape[1]):
        output_rank = len(layer(x[:, t]).shape)
        step = mask[:, t]
        steps.append(step.any(axis=tuple(range(max(1, output_rank - 1), step.ndim))))
    return np.stack(steps, axis=1)


@pytest.mark.parametrize(
    "inner",
    [
        lambda: keras.Sequential([layers.LSTM(3)]),
        lambda: layers.LSTM(3),
        lambda: layers.GlobalAveragePooling1D(),
        lambda: layers.Flatten(),
        lambda: layers.Lambda(
            lambda x: keras.ops.sum(x, axis=1),
            mask=lambda x, m: None if m is None else keras.ops.any(m, axis=1),
        ),
        # The output keeps the word axis, so the mask keeps it, unchanged.
        lambda: layers.Dense(3),
        lambda: layers.LSTM(3, return_sequences=True),
        lambda: layers.Conv1D(3, 3, padding="same"),
        lambda: keras.Sequential([layers.Dense(3)]),
    ],
    ids=[
        "Sequential_LSTM",
        "LSTM",
        "GlobalAveragePooling1D",
        "Flatten",
        "Lambda_pooling_its_mask",
        "Dense",
        "LSTM_sequences",
        "Conv1D_same",
        "Sequential_Dense",
    ],
)
def test_the_output_mask_has_the_axes_of_each_steps_output(inner):
    rng = np.random.default_rng(22)
    x = rng.normal(size=(3, SENTENCES, WORDS, 2)).astype("float32")
    mask = rng.uniform(size=(3, SENTENCES, WORDS)) < 0.6
    mask[0, 1] = False
    mask[2, 3] = False
    layer = inner()
    wrapper = TimeDistributed(layer)
    wrapper(x)
    expected = _loop_mask(layer, x, mask)
    np.testing.assert_array_equal(_numpy(wrapper.compute_mask(x, mask)), expected)
    symbolic = TimeDistributed(layer)(layers.Masking(0.0)(keras.Input((None, None, 2))))
    assert tuple(symbolic._keras_mask.shape) == (None,) * expected.ndim


@pytest.mark.parametrize(
    "inner, shape",
    [
        (lambda: layers.Dense(3, activity_regularizer=keras.regularizers.L2(0.1)), (4, 5, 2)),
        (
            lambda: layers.Conv1D(2, 2, activity_regularizer=keras.regularizers.L1(0.2)),
            (3, 4, 6, 2),
        ),
    ],
)
def test_the_inner_activity_regularizer_is_kept(inner, shape):
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    ours = TimeDistributed(inner())
    ours(x)
    (loss,) = ours.losses
    # The step loop: one `__call__` per step, each adding its loss.
    reference = inner()
    reference.build(shape[:1] + shape[2:])
    reference.set_weights(ours.get_weights())
    total = 0.0
    for t in range(shape[1]):
        reference(x[:, t])
        total += sum(float(_numpy(step_loss)) for step_loss in reference.losses)
    assert total > 0
    np.testing.assert_allclose(float(_numpy(loss)), total, rtol=1e-5)

    stock = layers.TimeDistributed(inner())
    stock(x)
    assert stock.losses == []


def test_the_activity_regularizer_counts_in_fit():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(3).normal(size=(8, 4, 3)).astype("float32")
    y = np.zeros((8, 4, 2), "float32")
    regularized = keras.Sequential(
        [
            keras.Input((4, 3)),
            TimeDistributed(layers.Dense(2, activity_regularizer=keras.regularizers.L2(1.0))),
        ]
    )
    plain = keras.Sequential([keras.Input((4, 3)), TimeDistributed(layers.Dense(2))])
    plain.set_weights(regularized.get_weights())
    for model in (regularized, plain):
        model.compile(optimizer="sgd", loss="mse")
    with_penalty = regularized.evaluate(x, y, batch_size=8, verbose=0)
    without = plain.evaluate(x, y, batch_size=8, verbose=0)
    outputs = plain.predict(x, verbose=0)
    np.testing.assert_allclose(with_penalty - without, np.sum(outputs**2) / 8, rtol=1e-4)


def test_several_inputs_attention_over_each_step():
    rng = np.random.default_rng(4)
    q = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    v = rng.normal(size=(2, 3, 6, 5)).astype("float32")
    attention = layers.Attention(use_scale=True)
    ours = TimeDistributed(attention)
    out = ours([q, v])
    expected = np.stack([_numpy(attention([q[:, t], v[:, t]])) for t in range(3)], axis=1)
    np.testing.assert_allclose(_numpy(out), expected, rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape([q.shape, v.shape]) == (2, 3, 4, 5)

    qi, vi = keras.Input((None, 4, 5)), keras.Input((None, 6, 5))
    model = keras.Model([qi, vi], TimeDistributed(attention)([qi, vi]))
    np.testing.assert_allclose(model.predict([q, v], verbose=0), expected, rtol=1e-5, atol=1e-6)

    with pytest.raises(ValueError, match="should be passed an `input_shape` with at least 3"):
        layers.TimeDistributed(layers.Attention())([q, v])


def test_several_inputs_concatenate_and_a_dict_input_model():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 3, 4)).astype("float32")
    b = rng.normal(size=(2, 3, 2)).astype("float32")
    np.testing.assert_array_equal(
        _numpy(TimeDistributed(layers.Concatenate())([a, b])), np.concatenate([a, b], -1)
    )
    ia, ib = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    inner = keras.Model({"a": ia, "b": ib}, layers.Dense(3)(layers.Concatenate()([ia, ib])))
    out = TimeDistributed(inner)({"a": a, "b": b})
    expected = np.stack([_numpy(inner({"a": a[:, t], "b": b[:, t]})) for t in range(3)], 1)
    np.testing.assert_allclose(_numpy(out), expected, rtol=1e-5, atol=1e-6)


def test_nested_outputs_come_back_per_step():
    x = np.random.default_rng(6).normal(size=(2, 3, 5)).astype("float32")
    i = keras.Input((5,))
    inner = keras.Model(i, [layers.Dense(2)(i), layers.Dense(3)(i)])
    outs = TimeDistributed(inner)(x)
    expected = [np.stack([_numpy(inner(x[:, t])[k]) for t in range(3)], 1) for k in range(2)]
    for out, want in zip(outs, expected, strict=True):
        np.testing.assert_allclose(_numpy(out), want, rtol=1e-5, atol=1e-6)
    inputs = keras.Input((None, 5))
    symbolic = TimeDistributed(inner)(inputs)
    assert [tuple(o.shape) for o in symbolic] == [(None, None, 2), (None, None, 3)]


def test_inputs_with_different_time_axes_are_refused():
    a = np.zeros((2, 3, 4), "float32")
    with pytest.raises(
        SequenceShapeError,
        match=r"^Layer 'pair' \(TimeDistributed\) got inputs whose batch or time axes differ"
        r"(?s:.*)Received: shapes \(2, 3, 4\), \(2, 5, 4\)\n"
        r"  Expected: every input of shape \(2, 3, \.\.\.\)",
    ):
        TimeDistributed(layers.Concatenate(), name="pair")([a, np.zeros((2, 5, 4), "float32")])


def _trained_dense_pair(rng, features=32, units=16):
    """A TimeDistributed(Dense) model and a Dense model with the same random weights."""
    ours = keras.Sequential([keras.Input((7, features)), TimeDistributed(layers.Dense(units))])
    plain = keras.Sequential([keras.Input((7, features)), layers.Dense(units)])
    weights = [rng.normal(size=w.shape).astype("float32") for w in plain.get_weights()]
    ours.set_weights(weights)
    plain.set_weights(weights)
    return ours, plain


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_a_quantized_inner_dense_computes_the_quantized_dense(mode):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 7, 32)).astype("float32")
    ours, plain = _trained_dense_pair(rng)
    float_out = plain.predict(x, verbose=0)
    ours.quantize(mode)
    plain.quantize(mode)
    quantized = plain.predict(x, verbose=0)
    assert not np.array_equal(quantized, float_out)
    np.testing.assert_allclose(ours.predict(x, verbose=0), quantized, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_numpy(ours(x)), quantized, rtol=1e-5, atol=1e-5)


def test_keras_wrapper_runs_the_float_path_on_int8_kernels():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 7, 32)).astype("float32")
    _, plain = _trained_dense_pair(rng)
    stock = keras.Sequential([keras.Input((7, 32)), layers.TimeDistributed(layers.Dense(16))])
    stock.set_weights(plain.get_weights())
    plain.quantize("int8")
    stock.quantize("int8")
    expected = plain.predict(x, verbose=0)
    gap = np.abs(stock.predict(x, verbose=0) - expected).max()
    assert gap > 10 * np.abs(expected).max()


def test_a_lora_inner_dense_uses_its_merged_kernel():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    dense = layers.Dense(3)
    ours = TimeDistributed(dense)
    ours.build(x.shape)
    dense.enable_lora(2)
    dense.set_weights([rng.normal(size=w.shape).astype("float32") for w in dense.get_weights()])
    np.testing.assert_allclose(_numpy(ours(x)), _steps(dense, x), rtol=1e-5, atol=1e-5)


def test_batch_normalization_in_training_uses_every_frame_at_once():
    """A choice, not a fix: the statistics of one training call come from all
    `batch * time` frames (one moving-average update), where Keras' wrapper
    normalizes each step by its own batch (one update per step). In inference
    both use the moving statistics and agree."""
    x = np.random.default_rng(10).normal(size=(4, 3, 5)).astype("float32")
    x[:, 1] += 5.0  # step 1 has another mean than the others
    ours = TimeDistributed(layers.BatchNormalization(momentum=0.5))
    stock = layers.TimeDistributed(layers.BatchNormalization(momentum=0.5))
    trained = _numpy(ours(x, training=True))
    frames = x.reshape(12, 5)
    expected = (frames - frames.mean(0)) / np.sqrt(frames.var(0) + 1e-3)
    np.testing.assert_allclose(trained, expected.reshape(4, 3, 5), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_numpy(ours.layer.moving_mean), 0.5 * frames.mean(0), rtol=1e-5)

    per_step = _numpy(stock(x, training=True))
    step_1 = x[:, 1]
    expected_step_1 = (step_1 - step_1.mean(0)) / np.sqrt(step_1.var(0) + 1e-3)
    np.testing.assert_allclose(per_step[:, 1], expected_step_1, rtol=1e-4, atol=1e-4)

    stock.set_weights(ours.get_weights())
    np.testing.assert_allclose(
        _numpy(ours(x, training=False)), _numpy(stock(x, training=False)), rtol=1e-5, atol=1e-5
    )


def test_the_symbolic_dtype_is_the_inner_layers_output_dtype_unlike_keras():
    """A wrapped Discretization returns integers; the model must say so."""
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4)).astype("float32")
    expected = _steps(layers.Discretization([0.0, 0.5]), x)
    assert expected.dtype == np.int32
    inputs = keras.Input((3, 4))
    ours = keras.Model(inputs, TimeDistributed(layers.Discretization([0.0, 0.5]))(inputs))
    assert ours.output.dtype == "int32"
    predicted = ours.predict(x, verbose=0)
    assert predicted.dtype == np.int32 and np.array_equal(predicted, expected)
    stock = layers.TimeDistributed(layers.Discretization([0.0, 0.5]))(inputs)
    assert stock.dtype == "float32"
