"""Each kind of inner layer gives the per-step loop's answer: outputs, losses, state, gradients.

The reference is the definition of "applied to every time step": the same
inner layer called (through `__call__`, so its own losses and updates happen)
on each `x[:, t]` in a Python loop, stacked along time. Weights are random
and non-zero. A train step with plain SGD compares the loss (which holds the
added losses), every variable after the step, and the gradient it took,
`(before - after) / learning_rate`, with jit on and off and a static or
dynamic time axis.
"""

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_tdplus import TimeDistributed

B, T = 3, 4
TOL = {"rtol": 1e-4, "atol": 1e-5}
LEARNING_RATE = 0.5


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


class Loop(layers.Wrapper):
    """The reference: the inner layer called on each step in a Python loop."""

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build((input_shape[0], *input_shape[2:]))
        self.built = True

    def call(self, x, training=None):
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        outputs = [self.layer(x[:, t], **kwargs) for t in range(x.shape[1])]
        if isinstance(outputs[0], (list, tuple)):
            return [ops.stack(list(ys), axis=1) for ys in zip(*outputs, strict=True)]
        return ops.stack(outputs, axis=1)


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            (rng.uniform(0.2, 1.0, w.shape) * rng.choice([-1.0, 1.0], w.shape)).astype(w.dtype)
            for w in model.get_weights()
        ]
    )


def _softmax_over_axis_1(x):
    return ops.softmax(x, axis=1)


def _normalize_over_axis_1(x):
    return x - ops.mean(x, axis=1, keepdims=True)


def _square_of_sum(y):
    """An activity regularizer that is not a sum over positions."""
    return 0.01 * ops.square(ops.sum(y))


class AddsMeanLoss(layers.Layer):
    """A scale, and a loss in `call`: the mean of the square of its output."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        y = x * self.scale
        self.add_loss(0.1 * ops.mean(y**2))
        return y


class AddsSumLoss(AddsMeanLoss):
    def call(self, x):
        y = x * self.scale
        self.add_loss(0.01 * ops.sum(ops.abs(y)))
        return y


class Counter(layers.Layer):
    """Counts its training calls in a non-trainable variable."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        if training:
            self.count.assign(self.count + 1.0)
        return x * self.scale


