"""keras_tdplus.testing.check_layer: passes layers that are right, fails each check on purpose.

The layers that are right are right in unusual ways (no compute_output_shape,
several outputs, dict inputs, a seed generator, non-trainable state, masks):
they must pass every check on every backend. Each check then gets a layer that
is wrong in the way that check claims to detect, and must FAIL it.
"""

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_tdplus.testing import CHECKS, check_layer

register = keras.saving.register_keras_serializable(package="tdplus_tests")


@register
class Scale(layers.Layer):
    """A correct per-feature scale that passes a mask on."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.supports_masking = True

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


# Right in unusual ways ------------------------------------------------------


@register
class NoOutputShape(layers.Layer):
    """`__init__`, `build`, `call`, a complete `get_config`; no compute_output_shape."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, x):
        return ops.matmul(x, self.kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class TwoOutputs(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return [x * self.w, ops.sum(x * self.w, axis=-1)]


@register
class DictInputs(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape["values"][-1],), name="w")

    def call(self, inputs):
        return inputs["values"] * self.w + inputs["offsets"]


@register
class Jitter(layers.Layer):
    """Adds noise at every call, from a seed generator."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + 0.1 * keras.random.normal(ops.shape(x), seed=self.generator, dtype=x.dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@register
class FixedShift(layers.Layer):
    """A trainable scale and a non-trainable shift."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
        self.shift = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=False, name="shift"
        )

    def call(self, x):
        return x * self.scale + self.shift


@register
class MeanOverTime(layers.Layer):
    """Reduces the time axis, so the mask stops here (supports_masking, returns no mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return ops.mean(x, axis=1)
        weights = ops.cast(mask, x.dtype)[..., None]
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])


@register
class Doubling(layers.Layer):
    """Stateless: built at construction, as Keras' own stateless layers are."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Not when a subclass adds a build(): Keras would then never call it.
        if type(self).build is layers.Layer.build:
            self.built = True

    def call(self, x):
        return 2.0 * x


