"""`skip_masked_steps=True`: the inner layer runs on valid steps only, masked steps are zeros.

The reference is the same model with `skip_masked_steps=False` (the ordinary
wrapper, which equals the per-step loop) and the same random non-zero
weights: on every valid step the outputs, the losses and the weights after a
few SGD steps must equal the reference's; on every masked step the output is
exactly 0. A step is masked when all of its mask positions are masked, and,
with several inputs, when it is masked in every mask. The output mask is the
reference's. Checked in an eager call with `mask=`, in `predict`/`evaluate`/
`fit` with jit on and off, with a dynamic time axis, under mixed precision,
through config, `.keras` files and `convert_time_distributed`, and that a jit
compiles a bounded number of packed sizes (`capacities`), not one per count.
"""

import keras
import numpy as np
import pytest
from keras import layers, ops

import keras_tdplus
from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed
from keras_tdplus.layers._masked_steps import capacities

B, T, S, F = 3, 4, 3, 2
TOL = {"rtol": 1e-5, "atol": 1e-6}
TRAIN_TOL = {"rtol": 1e-4, "atol": 1e-5}
LEARNING_RATE = 0.1
BACKEND = keras.config.backend()

# jit_compile on torch is torch.compile, minutes on a CPU: one test of its own
# covers it, and the jit case of the others runs on TensorFlow and JAX.
JIT = [
    pytest.param(False, id="eager"),
    pytest.param(True, id="jit", marks=pytest.mark.backend("tensorflow", "jax")),
]


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _data(*shape, seed=0):
    """Values away from zero, so `Masking(0.0)` masks only what a test zeroes."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype("float32")


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            (rng.uniform(0.2, 1.0, w.shape) * rng.choice([-1.0, 1.0], w.shape)).astype(w.dtype)
            for w in model.get_weights()
        ]
    )


def _step_mask(batch, steps, seed=0):
    """(batch, steps) bool: sample 0 has no valid step, sample 1 all, the rest random."""
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, steps)) < 0.6
    mask[0] = False
    mask[1] = True
    if batch > 2:
        mask[2, 0] = True
        mask[2, -1] = False
    return mask


def _position_mask(step_mask, positions, seed=0):
    """(batch, steps, positions): a valid step has some (not always all) positions valid."""
    rng = np.random.default_rng(seed)
    mask = rng.random((*step_mask.shape, positions)) < 0.6
    mask[..., 0] |= step_mask
    mask &= step_mask[..., None]
    return mask


def _check_valid_and_zero(actual, expected, valid, tol=TOL):
    """Valid steps equal the reference, masked steps are exactly zero."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert valid.any() and (~valid).any(), "the test data must have both kinds of steps"
    np.testing.assert_allclose(actual[valid], expected[valid], **tol)
    np.testing.assert_array_equal(actual[~valid], np.zeros_like(actual[~valid]))


# 1. An eager call with `mask=`.


