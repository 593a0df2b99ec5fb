"""keras_tdplus.testing.check_layer: passes good layers, names what breaks bad ones."""

import keras
import pytest
from keras import layers, ops

from keras_tdplus.testing import CHECKS, check_layer


class Scale(layers.Layer):
    """A correct per-feature scale, registered, for the helper to pass."""

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


keras.saving.register_keras_serializable(package="tdplus_tests")(Scale)


class ForgetsConfig(Scale):
    def get_config(self):
        return layers.Layer.get_config(self)


class LiesAboutShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 7)


class AlwaysFloat32(Scale):
    def call(self, x):
        return ops.cast(x, "float32") * ops.cast(self.w, "float32")


class NotRegistered(layers.Layer):
    def call(self, x):
        return x * 2.0


class DropsMask(Scale):
    def compute_mask(self, inputs, mask=None):
        return None


class ForgetsMasking(Scale):
    """Never sets supports_masking: Keras' default compute_mask still returns the mask."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.supports_masking = False


class ForgetsAnArgument(Scale):
    """Takes `offset` but leaves it out of get_config."""

    def __init__(self, factor=2.0, offset=0.0, **kwargs):
        super().__init__(factor, **kwargs)
        self.offset = offset

    def call(self, x):
        return super().call(x) + self.offset


for _cls in (ForgetsMasking, ForgetsAnArgument):
    keras.saving.register_keras_serializable(package="tdplus_tests")(_cls)


def test_a_correct_layer_passes_every_check():
    report = check_layer(Scale, {"factor": 3.0}, (2, 4, 3), mask_behavior="pass_through")
    assert [r.name for r in report.results] == list(CHECKS)
    assert report.ok, str(report)
    report.raise_for_failures()


@pytest.mark.parametrize(
    "layer_cls, failing, text",
    [
        (ForgetsConfig, "config_round_trip", "leaves out the constructor argument(s) ['factor']"),
        (LiesAboutShape, "eager_call", "eager output shape (2, 4, 3) != compute_output_shape"),
        (AlwaysFloat32, "mixed_float16", "expected float16"),
        (AlwaysFloat32, "bfloat16", "expected bfloat16"),
        (NotRegistered, "config_round_trip", "registered with keras.saving.register_keras"),
        (DropsMask, "masking", "declared mask_behavior='pass_through'"),
        (ForgetsMasking, "masking", "supports_masking is False"),
        (
            ForgetsAnArgument,
            "config_round_trip",
            "leaves out the constructor argument(s) ['offset']",
        ),
    ],
)
def test_a_broken_layer_fails_the_right_check_with_a_reason(layer_cls, failing, text):
    kwargs = {} if layer_cls is NotRegistered else {"factor": 3.0}
    if layer_cls is ForgetsAnArgument:
        kwargs["offset"] = 1.0
    report = check_layer(layer_cls, kwargs, (2, 4, 3), mask_behavior="pass_through")
    assert not report.ok
    assert not report[failing].passed
    assert text in report[failing].detail
    with pytest.raises(AssertionError, match=f"FAIL {failing}: "):
        report.raise_for_failures()
    line = str(report[failing])
    assert line.startswith(f"FAIL {failing}: ") and "\n" not in line


def test_an_undeclared_mask_behavior_is_a_skip_not_a_pass():
    report = check_layer(Scale, {}, (2, 3, 2), checks=("build", "masking"))
    assert report.ok
    assert not report["masking"].passed and report["masking"].skipped
    assert report.skipped == [report["masking"]] and report.failures == []
    assert str(report["masking"]).startswith("SKIP masking: no mask_behavior declared")


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
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        check_layer(**kwargs)