class MovingMean(layers.Layer):
    """Tracks a moving mean of its input in `call`, subtracted from the output."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        self.mean = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        if training:
            self.mean.assign(0.5 * self.mean + 0.5 * ops.mean(x))
        return x * self.scale - ops.stop_gradient(self.mean)


# name: (inner layer factory, step shape, what the model's head sees)
KINDS = {
    "activation_over_axis_1": (
        lambda: keras.Sequential([layers.Dense(4), layers.Activation(_softmax_over_axis_1)]),
        (3, 5),
    ),
    "top_activation_over_axis_1": (lambda: layers.Activation(_normalize_over_axis_1), (3, 5)),
    "dense_with_activation_over_axis_1": (
        lambda: layers.Dense(4, activation=_softmax_over_axis_1),
        (3, 5),
    ),
    "add_loss_mean": (AddsMeanLoss, (5,)),
    "add_loss_sum": (AddsSumLoss, (5,)),
    "nested_activity_regularizer": (
        lambda: keras.Sequential(
            [layers.Dense(3, activity_regularizer=keras.regularizers.L2(0.1)), layers.Dense(4)]
        ),
        (5,),
    ),
    "nested_non_sum_activity_regularizer": (
        lambda: keras.Sequential(
            [
                layers.Dense(3, activity_regularizer=_square_of_sum),
                layers.Dense(4),
            ]
        ),
        (5,),
    ),
    "top_activity_regularizer": (
        lambda: layers.Dense(3, activity_regularizer=keras.regularizers.L1(0.05)),
        (5,),
    ),
    "counter": (Counter, (5,)),
    "moving_mean": (MovingMean, (5,)),
    "nested_counter": (lambda: keras.Sequential([layers.Dense(3), Counter()]), (5,)),
}


def _pair(name, steps):
    """(ours, reference) models with the same random weights; ours has `steps` in its Input."""
    factory, step_shape = KINDS[name]

    def model(wrapper, time_steps):
        return keras.Sequential(
            [keras.Input((time_steps, *step_shape)), wrapper(factory()), layers.Dense(2)]
        )

    reference = model(Loop, T)
    _randomize(reference, seed=len(name))
    ours = model(TimeDistributed, steps)
    ours.set_weights(reference.get_weights())
    return ours, reference, step_shape


def _state(model):
    return [_numpy(v) for v in model.variables if "seed_generator" not in v.path]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_eager_call_outputs_losses_and_state_equal_the_loop(name):
    ours, reference, step_shape = _pair(name, T)
    x = _data(B, T, *step_shape, seed=1)
    for training in (False, True):
        expected = _numpy(reference(x, training=training))
        actual = _numpy(ours(x, training=training))
        np.testing.assert_allclose(actual, expected, **TOL)
        expected_loss = sum(float(_numpy(loss)) for loss in reference.losses)
        actual_loss = sum(float(_numpy(loss)) for loss in ours.losses)
        np.testing.assert_allclose(actual_loss, expected_loss, **TOL)
        for a, e in zip(_state(ours), _state(reference), strict=True):
            np.testing.assert_allclose(a, e, **TOL)


@pytest.mark.parametrize("steps", [T, None], ids=["static_T", "dynamic_T"])
@pytest.mark.parametrize("name", sorted(KINDS))
def test_predict_equals_the_loop(name, steps):
    ours, reference, step_shape = _pair(name, steps)
    x = _data(B, T, *step_shape, seed=2)
    np.testing.assert_allclose(ours.predict(x, verbose=0), reference.predict(x, verbose=0), **TOL)


def _train_step(model, x, y, jit):
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", jit_compile=jit)
    before = [_numpy(w) for w in model.trainable_weights]
    loss = model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    gradients = [
        (b - _numpy(w)) / LEARNING_RATE
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    return loss, gradients


# jit_compile on torch is torch.compile, minutes on a CPU: eager only there. A
# JAX jit traces the batch's concrete shape, so its dynamic_T program is the
# static_T one again: TensorFlow alone compiles a graph with an unknown T.
TRAIN_STEP_MODES = [
    pytest.param(T, False, id="static_T-eager"),
    pytest.param(None, False, id="dynamic_T-eager"),
    pytest.param(T, True, id="static_T-jit", marks=pytest.mark.backend("tensorflow", "jax")),
    pytest.param(None, True, id="dynamic_T-jit", marks=pytest.mark.backend("tensorflow")),
]


@pytest.mark.parametrize(("steps", "jit"), TRAIN_STEP_MODES)
@pytest.mark.parametrize(
    "name",
    [
        "activation_over_axis_1",
        "dense_with_activation_over_axis_1",
        "add_loss_mean",
        "add_loss_sum",
        "nested_activity_regularizer",
        "top_activity_regularizer",
        "counter",
        "moving_mean",
    ],
)
def test_a_train_step_equals_the_loops(name, steps, jit):
    ours, reference, step_shape = _pair(name, steps)
    x = _data(B, T, *step_shape, seed=3)
    y = _data(B, T, *reference.output_shape[2:], seed=4)
    expected_loss, expected_gradients = _train_step(reference, x, y, jit)
    actual_loss, actual_gradients = _train_step(ours, x, y, jit)
    np.testing.assert_allclose(actual_loss, expected_loss, **TOL)
    for a, e in zip(actual_gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(a, e, **TOL)
    for a, e in zip(_state(ours), _state(reference), strict=True):
        np.testing.assert_allclose(a, e, **TOL)


# Several outputs, with and without a mask coming in.

MULTI = {
    "lstm_return_state": (lambda: layers.LSTM(3, return_state=True), 3),
    "gru_return_state": (lambda: layers.GRU(3, return_state=True, return_sequences=True), 2),
    "bidirectional_no_merge": (
        lambda: layers.Bidirectional(layers.LSTM(2), merge_mode=None),
        2,
    ),
}


@pytest.mark.parametrize("steps", [T, None], ids=["static_T", "dynamic_T"])
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "masked"])
@pytest.mark.parametrize("name", sorted(MULTI))
def test_several_outputs_equal_the_loop_and_carry_the_time_mask(name, masked, steps):
    factory, count = MULTI[name]
    x = np.abs(_data(B, T, 4, 2, seed=5)) + 0.5
    x[0, 2] = 0.0
    x[1, 0] = 0.0

    def model(wrapper, time_steps):
        inputs = keras.Input((time_steps, 4, 2))
        h = layers.Masking(0.0)(inputs) if masked else inputs
        outputs = wrapper(factory())(h)
        return keras.Model(inputs, outputs), outputs

    reference, _ = model(Loop, T)
    _randomize(reference, seed=6)
    ours, symbolic = model(TimeDistributed, steps)
    ours.set_weights(reference.get_weights())
    assert len(symbolic) == count
    for out in symbolic:
        assert (getattr(out, "_keras_mask", None) is not None) == masked
    expected = reference.predict(x, verbose=0)
    actual = ours.predict(x, verbose=0)
    valid = np.any(x != 0, axis=(2, 3))
    for a, e in zip(actual, expected, strict=True):
        # A masked step is one whose inner sequence is all masked; Keras'
        # loop gives it no mask at all, so only the valid steps compare.
        np.testing.assert_allclose(a[valid] if masked else a, e[valid] if masked else e, **TOL)
    if masked:
        wrapper = ours.layers[-1]
        masks = wrapper.compute_mask(
            ops.convert_to_tensor(x), ops.convert_to_tensor(np.any(x != 0, axis=-1))
        )
        assert len(masks) == count
        for m in masks:
            m = _numpy(m)
            # A returned sequence keeps its inner positions' mask.
            np.testing.assert_array_equal(m.reshape(B, T, -1).any(axis=-1), valid)


# Groups of steps: the strategy a fold takes for convolutions on a CPU under
# JAX and torch (`_strategy`), forced here on every backend, so the groups' own code
# runs everywhere. 9 frames a group at B=3 is groups of 3 and 1 steps.

GROUPED = {
    "conv2d": (
        lambda: keras.Sequential(
            [layers.Conv2D(3, 3, activation="relu"), layers.GlobalAveragePooling2D()]
        ),
        (5, 5, 2),
    ),
    "conv1d_same": (lambda: layers.Conv1D(3, 2, padding="same"), (4, 2)),
    "lstm": (lambda: layers.LSTM(3), (4, 2)),
}


@pytest.fixture
def groups_of_three_steps(monkeypatch):
    from keras_tdplus.layers import _strategy

    monkeypatch.setattr(_strategy, "group_frames", lambda layer: (3 * B, "forced in a test"))


# A static time axis only: with an unknown one, a fold is one call.
_STATIC_MODES = [
    pytest.param(mode.values[1], id=mode.id.split("-")[1], marks=mode.marks)
    for mode in TRAIN_STEP_MODES
    if mode.values[0] is not None
]


@pytest.mark.parametrize("jit", _STATIC_MODES)
@pytest.mark.parametrize(
    ("name", "masked"),
    [(name, False) for name in sorted(GROUPED)] + [("lstm", True)],
    ids=[*sorted(GROUPED), "lstm-masked"],
)
def test_groups_of_steps_equal_the_loop(groups_of_three_steps, name, masked, jit):
    factory, step_shape = GROUPED[name]
    x = np.abs(_data(B, T, *step_shape, seed=7)) + 0.5
    x[0, 3] = 0.0
    x[2, 1] = 0.0

    def model(wrapper):
        inputs = keras.Input((T, *step_shape))
        hidden = layers.Masking(0.0)(inputs) if masked else inputs
        return keras.Model(inputs, layers.Dense(2)(wrapper(factory())(hidden)))

    reference = model(Loop)
    _randomize(reference, seed=8)
    ours = model(TimeDistributed)
    ours.set_weights(reference.get_weights())
    assert ours.layers[-2].decision.group_frames == 3 * B
    # Keras' loop gives a masked step's inner layer no mask: only valid steps compare.
    valid = np.any(x != 0, axis=tuple(range(2, x.ndim))) if masked else np.ones((B, T), bool)
    expected = reference.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0)[valid], expected[valid], **TOL)
    if masked:
        # The masked steps differ, so their loss and gradients do too.
        return
    _assert_trains_like(ours, reference, x, _data(*expected.shape, seed=9), jit)


def _assert_trains_like(ours, reference, x, y, jit):
    """One training step of `ours` gives the loss and gradients of `reference`'s."""
    expected_loss, expected_gradients = _train_step(reference, x, y, jit)
    actual_loss, actual_gradients = _train_step(ours, x, y, jit)
    np.testing.assert_allclose(actual_loss, expected_loss, **TOL)
    for a, e in zip(actual_gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(a, e, **TOL)


# Groups below a pooling line: the strategy a fold takes for pooling on a CPU under JAX
# (`_strategy.group_elements`), forced here on every backend. Frames of 4x4x2 at B=3 are
# 96 elements a step: below 200, groups of 2 steps.


@pytest.mark.parametrize("jit", _STATIC_MODES)
def test_groups_below_a_pooling_line_equal_the_loop(monkeypatch, jit):
    from keras_tdplus.layers import _strategy

    monkeypatch.setattr(_strategy, "group_elements", lambda layer: (200, "forced in a test"))
    step_shape = (4, 4, 2)
    x = _data(B, T, *step_shape, seed=11)

    def model(wrapper):
        inner = keras.Sequential(
            [layers.MaxPooling2D(2), layers.AveragePooling2D(1), layers.Flatten()]
        )
        inputs = keras.Input((T, *step_shape))
        return keras.Model(inputs, layers.Dense(2)(wrapper(inner)(inputs)))

    reference = model(Loop)
    _randomize(reference, seed=12)
    ours = model(TimeDistributed)
    ours.set_weights(reference.get_weights())
    assert ours.layers[-2].decision.group_elements == 200
    assert _strategy.steps_below(B, T, 200, step_shape) == 2
    expected = reference.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, **TOL)
    _assert_trains_like(ours, reference, x, _data(*expected.shape, seed=13), jit)


