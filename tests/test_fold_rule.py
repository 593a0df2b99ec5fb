"""The fold rule: every Keras layer class is classified, decisions are made once, the escape hatch.

The semantics each decision keeps (outputs, losses, variables, gradients
against a per-step loop) are in `test_fold_semantics.py`.
"""

import keras
import numpy as np
import pytest
from _keras_version import keras_at_least
from keras import layers, ops

from keras_tdplus import TimeDistributed, TimeDistributedDense
from keras_tdplus.layers import _fold_rule as rule


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _keras_layer_classes():
    return sorted(
        (
            value
            for value in vars(layers).values()
            if isinstance(value, type) and issubclass(value, layers.Layer)
        ),
        key=lambda cls: cls.__name__,
    )


@pytest.mark.backend_independent
def test_every_layer_class_keras_exports_is_classified():
    """A layer class a newer Keras adds fails here until the rule says how it runs."""
    missing = [cls.__name__ for cls in _keras_layer_classes() if cls not in rule.CLASS_RULES]
    assert not missing, f"classify these in keras_tdplus/layers/_fold_rule.py: {missing}"


class _Probe:
    """Just enough of a layer for a rule that looks at no attribute."""

    name = "probe"
    activation = None
    noise_shape = None
    axis = -1

    def _flatten_layers(self, include_self=True, recursive=True):
        return [self] if include_self else []

    weights = []


@pytest.mark.parametrize("cls", _keras_layer_classes(), ids=lambda cls: cls.__name__)
@pytest.mark.backend_independent
def test_each_classified_class_gives_a_mode_and_a_reason(cls):
    mode, reason = rule.CLASS_RULES[cls](_Probe())
    assert mode in (rule.IN_PLACE, rule.FOLD, rule.PER_STEP, rule.REFUSED)
    assert reason


def _decide(layer, shape, fold="auto"):
    wrapper = TimeDistributed(layer, fold=fold)
    wrapper.build(shape)
    return wrapper.decision


class Identity(layers.Layer):
    def call(self, x):
        return x * 2.0


class AddsLoss(layers.Layer):
    def call(self, x):
        self.add_loss(ops.mean(x))
        return x


class Counter(layers.Layer):
    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        self.count.assign_add(1.0)
        return x


class FixedTable(layers.Layer):
    """Non-trainable, but never assigned in `call`: still per sample."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(input_shape[-1],), initializer="ones", trainable=False)

    def call(self, x):
        return x * self.table


class MyDense(layers.Dense):
    def call(self, x):
        return super().call(x)


class RenamedDense(layers.Dense):
    """Keeps Dense's `call`: judged as a Dense."""


def _softmax_over_axis_1(x):
    return ops.softmax(x, axis=1)


