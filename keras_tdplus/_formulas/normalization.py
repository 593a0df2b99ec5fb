"""Formulas of the normalization layers."""

import math

from keras_tdplus._formulas._base import known, leaf, register
from keras_tdplus._time_axis import format_shape


def _axes_shape(layer, shape, axes):
    for axis in axes:
        if not -len(shape) <= axis < len(shape):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) normalizes over `axis`={axis}, "
                f"which input_shape {format_shape(shape)} does not have. "
                f"Received: axis={layer.axis}, input_shape={format_shape(shape)}"
            )
        known(layer, shape, axis, "features")
    return tuple(shape[axis] for axis in axes)


@register("LayerNormalization")
def _layer_normalization(layer, shape, count):
    axes = sorted(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    weight_shape = _axes_shape(layer, shape, axes)
    weights = []
    if layer.scale or layer.rms_scaling:
        weights.append(("gamma", weight_shape, True))
    if layer.center and not layer.rms_scaling:
        weights.append(("beta", weight_shape, True))
    template = {0: "0", 1: "{features}", 2: "2 * {features}"}[len(weights)]
    options = [
        f"{name}={getattr(layer, name)}"
        for name, default in (("center", True), ("scale", True), ("rms_scaling", False))
        if getattr(layer, name) != default
    ]
    signature = "LayerNormalization" + (f"({', '.join(options)})" if options else "")
    values = {"features": math.prod(weight_shape)}
    return leaf(layer, signature, template, values, ("features",), weights)


@register("BatchNormalization")
def _batch_normalization(layer, shape, count):
    weight_shape = _axes_shape(layer, shape, [layer.axis])
    weights = []
    if layer.scale:
        weights.append(("gamma", weight_shape, True))
    if layer.center:
        weights.append(("beta", weight_shape, True))
    moving = ["moving_mean", "moving_variance"]
    if layer.renorm:
        moving += ["moving_stddev", "renorm_mean", "renorm_stddev"]
    weights += [(name, weight_shape, False) for name in moving]
    learned = {0: "", 1: "{features} + ", 2: "2 * {features} + "}[len(weights) - len(moving)]
    template = f"{learned}{len(moving)} * {{features}}"
    options = [
        f"{name}={getattr(layer, name)}"
        for name, default in (("center", True), ("scale", True), ("renorm", False))
        if getattr(layer, name) != default
    ]
    signature = "BatchNormalization" + (f"({', '.join(options)})" if options else "")
    values = {"features": weight_shape[0]}
    return leaf(layer, signature, template, values, ("features",), weights)
