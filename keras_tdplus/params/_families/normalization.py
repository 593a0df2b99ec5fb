"""The normalization layers: Batch, Layer, Group, RMS and Spectral normalization: their
weights, and their FLOPs (0 but for the layer SpectralNormalization wraps)."""

import math

import keras
from keras import layers

from keras_tdplus._messages import Argument, format_shape, worded
from keras_tdplus.params._explain import leaf, products, summed, zero_flops
from keras_tdplus.params._families.base import inside, known, require_rank
from keras_tdplus.params._gradients import is_training
from keras_tdplus.params._registry import entry_for, flops_formula, weights_formula

__all__ = []


def _axes_shape(layer, shape, axes):
    for axis in axes:
        if not -len(shape) <= axis < len(shape):
            raise worded(
                ValueError,
                [
                    f"Layer '{layer.name}' ({type(layer).__name__}) normalizes over `axis`="
                    f"{axis}, which input_shape {format_shape(shape)} does not have. "
                    f"Received: axis={layer.axis}, ",
                    Argument("input_shape", shape),
                ],
            )
        known(layer, shape, axis, "features")
    return tuple(shape[axis] for axis in axes)


# Since keras 3.14, LayerNormalization sorts a list `axis` before it shapes its
# weights; before, the weights follow the axes in the order given.
_SORTS_AXES = tuple(int(part) for part in keras.__version__.split(".")[:2]) >= (3, 14)


@weights_formula(layers.LayerNormalization)
def _layer_normalization(layer, shape, count):
    if isinstance(layer.axis, (list, tuple)):
        axes = sorted(layer.axis) if _SORTS_AXES else list(layer.axis)
    else:
        axes = [layer.axis]
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


@weights_formula(layers.BatchNormalization)
def _batch_normalization(layer, shape, count):
    weight_shape = _axes_shape(layer, shape, [layer.axis])
    weights = []
    if layer.scale:
        weights.append(("gamma", weight_shape, True))
    if layer.center:
        weights.append(("beta", weight_shape, True))
    moving = ["moving_mean", "moving_variance"]
    # `renorm` came in keras 3.14; older BatchNormalization layers have no such attribute.
    renorm = getattr(layer, "renorm", False)
    if renorm:
        moving += ["moving_stddev", "renorm_mean", "renorm_stddev"]
    weights += [(name, weight_shape, False) for name in moving]
    learned = {0: "", 1: "{features} + ", 2: "2 * {features} + "}[len(weights) - len(moving)]
    template = f"{learned}{len(moving)} * {{features}}"
    options = [
        f"{name}={value}"
        for name, value, default in (
            ("center", layer.center, True),
            ("scale", layer.scale, True),
            ("renorm", renorm, False),
        )
        if value != default
    ]
    signature = "BatchNormalization" + (f"({', '.join(options)})" if options else "")
    values = {"features": weight_shape[0]}
    return leaf(layer, signature, template, values, ("features",), weights)


@weights_formula(layers.GroupNormalization)
def _group_normalization(layer, shape, count):
    require_rank(layer, shape, min_rank=2, expected="(batch, ..., channels)")
    (channels,) = _axes_shape(layer, shape, [layer.axis])
    groups = channels if layer.groups == -1 else layer.groups
    if channels % groups:
        first = f"Layer '{layer.name}' (GroupNormalization) needs channels divisible by `groups`."
        received = f" Received: groups={groups}, channels={channels}, "
        raise worded(ValueError, [first + received, Argument("input_shape", shape)])
    weights = []
    if layer.scale:
        weights.append(("gamma", (channels,), True))
    if layer.center:
        weights.append(("beta", (channels,), True))
    template = {0: "0", 1: "{channels}", 2: "2 * {channels}"}[len(weights)]
    signature = f"GroupNormalization(groups={layer.groups})"
    values = {"channels": channels}
    return leaf(layer, signature, template, values, ("channels",), weights)


@weights_formula(layers.RMSNormalization)
def _rms_normalization(layer, shape, count):
    axes = sorted(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    weight_shape = _axes_shape(layer, shape, axes)
    values = {"features": math.prod(weight_shape)}
    weights = [("scale", weight_shape, True)]
    return leaf(layer, "RMSNormalization", "{features}", values, ("features",), weights)


@weights_formula(layers.SpectralNormalization)
def _spectral_normalization(layer, shape, count):
    inner = inside(layer, count, layer.layer, shape)
    kernel = next(
        (w for w in inner.weights if w.name in ("kernel", "embeddings")),
        None,
    )
    if kernel is None:
        raise ValueError(
            f"Layer '{layer.name}' (SpectralNormalization) wraps '{layer.layer.name}' "
            f"({type(layer.layer).__name__}), which has no `kernel` nor `embeddings`. "
            "Expected: a layer with a kernel, such as Dense or a convolution"
        )
    outputs = kernel.shape[-1]
    vector = leaf(
        layer,
        "vector_u",
        "{outputs}",
        {"outputs": outputs},
        (),
        [("vector_u", (1, outputs), False)],
    )
    signature = f"SpectralNormalization({inner.signature})"
    prefixes = [layer.layer.name, layer.name]
    return summed(layer, signature, [inner, vector], prefixes=prefixes)


@flops_formula(layers.SpectralNormalization)
def _spectral_normalization_flops(layer, shape, output, count):
    inner = count(layer.layer, shape)
    signature = f"SpectralNormalization({inner.signature})"
    if not is_training():
        return summed(layer, signature, [inner])  # a forward pass runs the wrapped layer alone
    # A training step first normalizes the kernel by its power iteration: `power_iterations`
    # times two vector-matrix products, then sigma's two; their results are assigned to the
    # variables, so no gradient flows back through them.
    weights = entry_for(type(layer.layer)).weights(layer.layer, shape, None).weights
    rows_by_outputs = next(w.shape for w in weights if w.name in ("kernel", "embeddings"))
    values = {
        "power_iterations": layer.power_iterations,
        "rows": math.prod(rows_by_outputs[:-1]),
        "outputs": rows_by_outputs[-1],
    }
    terms = [["power_iterations", 2, "rows", "outputs"], ["rows", "outputs"], ["outputs"]]
    iteration = products(layer, "power iteration", terms, values, [[], [], []])
    return summed(layer, signature, [inner, iteration])


# Normalizing scales and shifts element by element: 0 FLOPs.
flops_formula(
    layers.LayerNormalization,
    layers.BatchNormalization,
    layers.GroupNormalization,
    layers.RMSNormalization,
)(zero_flops)