CASES = {
    "dense": (lambda: layers.Dense(3), (2, 3, 4), rule.IN_PLACE),
    "dense_relu": (lambda: layers.Dense(3, activation="relu"), (2, 3, 4), rule.IN_PLACE),
    "dense_axis_1_activation": (
        lambda: layers.Dense(3, activation=_softmax_over_axis_1),
        (2, 3, 4),
        rule.FOLD,
    ),
    "activation_softmax": (lambda: layers.Activation("softmax"), (2, 3, 4), rule.IN_PLACE),
    "activation_axis_1": (lambda: layers.Activation(_softmax_over_axis_1), (2, 3, 4), rule.FOLD),
    "conv2d": (lambda: layers.Conv2D(2, 3), (2, 3, 5, 5, 1), rule.FOLD),
    "pooling": (lambda: layers.MaxPooling2D(), (2, 3, 4, 4, 1), rule.FOLD),
    # Keras 3.16 builds `axis=-1` into the positive index of the rank it was built on, the
    # folded one, which would be the time axis in place: there the rule folds it.
    "layer_norm": (
        lambda: layers.LayerNormalization(),
        (2, 3, 4),
        rule.FOLD if keras_at_least(3, 16) else rule.IN_PLACE,
    ),
    "layer_norm_axis_1": (lambda: layers.LayerNormalization(axis=1), (2, 3, 4, 5), rule.FOLD),
    "batch_norm": (lambda: layers.BatchNormalization(), (2, 3, 4), rule.FOLD),
    "sequential": (
        lambda: keras.Sequential(
            [layers.Conv1D(2, 2), layers.GlobalMaxPooling1D(), layers.Dense(2)]
        ),
        (2, 3, 5, 4),
        rule.FOLD,
    ),
    "dropout": (lambda: layers.Dropout(0.5), (2, 3, 4), rule.IN_PLACE),
    "dropout_per_sample": (
        lambda: layers.Dropout(0.5, noise_shape=(None, 4)),
        (2, 3, 4),
        rule.FOLD,
    ),
    "dropout_1_f": (lambda: layers.Dropout(0.5, noise_shape=(1, 4)), (2, 3, 4), rule.PER_STEP),
    "dropout_batch": (lambda: layers.Dropout(0.5, noise_shape=(2, 4)), (2, 3, 4), rule.PER_STEP),
    "stateful_lstm": (lambda: layers.LSTM(2, stateful=True), (2, 3, 4, 1), rule.PER_STEP),
    "nested_stateful": (
        lambda: keras.Sequential([layers.Dense(2), layers.LSTM(2, stateful=True)]),
        (2, 3, 4, 1),
        rule.PER_STEP,
    ),
    "lstm": (lambda: layers.LSTM(2), (2, 3, 4, 1), rule.FOLD),
    "random_flip": (lambda: layers.RandomFlip(), (2, 3, 4, 4, 1), rule.PER_STEP),
    "spectral_norm": (
        lambda: layers.SpectralNormalization(layers.Dense(2)),
        (2, 3, 4),
        rule.PER_STEP,
    ),
    "custom": (Identity, (2, 3, 4), rule.FOLD),
    "custom_add_loss": (AddsLoss, (2, 3, 4), rule.PER_STEP),
    "custom_counter": (Counter, (2, 3, 4), rule.PER_STEP),
    "custom_fixed_table": (FixedTable, (2, 3, 4), rule.FOLD),
    "nested_custom_add_loss": (
        lambda: keras.Sequential([layers.Dense(2), AddsLoss()]),
        (2, 3, 4),
        rule.PER_STEP,
    ),
    "subclass_overriding_call": (lambda: MyDense(2), (2, 3, 4), rule.FOLD),
    "subclass_keeping_call": (lambda: RenamedDense(2), (2, 3, 4), rule.IN_PLACE),
    "time_distributed_dense": (lambda: TimeDistributedDense(2), (2, 3, 4, 5), rule.IN_PLACE),
    "nested_l2": (
        lambda: keras.Sequential([layers.Dense(2, activity_regularizer="l2")]),
        (2, 3, 4),
        rule.FOLD,
    ),
    "nested_orthogonal": (
        lambda: keras.Sequential(
            [layers.Dense(2, activity_regularizer=keras.regularizers.OrthogonalRegularizer())]
        ),
        (2, 3, 4),
        rule.PER_STEP,
    ),
    "top_orthogonal": (
        lambda: layers.Dense(2, activity_regularizer=keras.regularizers.OrthogonalRegularizer()),
        (2, 3, 4),
        rule.PER_STEP,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decision(name):
    factory, shape, expected = CASES[name]
    decision = _decide(factory(), shape)
    assert decision.mode == expected, decision.reason
    assert decision.reason


def test_a_nested_sum_regularizer_is_rescaled_not_run_per_step():
    inner = keras.Sequential([layers.Dense(2, activity_regularizer="l2"), layers.Dense(2)])
    decision = _decide(inner, (2, 3, 4))
    assert decision.rescaled == (inner.layers[0],)


@pytest.mark.parametrize(
    "fold, factory, expected",
    [
        ("always", AddsLoss, rule.FOLD),
        ("always", lambda: layers.Dense(2), rule.IN_PLACE),
        ("never", lambda: layers.Dense(2), rule.PER_STEP),
        ("never", lambda: layers.Conv1D(2, 2), rule.PER_STEP),
        ("always", lambda: layers.LSTM(2, stateful=True), rule.PER_STEP),
    ],
)
def test_the_escape_hatch_overrides_the_rule(fold, factory, expected):
    shape = (2, 3, 4, 1) if fold == "always" and expected == rule.PER_STEP else (2, 3, 4, 3)
    assert _decide(factory(), shape, fold=fold).mode == expected


def test_fold_never_calls_the_inner_layer_once_per_step():
    inner = layers.Dense(2)
    calls = []
    original = inner.call
    inner.call = lambda x, *a, **k: calls.append(1) or original(x, *a, **k)
    wrapper = TimeDistributed(inner, fold="never")
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    wrapper.build(x.shape)
    calls.clear()
    out = wrapper(x)
    assert len(calls) == 5
    np.testing.assert_allclose(_numpy(out), _numpy(original(x)), rtol=1e-5, atol=1e-6)


def test_fold_always_folds_a_custom_layer_that_adds_a_loss():
    wrapper = TimeDistributed(AddsLoss(), fold="always")
    x = np.ones((2, 4, 3), "float32")
    wrapper(x)
    # One folded call: the mean over all steps, added once.
    assert len(wrapper.losses) == 1


@pytest.mark.parametrize("bad", ["sometimes", True, None, "Auto"])
@pytest.mark.backend_independent
def test_an_invalid_fold_is_refused(bad):
    with pytest.raises(
        ValueError,
        match=r"^Received an invalid value for `fold`, expected one of 'auto', 'always', "
        r"'never'\. Received: fold=",
    ):
        TimeDistributed(layers.Dense(2), fold=bad)


def test_fold_is_in_the_config_only_when_not_the_default(tmp_path):
    assert "fold" not in TimeDistributed(layers.Dense(2)).get_config()
    wrapper = TimeDistributed(layers.Dense(2), fold="never")
    assert wrapper.get_config()["fold"] == "never"
    assert TimeDistributed.from_config(wrapper.get_config()).fold == "never"
    model = keras.Sequential([keras.Input((3, 4)), wrapper])
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert restored.layers[0].fold == "never"
    assert restored.layers[0].decision.mode == rule.PER_STEP


@pytest.mark.backend_independent
def test_a_config_without_fold_loads_with_the_default():
    config = layers.TimeDistributed(layers.Dense(2)).get_config()
    assert TimeDistributed.from_config(config).fold == "auto"


def test_the_decision_is_made_at_build_not_per_call(monkeypatch):
    wrapper = TimeDistributed(keras.Sequential([layers.Dense(3), layers.Dense(2)]))
    x = np.ones((2, 3, 4), "float32")
    wrapper.build(x.shape)

    def refuse(*args, **kwargs):
        raise AssertionError("classified again during a call")

    monkeypatch.setattr(rule, "classify", refuse)
    wrapper(x)
    wrapper(x, training=True)


@pytest.mark.backend_independent
def test_an_input_layer_is_refused_with_a_reason():
    with pytest.raises(ValueError, match=r"InputLayer .* computes nothing to apply per step"):
        TimeDistributed(layers.InputLayer(shape=(3,)))


# The strategy of a folded call: one call, or groups of whole steps.


def _expected_group_frames():
    """The group size the strategy should take here: on a CPU under JAX or torch, else None."""
    from keras_tdplus.layers import _strategy

    backend = keras.backend.backend()
    assert set(_strategy.GROUP_FRAMES) == {"jax", "torch"}
    if backend == "jax":
        import jax

        on_cpu = jax.default_backend() == "cpu"
    elif backend == "torch":
        import torch

        on_cpu = not torch.cuda.is_available()
    else:
        return None
    return _strategy.GROUP_FRAMES[backend] if on_cpu else None


def _conv_encoder():
    return keras.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.GlobalMaxPooling2D()])