class Product(layers.Layer):
    """Two inputs, one output: `a * b @ kernel`."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[0][-1], 3), initializer="ones")

    def call(self, inputs):
        a, b = inputs
        return ops.matmul(a * b, self.kernel)


def _conv_pool():
    return keras.Sequential(
        [layers.Conv1D(3, 2, activation="tanh"), layers.GlobalAveragePooling1D(), layers.Dense(2)]
    )


# name: (inner layer factory, input shapes, whether the mask is per position)
EAGER = {
    "dense": (lambda: layers.Dense(3), [(B, T, F)], False),
    "lstm_over_inner_axis": (lambda: layers.LSTM(3), [(B, T, S, F)], True),
    "conv1d_pool": (_conv_pool, [(B, T, S, F)], False),
    "nested_time_distributed_dense": (
        lambda: TimeDistributed(layers.Dense(3)),
        [(B, T, S, F)],
        True,
    ),
    "add_two_inputs": (layers.Add, [(B, T, F), (B, T, F)], False),
    "product_two_inputs": (Product, [(B, T, F), (B, T, F)], False),
}


def _eager_pair(name):
    """(skip, reference) wrappers with the same random weights, the inputs and the masks."""
    factory, shapes, per_position = EAGER[name]
    xs = [_data(*shape, seed=i) for i, shape in enumerate(shapes)]
    if len(xs) == 1:
        step_masks = [_step_mask(B, T, seed=3)]
    else:
        # Each input has its own mask; a step is valid when valid in either.
        first = _step_mask(B, T, seed=3)
        second = _step_mask(B, T, seed=4)
        first[2, 1:3], second[2, 1:3] = [True, False], [False, True]
        second[0] = False
        step_masks = [first, second]
    masks = [_position_mask(m, S, seed=5) if per_position else m for m in step_masks]
    valid = np.any(step_masks, axis=0)
    x = xs if len(xs) > 1 else xs[0]
    mask = masks if len(masks) > 1 else masks[0]
    ours = TimeDistributed(factory(), skip_masked_steps=True)
    reference = TimeDistributed(factory())
    ours(x, mask=mask)
    reference(x, mask=mask)
    _randomize(reference, seed=len(name))
    ours.set_weights(reference.get_weights())
    return ours, reference, x, mask, valid


@pytest.mark.parametrize("name", sorted(EAGER))
def test_an_eager_call_with_a_mask_computes_valid_steps_and_zeros_the_rest(name):
    ours, reference, x, mask, valid = _eager_pair(name)
    assert ours.skip_masked_steps is True
    assert reference.skip_masked_steps is False
    actual = _numpy(ours(x, mask=mask))
    expected = _numpy(reference(x, mask=mask))
    _check_valid_and_zero(actual, expected, valid)
    # Sample 0 has no valid step: all zeros.
    assert not np.any(actual[0])
    # The output mask does not depend on the flag.
    ours_mask, reference_mask = ours.compute_mask(x, mask), reference.compute_mask(x, mask)
    assert (ours_mask is None) == (reference_mask is None)
    if reference_mask is not None:
        np.testing.assert_array_equal(_numpy(ours_mask), _numpy(reference_mask))


def test_valid_steps_equal_the_per_step_loop():
    layer = layers.Dense(3)
    ours = TimeDistributed(layer, skip_masked_steps=True)
    x = _data(B, T, F, seed=6)
    mask = _step_mask(B, T, seed=7)
    ours(x, mask=mask)
    _randomize(layer, seed=8)
    loop = _numpy(ops.stack([layer(x[:, t]) for t in range(T)], axis=1))
    _check_valid_and_zero(_numpy(ours(x, mask=mask)), loop, mask)


def test_without_a_mask_it_is_the_ordinary_wrapper():
    x = _data(B, T, S, F, seed=9)
    ours = TimeDistributed(layers.LSTM(3), skip_masked_steps=True)
    reference = TimeDistributed(layers.LSTM(3))
    reference(x)
    ours(x)
    _randomize(reference, seed=10)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(_numpy(ours(x)), _numpy(reference(x)), **TOL)
    assert ours.compute_mask(x, None) is None


@pytest.mark.parametrize("per_position", [False, True], ids=["step_mask", "position_mask"])
def test_a_batch_with_every_step_masked_gives_zeros(per_position):
    x = _data(B, T, S, F, seed=11)
    mask = np.zeros((B, T, S) if per_position else (B, T), bool)
    inner = layers.LSTM(3) if per_position else _conv_pool()
    ours = TimeDistributed(inner, skip_masked_steps=True)
    out = _numpy(ours(x, mask=mask))
    assert out.shape == (B, T, 3 if per_position else 2)
    np.testing.assert_array_equal(out, np.zeros_like(out))


# 2. Mask sources in a functional model; predict and evaluate.


def _masking_model(skip, steps=T):
    inputs = keras.Input((steps, F))
    h = layers.Masking(0.0)(inputs)
    h = TimeDistributed(layers.Dense(3, activation="tanh"), skip_masked_steps=skip)(h)
    return keras.Model(inputs, h)


def _embedding_model(skip):
    ids = keras.Input((T, S), dtype="int32")
    h = layers.Embedding(7, 4, mask_zero=True)(ids)
    h = TimeDistributed(layers.LSTM(3), skip_masked_steps=skip)(h)
    return keras.Model(ids, h)


def _explicit_mask_model(skip):
    inputs = keras.Input((T, F))
    mask = keras.Input((T,), dtype="bool")
    h = TimeDistributed(layers.Dense(3), skip_masked_steps=skip)(inputs, mask=mask)
    return keras.Model([inputs, mask], h)


def _masking_data(batch=B, steps=T, seed=12):
    valid = _step_mask(batch, steps, seed=seed)
    x = _data(batch, steps, F, seed=seed) * valid[..., None]
    return x, valid


def _embedding_data(seed=13):
    valid = _step_mask(B, T, seed=seed)
    positions = _position_mask(valid, S, seed=seed)
    ids = np.random.default_rng(seed).integers(1, 7, (B, T, S)) * positions
    return ids.astype("int32"), valid


def _explicit_mask_data(seed=14):
    valid = _step_mask(B, T, seed=seed)
    return [_data(B, T, F, seed=seed), valid], valid


SOURCES = {
    "masking": (_masking_model, _masking_data),
    "embedding_mask_zero": (_embedding_model, _embedding_data),
    "explicit_bool_input": (_explicit_mask_model, _explicit_mask_data),
}


def _model_pair(build, seed):
    reference = build(False)
    _randomize(reference, seed)
    ours = build(True)
    ours.set_weights(reference.get_weights())
    return ours, reference


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_predict_and_evaluate_equal_the_ordinary_wrapper(source, jit):
    build, data = SOURCES[source]
    ours, reference = _model_pair(build, seed=15)
    x, valid = data()
    # The symbolic output carries the same mask either way.
    ours_mask = getattr(ours.outputs[0], "_keras_mask", None)
    reference_mask = getattr(reference.outputs[0], "_keras_mask", None)
    assert (ours_mask is None) == (reference_mask is None)
    if reference_mask is not None:
        assert ours_mask.shape == reference_mask.shape
    for model in (ours, reference):
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
    if BACKEND == "tensorflow" and jit:
        # No XLA for the packed path on TensorFlow: the flag turns jit off.
        assert ours.jit_compile is False
    expected = reference.predict(x, batch_size=B, verbose=0)
    actual = ours.predict(x, batch_size=B, verbose=0)
    _check_valid_and_zero(actual, expected, valid)
    y = _data(*expected.shape, seed=16)
    np.testing.assert_allclose(
        ours.evaluate(x, y, batch_size=B, verbose=0),
        reference.evaluate(x, y, batch_size=B, verbose=0),
        **TOL,
    )


# 3. Training.


def _masked_lstm_model(skip):
    inputs = keras.Input((T, S, F))
    h = layers.Masking(0.0)(inputs)
    h = TimeDistributed(layers.LSTM(3), skip_masked_steps=skip)(h)
    return keras.Model(inputs, layers.Dense(2)(h))


def _masked_lstm_data(seed=17):
    valid = _step_mask(B, T, seed=seed)
    positions = _position_mask(valid, S, seed=seed)
    return _data(B, T, S, F, seed=seed) * positions[..., None], valid


TRAINED = {
    "masking_dense": (_masking_model, _masking_data),
    "masking_lstm_over_inner_axis": (_masked_lstm_model, _masked_lstm_data),
}


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("name", sorted(TRAINED))
def test_fit_with_a_masked_loss_gives_the_ordinary_wrappers_weights(name, jit):
    build, data = TRAINED[name]
    ours, reference = _model_pair(build, seed=18)
    x, valid = data()
    x = np.concatenate([x, x[::-1]])
    y = _data(2 * B, T, *reference.output_shape[2:], seed=19)
    for model in (ours, reference):
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", jit_compile=jit)
    if BACKEND == "tensorflow" and jit:
        assert ours.jit_compile is False
    before = [_numpy(w) for w in reference.weights]
    histories = [
        model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0).history["loss"]
        for model in (ours, reference)
    ]
    np.testing.assert_allclose(histories[0], histories[1], **TRAIN_TOL)
    assert any(
        not np.allclose(b, _numpy(w)) for b, w in zip(before, reference.weights, strict=True)
    )
    for a, e in zip(ours.weights, reference.weights, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(e), err_msg=a.path, **TRAIN_TOL)


@pytest.mark.parametrize("jit", JIT)
def test_fit_with_dropout_and_batch_normalization_runs_and_masked_steps_are_zero(jit):
    inputs = keras.Input((T, F))
    h = layers.Masking(0.0)(inputs)
    inner = keras.Sequential(
        [layers.Dense(4), layers.Dropout(0.5), layers.BatchNormalization(), layers.Dense(3)]
    )
    wrapper = TimeDistributed(inner, skip_masked_steps=True)
    model = keras.Model(inputs, wrapper(h))
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", jit_compile=jit)
    x, valid = _masking_data(seed=20)
    x = np.concatenate([x, x[::-1]])
    valid = np.concatenate([valid, valid[::-1]])
    history = model.fit(x, _data(2 * B, T, 3, seed=21), batch_size=B, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    out = model.predict(x, batch_size=B, verbose=0)
    assert np.isfinite(out).all()
    assert np.any(out[valid])
    np.testing.assert_array_equal(out[~valid], np.zeros_like(out[~valid]))


# 4. A dynamic time axis.


def test_a_dynamic_time_axis_predicts_two_lengths_like_the_ordinary_wrapper():
    ours, reference = _model_pair(lambda skip: _masking_model(skip, steps=None), seed=22)
    for steps, seed in ((3, 23), (6, 24)):
        x, valid = _masking_data(steps=steps, seed=seed)
        expected = reference.predict(x, batch_size=B, verbose=0)
        actual = ours.predict(x, batch_size=B, verbose=0)
        assert actual.shape == (B, steps, 3)
        _check_valid_and_zero(actual, expected, valid)


# 5. A bounded number of compiled sizes.

_TRACES = {"count": 0}


class CountsTraces(layers.Layer):
    """A Dense whose `call` counts how often Python runs it (once per trace under jit)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 3), initializer="ones")

    def call(self, x):
        _TRACES["count"] += 1
        return ops.tanh(ops.matmul(x, self.kernel))