RIGHT = [
    pytest.param(
        NoOutputShape,
        {"units": 4},
        (2, 5, 3),
        {"expected_output_shape": (2, 5, 4), "expected_num_trainable_weights": 1},
        id="no_compute_output_shape",
    ),
    pytest.param(
        TwoOutputs,
        {},
        (2, 5, 3),
        {"expected_output_shape": [(2, 5, 3), (2, 5)], "expected_output_dtype": "float32"},
        id="two_outputs",
    ),
    pytest.param(
        DictInputs,
        {},
        {"values": (2, 5, 3), "offsets": (2, 5, 3)},
        {"expected_output_shape": (2, 5, 3)},
        id="dict_inputs",
    ),
    pytest.param(
        layers.Embedding,
        {"input_dim": 10, "output_dim": 3},
        None,
        {
            "input_data": np.arange(10).reshape(2, 5) % 10,
            "expected_output_shape": (2, 5, 3),
            "expected_num_trainable_weights": 1,
        },
        id="integer_input_data",
    ),
    pytest.param(
        Jitter,
        {"seed": 3},
        (2, 5, 3),
        {"expected_num_seed_generators": 1, "expected_num_trainable_weights": 0},
        id="seed_generator",
    ),
    pytest.param(
        FixedShift,
        {},
        (2, 5, 3),
        {"expected_num_trainable_weights": 1, "expected_num_non_trainable_weights": 1},
        id="non_trainable_state",
    ),
    pytest.param(
        Scale,
        {"factor": 3.0},
        (2, 4, 3),
        {"mask_behavior": "pass_through", "supports_masking": True},
        id="mask_pass_through",
    ),
    pytest.param(
        MeanOverTime,
        {},
        (2, 4, 3),
        {"mask_behavior": "drop", "expected_output_shape": (2, 3)},
        id="mask_drop",
    ),
    pytest.param(
        Doubling,
        {},
        (2, 4, 3),
        {"built_after_instantiation": True, "supports_masking": False},
        id="stateless",
    ),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape, options", RIGHT)
def test_a_layer_right_in_an_unusual_way_passes_every_check(
    layer_cls, kwargs, input_shape, options
):
    report = check_layer(layer_cls, kwargs, input_shape, **options)
    assert [r.name for r in report.results] == list(CHECKS)
    assert report.ok, str(report)
    report.raise_for_failures()
    # Nothing Keras needs was skipped; only what we merely recommend may be.
    needed = {"config_round_trip", "build", "symbolic_call", "eager_call", "training_step"}
    assert not needed & {r.name for r in report.skipped}, str(report)


def test_no_compute_output_shape_is_a_skip_with_the_reason_never_a_failure():
    report = check_layer(NoOutputShape, {"units": 4}, checks=("compute_output_shape",))
    assert report.ok and report["compute_output_shape"].skipped
    assert "Keras infers shapes by tracing call" in report["compute_output_shape"].detail


def test_the_mask_check_is_a_skip_when_nothing_is_declared():
    report = check_layer(Scale, {}, (2, 3, 2), checks=("build", "masking"))
    assert report.ok
    assert not report["masking"].passed and report["masking"].skipped
    assert report.skipped == [report["masking"]] and report.failures == []
    assert str(report["masking"]).startswith("SKIP masking: no mask_behavior declared")


# Wrong in the way each check detects ------------------------------------------


@register
class ForgetsConfig(Scale):
    def get_config(self):
        return layers.Layer.get_config(self)


@register
class ForgetsAnArgument(Scale):
    """Takes `offset` but leaves it out of get_config."""

    def __init__(self, factor=2.0, offset=0.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.offset = offset

    def call(self, x):
        return super().call(x) + self.offset


@register
class ConfigDrifts(Scale):
    """Its config does not survive from_config: the factor grows on every trip."""

    def get_config(self):
        return {**super().get_config(), "factor": self.factor + 1.0}


class NotRegistered(layers.Layer):
    def call(self, x):
        return x * 2.0


@register
class NumpyInCall(layers.Layer):
    """Works on arrays, not on a model's symbolic tensors."""

    def call(self, x):
        return ops.convert_to_tensor(np.asarray(x) * 2.0)


@register
class LiesAboutShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 7)


@register
class LiesAboutDtype(Scale):
    """Returns integers, while Keras' symbolic call (from compute_output_shape) says float32."""

    def call(self, x):
        return ops.cast(super().call(x) > 0, "int32")


@register
class CountsCalls(Scale):
    """Its output depends on how often Python ran call, so a compiled model differs."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.calls = 0

    def call(self, x):
        self.calls += 1
        return super().call(x) + float(self.calls)


@register
class AddsALoss(Scale):
    def call(self, x):
        self.add_loss(ops.mean(ops.square(self.w)))
        return super().call(x)


@register
class ForcesBuilt(Scale):
    """Overrides build, yet marks itself built in __init__."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.built = True


@register
class DropsMask(Scale):
    def compute_mask(self, inputs, mask=None):
        return None


@register
class ForgetsMasking(Scale):
    """Never sets supports_masking: Keras drops the mask before it."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.supports_masking = False


@register
class NoGradient(Scale):
    """Its weight is multiplied by zero, so its gradient is always zero."""

    def call(self, x):
        return x * (self.w * 0.0 + 1.0) * self.factor


@register
class NotJittable(Scale):
    """Reads a tensor's value in Python: fine eagerly, not inside a compiled function."""

    def call(self, x):
        if float(ops.convert_to_numpy(ops.max(x))) > 100.0:
            return x
        return super().call(x)


@register
class AlwaysFloat32(Scale):
    def call(self, x):
        return ops.cast(x, "float32") * ops.cast(self.w, "float32")


@register
class HalfWeights(Scale):
    """Stores its weight in the compute dtype instead of the variable dtype."""

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", dtype=self.compute_dtype, name="w"
        )


@register
class UnsavedState(Scale):
    """Keeps a random projection in a numpy array, not a weight: a reload draws another."""

    def build(self, input_shape):
        super().build(input_shape)
        self.projection = np.random.default_rng().normal(size=(input_shape[-1],))

    def call(self, x):
        return super().call(x) * ops.convert_to_tensor(self.projection, x.dtype)


@register
class MixesTheBatch(Scale):
    """Subtracts the batch mean: TimeDistributed folds time into the batch, so it differs."""

    def call(self, x):
        return super().call(x) - ops.mean(x, axis=0, keepdims=True)