def _functional_with_nested_conv():
    inputs = keras.Input((6, 5))
    hidden = layers.Dense(3)(inputs)
    return keras.Model(inputs, layers.GlobalAveragePooling1D()(layers.Conv1D(2, 3)(hidden)))


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (_conv_encoder, (2, 5, 8, 8, 3)),
        (lambda: layers.Conv1D(4, 3), (2, 5, 8, 3)),
        (lambda: layers.DepthwiseConv2D(3), (2, 5, 8, 8, 3)),
        (lambda: layers.SeparableConv1D(4, 3), (2, 5, 8, 3)),
        (lambda: layers.Conv2DTranspose(4, 3), (2, 5, 6, 6, 3)),
        (lambda: layers.Conv3D(2, 3), (2, 5, 4, 4, 4, 3)),
        (_functional_with_nested_conv, (2, 5, 6, 5)),
    ],
    ids=["sequential", "conv1d", "depthwise", "separable", "transpose", "conv3d", "nested"],
)
@pytest.mark.parametrize("fold", ["auto", "always"])
def test_a_convolution_runs_in_groups_of_steps_on_a_cpu_under_jax_and_torch(factory, shape, fold):
    decision = _decide(factory(), shape, fold)
    assert decision.mode == rule.FOLD
    expected = _expected_group_frames()
    if expected is not None:
        assert decision.group_frames == expected
        assert f"groups of whole steps of at most {expected} frames" in decision.reason
    else:
        assert decision.group_frames is None
        assert "groups" not in decision.reason


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (lambda: keras.Sequential([layers.Dense(4, "relu"), layers.Dense(2)]), (2, 5, 3)),
        (lambda: layers.LSTM(3), (2, 5, 4, 3)),
        (lambda: keras.Sequential([layers.MaxPooling2D(2), layers.Flatten()]), (2, 5, 4, 4, 3)),
    ],
    ids=["mlp", "lstm", "pool_flatten"],
)
def test_a_fold_without_a_convolution_is_one_call(factory, shape):
    decision = _decide(factory(), shape)
    assert decision.mode == rule.FOLD
    assert decision.group_frames is None