def _counted_model():
    inputs = keras.Input((T, F))
    h = layers.Masking(0.0)(inputs)
    outputs = TimeDistributed(CountsTraces(), skip_masked_steps=True)(h)
    model = keras.Model(inputs, outputs)
    _randomize(model, seed=25)
    return model


def _batches_with_every_valid_count(count=10, seed=26):
    """`count` batches of (B, T, F), their valid step counts spread over 0..B*T."""
    rng = np.random.default_rng(seed)
    xs, valids = [], []
    for i, valid_rows in enumerate(np.linspace(0, B * T, count).round().astype(int)):
        valid = np.zeros(B * T, bool)
        valid[rng.permutation(B * T)[:valid_rows]] = True
        valid = valid.reshape(B, T)
        xs.append(_data(B, T, F, seed=seed + i) * valid[..., None])
        valids.append(valid)
    return np.concatenate(xs), np.concatenate(valids)


@pytest.mark.backend("jax")
def test_jax_jit_traces_the_inner_layer_at_most_once_per_capacity():
    model = _counted_model()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", jit_compile=True)
    x, valid = _batches_with_every_valid_count()
    y = _data(*x.shape[:2], 3, seed=27)
    # At most one trace per packed size, plus a couple for the first (build) trace.
    bound = len(capacities(B * T)) + 2
    _TRACES["count"] = 0
    out = model.predict(x, batch_size=B, verbose=0)
    first = _TRACES["count"]
    assert 1 <= first <= bound, f"{first} traces in predict over 10 padded batches, bound {bound}"
    np.testing.assert_array_equal(out[~valid], 0.0)
    _TRACES["count"] = 0
    model.predict(x, batch_size=B, verbose=0)
    assert _TRACES["count"] == 0, "a second predict pass over the same batches retraced"
    _TRACES["count"] = 0
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    first = _TRACES["count"]
    assert 1 <= first <= bound, f"{first} traces in fit over 10 padded batches, bound {bound}"
    _TRACES["count"] = 0
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    assert _TRACES["count"] == 0, "a second fit pass over the same batches retraced"