def test_batch_normalization_trains_in_one_call_where_the_fold_runs_in_groups(monkeypatch):
    # Groups (forced here on every backend) would normalize each group by its own frames: in
    # training the wrapper calls the inner layer once, with the fold's documented statistics of
    # all `batch * time` frames; in inference, where the moving statistics are used, it groups.
    from keras_tdplus.layers import _strategy

    monkeypatch.setattr(_strategy, "group_elements", lambda layer: (200, "forced in a test"))
    step_shape = (4, 4, 2)
    scale = np.linspace(0.5, 3.0, T, dtype="float32")[None, :, None, None, None]
    x = _data(B, T, *step_shape, seed=14) * scale

    def inner():
        return keras.Sequential(
            [layers.BatchNormalization(momentum=0.5), layers.MaxPooling2D(2), layers.Flatten()]
        )

    wrapper = TimeDistributed(inner())
    wrapper.build(x.shape)
    decision = wrapper.decision
    assert decision.group_elements == 200 and not decision.group_in_training
    assert "normalizes by all the frames of its call" in decision.reason
    calls = []
    original = wrapper.layer.call
    wrapper.layer.call = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    trained = _numpy(wrapper(x, training=True))
    assert len(calls) == 1
    one_call = inner()
    expected = _numpy(one_call(x.reshape(B * T, *step_shape), training=True))
    np.testing.assert_allclose(trained, expected.reshape(B, T, -1), **TOL)
    np.testing.assert_allclose(
        _numpy(wrapper.layer.layers[0].moving_mean),
        _numpy(one_call.layers[0].moving_mean),
        **TOL,
    )
    inferred = _numpy(wrapper(x, training=False))
    assert len(calls) == 1 + 2  # groups of 2 steps
    per_step = [_numpy(one_call(x[:, t], training=False)) for t in range(T)]
    np.testing.assert_allclose(inferred, np.stack(per_step, axis=1), **TOL)