WRONG = [
    (
        "config_round_trip",
        ForgetsConfig,
        {"init_kwargs": {"factor": 3.0}},
        "leaves out the constructor argument(s) ['factor']",
    ),
    (
        "config_round_trip",
        ForgetsAnArgument,
        {"init_kwargs": {"offset": 1.0}},
        "leaves out the constructor argument(s) ['offset']",
    ),
    ("config_round_trip", ConfigDrifts, {}, "from_config(get_config()) gives a different"),
    ("config_round_trip", NotRegistered, {}, "registered with keras.saving.register_keras"),
    (
        "build",
        Scale,
        {"expected_num_trainable_weights": 2},
        "1 trainable weights after build(), expected 2",
    ),
    (
        "build",
        FixedShift,
        {"expected_num_non_trainable_weights": 0},
        "1 non-trainable weights after build(), expected 0",
    ),
    (
        "build",
        Scale,
        {"expected_num_seed_generators": 1},
        "0 seed generators after build(), expected 1",
    ),
    (
        "symbolic_call",
        Scale,
        {"expected_output_shape": (2, 4, 5)},
        "symbolic output shape (2, 4, 3), expected (2, 4, 5)",
    ),
    (
        "symbolic_call",
        Scale,
        {"expected_output_dtype": "float16"},
        "symbolic output dtype ['float32'], expected float16",
    ),
    ("eager_call", LiesAboutShape, {}, "eager output shape (2, 4, 3) != symbolic output shape"),
    ("eager_call", LiesAboutDtype, {}, "eager output dtype ['int32'] != symbolic ['float32']"),
    ("eager_call", CountsCalls, {}, "eager and compiled-model outputs differ (max gap"),
    ("eager_call", AddsALoss, {"expected_num_losses": 0}, "1 losses after an eager call"),
    ("compute_output_shape", LiesAboutShape, {}, "compute_output_shape gives (2, 4, 7)"),
    ("built_after_instantiation", Scale, {"built_after_instantiation": True}, "built is False"),
    ("built_after_instantiation", Doubling, {"built_after_instantiation": False}, "is True"),
    (
        "built_after_instantiation",
        ForcesBuilt,
        {"built_after_instantiation": True},
        "a subclass that overrides build() is still built",
    ),
    ("masking", DropsMask, {"mask_behavior": "pass_through"}, "the mask was not passed on"),
    ("masking", ForgetsMasking, {"mask_behavior": "pass_through"}, "supports_masking is False"),
    ("masking", Scale, {"mask_behavior": "drop"}, "declared mask_behavior='drop' but the layer"),
    ("masking", Scale, {"supports_masking": False}, "supports_masking is True, expected False"),
    ("training_step", NoGradient, {}, "left every weight unchanged"),
    (
        "mixed_float16",
        AlwaysFloat32,
        {},
        "eager output dtype is ['float32'] but the symbolic",
    ),
    ("mixed_float16", HalfWeights, {}, "is float16 under mixed_float16, expected float32"),
    ("bfloat16", AlwaysFloat32, {}, "eager output dtype is ['float32'] but the symbolic"),
    ("keras_file_round_trip", UnsavedState, {}, "reloaded model predicts differently"),
    ("time_distributed", MixesTheBatch, {}, "differs from the per-step outputs"),
]


@pytest.mark.parametrize(
    "check, layer_cls, options, text",
    WRONG,
    ids=[f"{check}-{cls.__name__}" for check, cls, *_ in WRONG],
)
def test_a_wrong_layer_fails_the_check_that_detects_it(check, layer_cls, options, text):
    options = dict(options)
    kwargs = options.pop("init_kwargs", {})
    report = check_layer(layer_cls, kwargs, (2, 4, 3), checks=(check,), **options)
    assert not report.ok, str(report)
    assert not report[check].passed and not report[check].skipped
    assert text in report[check].detail, str(report)
    with pytest.raises(AssertionError, match=f"FAIL {check}: "):
        report.raise_for_failures()
    line = str(report[check])
    assert line.startswith(f"FAIL {check}: ") and "\n" not in line


@pytest.mark.backend("jax", "tensorflow")
def test_a_layer_that_only_works_on_arrays_fails_the_symbolic_call():
    # On torch, Keras runs call on placeholder tensors when it cannot trace
    # it, so a model holding this layer works there and the check passes it.
    report = check_layer(NumpyInCall, {}, (2, 4, 3), checks=("symbolic_call",))
    assert not report["symbolic_call"].passed and not report["symbolic_call"].skipped
    assert "Error" in report["symbolic_call"].detail, str(report)


@pytest.mark.backend("jax", "tensorflow")
def test_a_layer_that_cannot_be_compiled_fails_the_jit_check():
    # torch.compile falls back to eager code at a graph break, so on torch
    # this layer is not wrong and the check rightly passes it.
    report = check_layer(NotJittable, {}, (2, 4, 3), checks=("jit_compile",))
    assert not report["jit_compile"].passed and not report["jit_compile"].skipped, str(report)


@pytest.mark.backend_independent
def test_every_check_has_a_wrong_layer_that_fails_it():
    covered = {check for check, *_ in WRONG} | {"jit_compile"}
    assert covered == set(CHECKS)


def test_report_prints_one_line_per_check():
    report = check_layer(Scale, {}, (2, 3, 2), checks=("config_round_trip", "build"))
    assert str(report).splitlines() == [
        "check_layer(Scale):",
        "  PASS config_round_trip",
        "  PASS build",
    ]
    with pytest.raises(KeyError):
        report["bfloat16"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_cls": "Dense"}, TypeError, r"`layer_cls`, expected a subclass"),
        ({"layer_cls": Scale, "checks": ("speed",)}, ValueError, r"unknown check names"),
        ({"layer_cls": Scale, "mask_behavior": "keep"}, ValueError, r"`mask_behavior`"),
        ({"layer_cls": Scale, "input_shape": None}, ValueError, r"Received no input"),
    ],
)
@pytest.mark.backend_independent
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        check_layer(**kwargs)