@pytest.mark.backend("torch")
def test_torch_compile_compiles_once_for_batches_of_one_bucket():
    import torch._dynamo

    torch._dynamo.reset()
    inputs = keras.Input((T, F))
    h = layers.Masking(0.0)(inputs)
    # No Python counter here: dynamo guards on a global int it reads, and a
    # counter that changes would recompile every call on its own.
    outputs = TimeDistributed(layers.Dense(3, activation="tanh"), skip_masked_steps=True)(h)
    model = keras.Model(inputs, outputs)
    _randomize(model, seed=25)
    model.compile(loss="mse", jit_compile=True)
    # Two batches of 7 and 8 valid steps: one bucket, different counts (torch.compile
    # is slow on a CPU, so one bucket is compiled, not all of them).
    rows = B * T
    (bucket,) = {next(c for c in capacities(rows) if c >= n) for n in (7, 8)}
    assert bucket < rows
    rng = np.random.default_rng(26)
    batches = []
    for count in (7, 8):
        valid = np.zeros(rows, bool)
        valid[rng.permutation(rows)[:count]] = True
        valid = valid.reshape(B, T)
        batches.append((_data(B, T, F, seed=count) * valid[..., None], valid))
    counters = torch._dynamo.utils.counters
    first = model.predict(batches[0][0], batch_size=B, verbose=0)
    np.testing.assert_array_equal(first[~batches[0][1]], 0.0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1, "torch.compile did not compile the predict step"
    second = model.predict(batches[1][0], batch_size=B, verbose=0)
    np.testing.assert_array_equal(second[~batches[1][1]], 0.0)
    assert counters["stats"]["unique_graphs"] == graphs, (
        f"a batch with another count in the same bucket compiled "
        f"{counters['stats']['unique_graphs'] - graphs} new graph(s)"
    )
    again = model.predict(batches[0][0], batch_size=B, verbose=0)
    assert counters["stats"]["unique_graphs"] == graphs
    np.testing.assert_array_equal(again, first)


# 6. Mixed precision.


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_outputs_float16_zeros_and_the_ordinary_values(mixed_float16):
    x = _data(B, T, F, seed=28)
    mask = _step_mask(B, T, seed=29)
    ours = TimeDistributed(layers.Dense(3), skip_masked_steps=True)
    reference = TimeDistributed(layers.Dense(3))
    reference(x, mask=mask)
    ours(x, mask=mask)
    _randomize(reference, seed=30)
    ours.set_weights(reference.get_weights())
    actual = ours(x, mask=mask)
    assert keras.backend.standardize_dtype(actual.dtype) == "float16"
    _check_valid_and_zero(
        _numpy(actual).astype("float32"),
        _numpy(reference(x, mask=mask)).astype("float32"),
        mask,
        tol={"rtol": 1e-2, "atol": 1e-2},
    )


# 7. Config, files, errors, the converter.


@pytest.mark.backend_independent
def test_config_has_the_flag_only_when_true_and_round_trips():
    assert "skip_masked_steps" not in TimeDistributed(layers.Dense(2)).get_config()
    config = TimeDistributed(layers.Dense(2), skip_masked_steps=True).get_config()
    assert config["skip_masked_steps"] is True
    assert TimeDistributed.from_config(config).skip_masked_steps is True
    plain = TimeDistributed.from_config(TimeDistributed(layers.Dense(2)).get_config())
    assert plain.skip_masked_steps is False


def test_a_keras_file_round_trips_the_flag_and_the_values(tmp_path):
    model = _masking_model(True)
    _randomize(model, seed=31)
    x, valid = _masking_data(seed=32)
    expected = model.predict(x, batch_size=B, verbose=0)
    path = tmp_path / "skip.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    wrapper = loaded.layers[-1]
    assert isinstance(wrapper, TimeDistributed)
    assert wrapper.skip_masked_steps is True
    actual = loaded.predict(x, batch_size=B, verbose=0)
    np.testing.assert_allclose(actual, expected, **TOL)
    np.testing.assert_array_equal(actual[~valid], 0.0)


@pytest.mark.parametrize("value", ["yes", 1, 0, None, np.bool_(True)], ids=repr)
@pytest.mark.backend_independent
def test_an_invalid_flag_raises_naming_it(value):
    with pytest.raises(ValueError, match="skip_masked_steps"):
        TimeDistributed(layers.Dense(2), skip_masked_steps=value)


@pytest.mark.parametrize(
    "mask_shape",
    [(B, T + 1), (B + 1, T), (B, T, S - 1)],
    ids=["long_time", "long_batch", "short_inner_axis"],
)
def test_a_wrong_shape_mask_raises_what_the_ordinary_wrapper_raises(mask_shape):
    x = _data(B, T, S, F, seed=33)
    mask = np.ones(mask_shape, bool)
    with pytest.raises(Exception) as expected:
        TimeDistributed(layers.LSTM(2))(x, mask=mask)
    with pytest.raises(type(expected.value)):
        TimeDistributed(layers.LSTM(2), skip_masked_steps=True)(x, mask=mask)


def _stock_model():
    inputs = keras.Input((T, F))
    h = layers.Masking(0.0)(inputs)
    h = layers.TimeDistributed(layers.Dense(4), name="stock_dense")(h)
    h = layers.TimeDistributed(keras.Sequential([layers.Dense(3, activation="tanh")]), name="seq")(
        h
    )
    h = TimeDistributed(layers.LayerNormalization(), name="ours")(h)
    outputs = layers.TimeDistributed(layers.Activation("tanh"), name="stock_activation")(h)
    model = keras.Model(inputs, outputs)
    _randomize(model, seed=34)
    return model


def test_the_converter_sets_the_flag_on_every_wrapper_but_dense():
    model = _stock_model()
    converted = convert_time_distributed(model, skip_masked_steps=True)
    by_name = {layer.name: layer for layer in converted.layers}
    assert isinstance(by_name["stock_dense"], TimeDistributedDense)
    assert "skip_masked_steps" not in by_name["stock_dense"].get_config()
    for name in ("seq", "ours", "stock_activation"):
        assert isinstance(by_name[name], TimeDistributed), name
        assert by_name[name].skip_masked_steps is True, name
    # The input model is not changed.
    assert model.get_layer("ours").skip_masked_steps is False
    x, valid = _masking_data(seed=35)
    expected = model.predict(x, batch_size=B, verbose=0)
    actual = converted.predict(x, batch_size=B, verbose=0)
    _check_valid_and_zero(actual, expected, valid)


def test_the_converter_keeps_the_flag_off_by_default():
    converted = convert_time_distributed(_stock_model())
    for name in ("seq", "ours", "stock_activation"):
        assert converted.get_layer(name).skip_masked_steps is False, name


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_converter_rejects_an_invalid_flag(value):
    with pytest.raises(ValueError, match="skip_masked_steps"):
        convert_time_distributed(_stock_model(), skip_masked_steps=value)


@pytest.mark.backend_independent
def test_the_public_names_are_the_package_ones():
    assert keras_tdplus.TimeDistributed is TimeDistributed
    assert keras_tdplus.convert_time_distributed is convert_time_distributed


# 8. Layers the fold rule runs per step are never packed.


def test_a_stateful_lstm_runs_per_step_and_is_not_zeroed():
    def model(skip):
        inputs = keras.Input((T, S, F), batch_size=B)
        h = layers.Masking(0.0)(inputs)
        outputs = TimeDistributed(layers.LSTM(2, stateful=True), skip_masked_steps=skip)(h)
        return keras.Model(inputs, outputs)

    ours, reference = _model_pair(model, seed=36)
    # A stateful RNN carries its state from one step to the next, so the fold
    # rule runs it step by step, as Keras does; packing would break the
    # carried state, so the flag leaves it alone: masked steps are computed
    # (a fully masked step returns the carried state) and not zeroed.
    assert ours.layers[-1].decision.mode == "per step"
    assert reference.layers[-1].decision.mode == "per step"
    for seed in (37, 38):
        x, _ = _masked_lstm_data(seed=seed)
        valid = np.any(x != 0, axis=(2, 3))
        expected = _numpy(reference(x))
        actual = _numpy(ours(x))
        np.testing.assert_allclose(actual, expected, **TOL)
        if BACKEND == "jax":
            # Keras' LSTM on JAX returns the carried state for an all-masked
            # sequence, which zeroing would lose (TensorFlow and torch give 0).
            assert np.any(expected[~valid] != 0), "the reference must be non-zero at masked steps"


def test_dropout_with_the_batch_in_noise_shape_runs_per_step_and_is_not_zeroed():
    wrapper = TimeDistributed(layers.Dropout(0.5, noise_shape=(B, 1)), skip_masked_steps=True)
    x = _data(B, T, F, seed=39)
    mask = _step_mask(B, T, seed=40)
    out = _numpy(wrapper(x, mask=mask))
    assert wrapper.decision.mode == "per step"
    # Inference: the identity everywhere, masked steps included.
    np.testing.assert_allclose(out, x, **TOL)
    kept = np.isclose(_numpy(wrapper(x, mask=mask, training=True)), 2.0 * x, atol=1e-6)
    assert np.any(kept[~mask]), "a per-step Dropout must not zero masked steps"