# Dropout with a noise shape.


def _kept(out, x):
    return np.isclose(_numpy(out), 2.0 * x, atol=1e-6)


def _traced(layer, steps, features):
    """`layer(x, training=True)`, in a graph with the time axis unknown on TensorFlow."""
    if keras.config.backend() != "tensorflow" or steps is not None:
        return lambda x: layer(x, training=True)
    import tensorflow as tf

    return tf.function(
        lambda x: layer(x, training=True),
        input_signature=[tf.TensorSpec((None, None, features))],
    )


@pytest.mark.parametrize("steps", [T, None], ids=["static_T", "dynamic_T"])
def test_dropout_with_noise_shape_1_f_draws_one_mask_per_step(steps):
    features = 64
    x = np.abs(_data(B, T, features, seed=7)) + 0.5
    wrapper = TimeDistributed(layers.Dropout(0.5, noise_shape=(1, features)))
    out = _traced(wrapper, steps, features)(x)
    kept = _kept(out, x)
    assert np.all(kept | np.isclose(_numpy(out), 0.0))
    # Shared by the batch, as `noise_shape=(1, F)` says, and new at every step.
    assert all(np.array_equal(kept[b], kept[0]) for b in range(B))
    assert len({kept[0, t].tobytes() for t in range(T)}) == T