# Unknown sizes are wildcards; known sizes and ranks still count -------------------------


@register
class UnknownLength(Scale):
    """Right: declares the time axis unknown, as EinsumDense(output_shape=(None, 4)) does."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, input_shape[-1])


@register
class UnknownLengthWrongWidth(Scale):
    """Wrong: an unknown time axis, but a known feature size that is not the output's."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, input_shape[-1] + 1)


@register
class ExtraUnknownAxis(Scale):
    """Wrong: one axis too many, even if it is unknown."""

    def compute_output_shape(self, input_shape):
        return (*input_shape, None)


def test_an_unknown_size_on_the_computed_side_matches_any_size():
    shape_checks = ("symbolic_call", "eager_call", "compute_output_shape", "jit_compile")
    report = check_layer(
        UnknownLength, {}, (2, 4, 3), checks=shape_checks, expected_output_shape=(2, 4, 3)
    )
    assert report.ok, str(report)
    einsum = check_layer(
        layers.EinsumDense,
        {"equation": "abc,cd->abd", "output_shape": (None, 4)},
        (2, 3, 5),
        checks=shape_checks,
        expected_output_shape=(2, 3, 4),
    )
    assert einsum.ok, str(einsum)


@pytest.mark.parametrize(
    "layer_cls, text",
    [
        (UnknownLengthWrongWidth, "(2, None, 4)"),
        (ExtraUnknownAxis, "(2, 4, 3, None)"),
    ],
    ids=["known_size_differs", "rank_differs"],
)
def test_a_known_size_or_a_rank_that_differs_still_fails(layer_cls, text):
    report = check_layer(layer_cls, {}, (2, 4, 3), checks=("eager_call", "compute_output_shape"))
    assert [r.name for r in report.failures] == ["eager_call", "compute_output_shape"], str(report)
    assert text in report["compute_output_shape"].detail
    assert "eager output shape (2, 4, 3) != symbolic" in report["eager_call"].detail


def test_an_expected_shape_of_another_rank_fails_even_with_unknown_sizes():
    report = check_layer(
        Scale, {}, (2, 4, 3), checks=("symbolic_call",), expected_output_shape=(None, None)
    )
    assert not report.ok and "expected (None, None)" in report["symbolic_call"].detail


# Layers that take their inputs apart ------------------------------------------------------


def test_unpack_inputs_calls_attention_with_query_and_value():
    report = check_layer(
        layers.MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4},
        [(2, 4, 3), (2, 5, 6)],
        unpack_inputs=True,
        checks=("build", "symbolic_call", "eager_call", "compute_output_shape"),
        expected_output_shape=(2, 4, 3),
        expected_num_trainable_weights=8,
    )
    assert report.ok, str(report)
    named = check_layer(
        layers.MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4},
        {"query": (2, 4, 3), "value": (2, 5, 6)},
        unpack_inputs=True,
        checks=("build", "eager_call", "compute_output_shape"),
        expected_output_shape=(2, 4, 3),
    )
    assert named.ok, str(named)


def test_unpack_inputs_builds_a_cell_on_its_inputs_shape_alone():
    report = check_layer(
        layers.LSTMCell,
        {"units": 3},
        [(2, 2), [(2, 3), (2, 3)]],
        unpack_inputs=True,
        checks=("build", "eager_call", "training_step"),
        expected_output_shape=[(2, 3), [(2, 3), (2, 3)]],
        expected_num_trainable_weights=3,
    )
    assert report.ok, str(report)


@pytest.mark.backend_independent
def test_unpack_inputs_needs_several_inputs():
    with pytest.raises(ValueError, match=r"`unpack_inputs=True` for a single input"):
        check_layer(Scale, {}, (2, 4, 3), unpack_inputs=True)


@register
class CountsCallsNearAMillion(CountsCalls):
    """Outputs near 1e6 that drift by the number of calls: within rtol, far beyond atol."""

    def call(self, x):
        return super().call(x) + 1e6


def test_outputs_agree_within_the_relative_tolerance():
    # Eager and compiled outputs differ by a few calls, a few parts in a million.
    report = check_layer(CountsCallsNearAMillion, {}, (2, 4, 3), checks=("eager_call",))
    assert report.ok, str(report)
    strict = check_layer(CountsCallsNearAMillion, {}, (2, 4, 3), checks=("eager_call",), rtol=0.0)
    assert "(max gap" in strict["eager_call"].detail and "rtol 0.0" in strict["eager_call"].detail