def _expected_group_elements():
    """The pooling line the strategy should keep groups below: on a CPU under JAX, else None."""
    from keras_tdplus.layers import _strategy

    assert set(_strategy.POOLING_ELEMENTS) == {"jax"}
    if keras.backend.backend() != "jax":
        return None
    import jax

    return _strategy.POOLING_ELEMENTS["jax"] if jax.default_backend() == "cpu" else None


@pytest.mark.parametrize(
    ("factory", "shape", "pools"),
    [
        (lambda: keras.Sequential([layers.MaxPooling2D(2), layers.Flatten()]), (2, 5, 4, 4, 3), 1),
        (lambda: layers.AveragePooling1D(2), (2, 5, 6, 3), 1),
        (lambda: layers.MaxPooling3D(2), (2, 5, 4, 4, 4, 1), 1),
        (lambda: layers.GlobalMaxPooling2D(), (2, 5, 4, 4, 3), 0),
        (
            lambda: keras.Sequential([layers.Conv2D(2, 3), layers.MaxPooling2D(2)]),
            (2, 5, 8, 8, 1),
            0,
        ),
    ],
    ids=["pool_flatten", "avg1d", "max3d", "global_is_a_reduce", "conv_groups_by_frames"],
)
def test_a_pooling_window_runs_in_groups_below_the_pooling_line_on_a_cpu_under_jax(
    factory, shape, pools
):
    decision = _decide(factory(), shape)
    assert decision.mode == rule.FOLD
    expected = _expected_group_elements() if pools else None
    assert decision.group_elements == expected
    if expected is not None:
        assert decision.group_frames is None
        assert f"groups of whole steps of fewer than {expected:,} input elements" in decision.reason
    elif pools:
        assert "groups" not in decision.reason


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("batch", "steps", "frame", "expected", "below"),
    [
        (2, 64, (16, 16, 3), 2, True),  # 2 steps of 2 frames of 768: 3,072 elements a call
        (1, 10, (16, 16, 3), 5, True),  # 5 frames: 3,840
        (16, 16, (16, 16, 3), 16, False),  # one step alone is 12,288 elements: one call
        (2, 16, (16, 16, 16), 16, False),  # one frame alone is 4,096: one call
        (2, 10, (None, 3), 10, False),  # a frame of unknown size: one call
        (1, 5000, (4,), 1023, True),
        (2, 1000, (16, 16, 3), 16, False),  # past MAX_GROUPS calls the groups grow: 63 calls
    ],
)
def test_steps_below_the_pooling_line(batch, steps, frame, expected, below):
    from keras_tdplus.layers import _strategy

    per_group = _strategy.steps_below(batch, steps, 4096, frame)
    assert per_group == expected
    assert -(-steps // per_group) <= _strategy.MAX_GROUPS
    if below:
        assert batch * per_group * np.prod(frame) < 4096


def test_fold_never_runs_a_convolution_per_step_on_every_backend():
    decision = _decide(_conv_encoder(), (2, 5, 8, 8, 3), fold="never")
    assert decision == rule.Decision(rule.PER_STEP, "fold='never'")


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("batch", "steps", "expected"),
    [
        (2, 16, 8),  # 8 steps of 2 frames
        (3, 7, 5),  # groups of 5 and 2 steps
        (16, 16, 1),  # Keras' loop: one step per call
        (64, 4, 1),  # a step larger than a group is a group alone
        (1, 10, 10),  # every step in one call
        (1, 5000, 79),  # past MAX_GROUPS calls the groups grow: 64 calls
        (64, 1000, 16),
    ],
)
def test_steps_per_group(batch, steps, expected):
    from keras_tdplus.layers import _strategy

    per_group = _strategy.steps_per_group(batch, steps, 16)
    assert per_group == expected
    assert -(-steps // per_group) <= max(_strategy.MAX_GROUPS, 1)