@pytest.mark.parametrize("steps", [T, None], ids=["static_T", "dynamic_T"])
def test_dropout_with_the_batch_in_noise_shape_runs_in_predict_and_fit(steps):
    features = 64
    x = np.abs(_data(B, T, features, seed=8)) + 0.5
    model = keras.Sequential(
        [
            keras.Input((steps, features), batch_size=B),
            TimeDistributed(layers.Dropout(0.5, noise_shape=(B, features))),
            layers.Dense(2),
        ]
    )
    out = model.layers[0](x, training=True)
    kept = _kept(out, x)
    assert len({kept[:, t].tobytes() for t in range(T)}) == T
    assert model.predict(x, batch_size=B, verbose=0).shape == (B, T, 2)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, _data(B, T, 2), batch_size=B, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# A stateful layer nested in the inner layer.


def test_a_nested_stateful_lstm_carries_its_state_step_by_step():
    def model(wrapper):
        inner = keras.Sequential([layers.Dense(3), layers.LSTM(2, stateful=True)])
        return keras.Sequential([keras.Input((T, 4, 2), batch_size=B), wrapper(inner)])

    reference = model(Loop)
    _randomize(reference, seed=9)
    ours = model(TimeDistributed)
    ours.set_weights(reference.get_weights())
    assert ours.layers[0].decision.mode == "per step"
    for seed in (10, 11):
        x = _data(B, T, 4, 2, seed=seed)
        np.testing.assert_allclose(_numpy(ours(x)), _numpy(reference(x)), **TOL)


# Error wording: Keras' sentence, then ours.


@pytest.mark.backend_independent
def test_a_non_layer_raises_keras_sentence_too():
    with pytest.raises(
        ValueError,
        match=r"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance",
    ):
        TimeDistributed("dense")


@pytest.mark.parametrize("rank", [1, 2])
def test_a_rank_below_3_raises_keras_sentence_too(rank):
    x = keras.Input(batch_shape=(None, 10)[:rank])
    with pytest.raises(
        ValueError,
        match=r"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
        r"dimensions, received: \(None",
    ):
        TimeDistributed(layers.Dense(5))(x)
