"""FLOPs of the convolution layers: every output position times its kernel's multiply-adds.

A transposed convolution is counted from its input positions, each spread
over the kernel, as torch's counter counts it.
"""

import math

from keras_tdplus.params._flops.base import known_sizes, products, register

__all__ = ["spatial_axes"]


def spatial_axes(shape, rank, data_format):
    """The `rank` spatial axes of a `(batch, ..., channels)` or channels-first shape."""
    first = len(shape) - rank - (1 if data_format == "channels_last" else 0)
    return list(range(first, first + rank))


def _kernel(layer):
    names = [f"k{i + 1}" for i in range(len(layer.kernel_size))]
    return names, dict(zip(names, layer.kernel_size, strict=True))


def _channels(shape, data_format, rank):
    return shape[-1] if data_format == "channels_last" else shape[len(shape) - rank - 1]


def _signature(layer, first="", rest=""):
    size = layer.kernel_size[0] if len(layer.kernel_size) == 1 else tuple(layer.kernel_size)
    return f"{type(layer).__name__}({first}kernel_size={size}{rest})"


@register("Conv1D", "Conv2D", "Conv3D")
def _conv(layer, shape, output, count):
    rank = len(layer.kernel_size)
    names, values = _kernel(layer)
    batch, *positions = known_sizes(
        layer, output, [0, *spatial_axes(output, rank, layer.data_format)], "output positions"
    )
    channels = _channels(shape, layer.data_format, rank)
    per_group = "channels_per_group" if layer.groups > 1 else "channels"
    values = {
        "batch": batch,
        "positions": math.prod(positions),
        **values,
        per_group: channels // layer.groups,
        "filters": layer.filters,
    }
    signature = _signature(layer, f"filters={layer.filters}, ")
    return products(layer, signature, [list(values)], values)


@register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(layer, shape, output, count):
    rank = len(layer.kernel_size)
    names, kernel = _kernel(layer)
    batch, *positions = known_sizes(
        layer, shape, [0, *spatial_axes(shape, rank, layer.data_format)], "input positions"
    )
    values = {
        "batch": batch,
        "input_positions": math.prod(positions),
        **kernel,
        "channels": _channels(shape, layer.data_format, rank),
        "filters": layer.filters,
    }
    signature = _signature(layer, f"filters={layer.filters}, ")
    return products(layer, signature, [list(values)], values)


def _depthwise_values(layer, shape, output):
    rank = len(layer.kernel_size)
    names, kernel = _kernel(layer)
    batch, *positions = known_sizes(
        layer, output, [0, *spatial_axes(output, rank, layer.data_format)], "output positions"
    )
    values = {
        "batch": batch,
        "positions": math.prod(positions),
        **kernel,
        "channels": _channels(shape, layer.data_format, rank),
        "depth_multiplier": layer.depth_multiplier,
    }
    return values, ["batch", "positions", *names, "channels", "depth_multiplier"]


@register("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(layer, shape, output, count):
    values, term = _depthwise_values(layer, shape, output)
    signature = _signature(layer, rest=f", depth_multiplier={layer.depth_multiplier}")
    return products(layer, signature, [term], values)


@register("SeparableConv1D", "SeparableConv2D")
def _separable(layer, shape, output, count):
    values, depthwise = _depthwise_values(layer, shape, output)
    values["filters"] = layer.filters
    pointwise = ["batch", "positions", "channels", "depth_multiplier", "filters"]
    signature = _signature(layer, f"filters={layer.filters}, ")
    return products(layer, signature, [depthwise, pointwise], values)
