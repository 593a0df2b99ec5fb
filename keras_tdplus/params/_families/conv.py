"""The convolution layers: their weights, and their FLOPs.

FLOPs are every output position times its kernel's multiply-adds. A
transposed convolution is counted from its input positions, each spread over
the kernel, as torch's counter counts it.
"""

import math

from keras import layers

from keras_tdplus._messages import Argument, worded
from keras_tdplus.params._explain import leaf, products
from keras_tdplus.params._families.base import (
    channels_axis,
    input_channels,
    kernel_signature,
    kernel_terms,
    known_sizes,
    no_bias,
    spatial_axes,
)
from keras_tdplus.params._gradients import gradients, weighed
from keras_tdplus.params._registry import flops_formula, weights_formula

__all__ = []

CONVOLUTIONS = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
TRANSPOSED = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
DEPTHWISE = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
SEPARABLE = (layers.SeparableConv1D, layers.SeparableConv2D)


def _kernel_weights(layer, values, kernels, template, signature, bias=None):
    """The weights of a layer with convolution kernels: `kernels` are `(name, shape)`.

    `template` reads the kernel sizes `{k1}`, `{k2}`, ... (see `_sizes`); the
    bias is `(filters,)` unless `bias` gives its `(shape, template)`.
    """
    values = {**kernel_terms(layer.kernel_size)[1], **values}
    weights = [(name, shape, True) for name, shape in kernels]
    if layer.use_bias:
        bias_shape, bias_template = bias or ((layer.filters,), "{filters}")
        weights.append(("bias", bias_shape, True))
        template += f" + {bias_template}"
    signature += no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)


def _sizes(layer):
    """`{k1} * {k2}`: the kernel's sizes, as a template reads them."""
    return " * ".join(f"{{{n}}}" for n in kernel_terms(layer.kernel_size)[0])


def _channels_in(layer, shape):
    return input_channels(layer, shape, len(layer.kernel_size), layer.data_format)


@weights_formula(*CONVOLUTIONS)
def _conv(layer, shape, count):
    channels, groups, filters = _channels_in(layer, shape), layer.groups, layer.filters
    if channels % groups:
        first = f"Layer '{layer.name}' ({type(layer).__name__}) needs input channels divisible"
        received = f" by `groups`. Received: groups={groups}, channels={channels}, "
        raise worded(ValueError, [first + received, Argument("input_shape", shape)])
    kernel = (*layer.kernel_size, channels // groups, filters)
    per_filter = "({channels} / {groups})" if groups > 1 else "{channels}"
    signature = kernel_signature(layer, f"filters={filters}, ")
    signature += f", groups={groups}" if groups > 1 else ""
    values = {"channels": channels, "groups": groups, "filters": filters}
    template = f"{_sizes(layer)} * {per_filter} * {{filters}}"
    return _kernel_weights(layer, values, [("kernel", kernel)], template, signature)


@weights_formula(*TRANSPOSED)
def _conv_transpose(layer, shape, count):
    channels, filters = _channels_in(layer, shape), layer.filters
    # A transposed kernel maps filters back to channels: (k..., filters, channels).
    kernels = [("kernel", (*layer.kernel_size, filters, channels))]
    signature = kernel_signature(layer, f"filters={filters}, ")
    values = {"channels": channels, "filters": filters}
    template = _sizes(layer) + " * {channels} * {filters}"
    return _kernel_weights(layer, values, kernels, template, signature)


@weights_formula(*DEPTHWISE)
def _depthwise(layer, shape, count):
    channels, multiplier = _channels_in(layer, shape), layer.depth_multiplier
    kernels = [("kernel", (*layer.kernel_size, channels, multiplier))]
    both = "{channels} * {depth_multiplier}"
    signature = kernel_signature(layer, "", f", depth_multiplier={multiplier}")
    values = {"channels": channels, "depth_multiplier": multiplier}
    bias = ((channels * multiplier,), both)
    return _kernel_weights(layer, values, kernels, f"{_sizes(layer)} * {both}", signature, bias)


@weights_formula(*SEPARABLE)
def _separable(layer, shape, count):
    channels, multiplier, filters = (
        _channels_in(layer, shape),
        layer.depth_multiplier,
        layer.filters,
    )
    rank = len(layer.kernel_size)
    kernels = [
        ("depthwise_kernel", (*layer.kernel_size, channels, multiplier)),
        ("pointwise_kernel", (*([1] * rank), channels * multiplier, filters)),
    ]
    signature = kernel_signature(layer, f"filters={filters}, ", f", depth_multiplier={multiplier}")
    values = {"channels": channels, "depth_multiplier": multiplier, "filters": filters}
    template = f"({_sizes(layer)} + {{filters}}) * {{channels}} * {{depth_multiplier}}"
    return _kernel_weights(layer, values, kernels, template, signature)


def _positions(layer, shape, key, what):
    """`{"batch": ..., key: ...}`: the batch and the product of `shape`'s spatial sizes."""
    axes = [0, *spatial_axes(shape, len(layer.kernel_size), layer.data_format)]
    batch, *positions = known_sizes(layer, shape, axes, what)
    return {"batch": batch, key: math.prod(positions)}


def _channels(layer, shape):
    return shape[channels_axis(shape, len(layer.kernel_size), layer.data_format)]


@flops_formula(*CONVOLUTIONS)
def _conv_flops(layer, shape, output, count):
    names, kernel = kernel_terms(layer.kernel_size)
    per_group = "channels_per_group" if layer.groups > 1 else "channels"
    values = {
        **_positions(layer, output, "positions", "output positions"),
        **kernel,
        per_group: _channels(layer, shape) // layer.groups,
        "filters": layer.filters,
    }
    signature = kernel_signature(layer, f"filters={layer.filters}, ") + ")"
    return products(layer, signature, [list(values)], values, weighed(layer))


@flops_formula(*TRANSPOSED)
def _conv_transpose_flops(layer, shape, output, count):
    names, kernel = kernel_terms(layer.kernel_size)
    values = {
        **_positions(layer, shape, "input_positions", "input positions"),
        **kernel,
        "channels": _channels(layer, shape),
        "filters": layer.filters,
    }
    signature = kernel_signature(layer, f"filters={layer.filters}, ") + ")"
    return products(layer, signature, [list(values)], values, weighed(layer))


def _depthwise_values(layer, shape, output):
    names, kernel = kernel_terms(layer.kernel_size)
    values = {
        **_positions(layer, output, "positions", "output positions"),
        **kernel,
        "channels": _channels(layer, shape),
        "depth_multiplier": layer.depth_multiplier,
    }
    return values, ["batch", "positions", *names, "channels", "depth_multiplier"]


@flops_formula(*DEPTHWISE)
def _depthwise_flops(layer, shape, output, count):
    values, term = _depthwise_values(layer, shape, output)
    signature = kernel_signature(layer, "", f", depth_multiplier={layer.depth_multiplier})")
    return products(layer, signature, [term], values, weighed(layer, "depthwise_kernel"))


@flops_formula(*SEPARABLE)
def _separable_flops(layer, shape, output, count):
    values, depthwise = _depthwise_values(layer, shape, output)
    values["filters"] = layer.filters
    pointwise = ["batch", "positions", "channels", "depth_multiplier", "filters"]
    signature = kernel_signature(layer, f"filters={layer.filters}, ") + ")"
    flow = gradients(layer)
    grads = None
    if flow is not None:
        first = weighed(layer, "depthwise_kernel")
        grads = first + weighed(layer, "pointwise_kernel", carried=flow.within())
    return products(layer, signature, [depthwise, pointwise], values, grads)
