"""Formulas of the convolution layers."""

from keras_tdplus._messages import format_shape
from keras_tdplus.params._formulas.base import input_channels, kernel_terms, leaf, no_bias, register

__all__ = []


@register("Conv1D", "Conv2D", "Conv3D")
def _conv(layer, shape, count):
    rank = len(layer.kernel_size)
    channels = input_channels(layer, shape, rank, layer.data_format)
    groups = layer.groups
    if channels % groups:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs input channels divisible by "
            f"`groups`. Received: groups={groups}, channels={channels}, "
            f"input_shape={format_shape(shape)}"
        )
    filters = layer.filters
    names, values = kernel_terms(layer.kernel_size)
    values.update(channels=channels, groups=groups, filters=filters)
    weights = [("kernel", (*layer.kernel_size, channels // groups, filters), True)]
    per_filter = "({channels} / {groups})" if groups > 1 else "{channels}"
    template = " * ".join(f"{{{n}}}" for n in names) + f" * {per_filter} * {{filters}}"
    if layer.use_bias:
        weights.append(("bias", (filters,), True))
        template += " + {filters}"
    signature = _kernel_signature(layer, f"filters={filters}, ")
    signature += (f", groups={groups}" if groups > 1 else "") + no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)


def _kernel_signature(layer, first):
    size = layer.kernel_size[0] if len(layer.kernel_size) == 1 else tuple(layer.kernel_size)
    return f"{type(layer).__name__}({first}kernel_size={size}"


@register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(layer, shape, count):
    channels = input_channels(layer, shape, len(layer.kernel_size), layer.data_format)
    filters = layer.filters
    names, values = kernel_terms(layer.kernel_size)
    values.update(channels=channels, filters=filters)
    # A transposed kernel maps filters back to channels: (k..., filters, channels).
    weights = [("kernel", (*layer.kernel_size, filters, channels), True)]
    template = " * ".join(f"{{{n}}}" for n in names) + " * {channels} * {filters}"
    if layer.use_bias:
        weights.append(("bias", (filters,), True))
        template += " + {filters}"
    signature = _kernel_signature(layer, f"filters={filters}, ") + no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)


@register("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(layer, shape, count):
    channels = input_channels(layer, shape, len(layer.kernel_size), layer.data_format)
    multiplier = layer.depth_multiplier
    names, values = kernel_terms(layer.kernel_size)
    values.update(channels=channels, depth_multiplier=multiplier)
    weights = [("kernel", (*layer.kernel_size, channels, multiplier), True)]
    template = " * ".join(f"{{{n}}}" for n in names) + " * {channels} * {depth_multiplier}"
    if layer.use_bias:
        weights.append(("bias", (channels * multiplier,), True))
        template += " + {channels} * {depth_multiplier}"
    signature = _kernel_signature(layer, "") + f", depth_multiplier={multiplier}"
    signature += no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)


@register("SeparableConv1D", "SeparableConv2D")
def _separable(layer, shape, count):
    rank = len(layer.kernel_size)
    channels = input_channels(layer, shape, rank, layer.data_format)
    multiplier, filters = layer.depth_multiplier, layer.filters
    names, values = kernel_terms(layer.kernel_size)
    values.update(channels=channels, depth_multiplier=multiplier, filters=filters)
    weights = [
        ("depthwise_kernel", (*layer.kernel_size, channels, multiplier), True),
        ("pointwise_kernel", (*([1] * rank), channels * multiplier, filters), True),
    ]
    kernels = " * ".join(f"{{{n}}}" for n in names)
    template = f"({kernels} + {{filters}}) * {{channels}} * {{depth_multiplier}}"
    if layer.use_bias:
        weights.append(("bias", (filters,), True))
        template += " + {filters}"
    signature = _kernel_signature(layer, f"filters={filters}, ")
    signature += f", depth_multiplier={multiplier}" + no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)
