"""Formulas of the convolution layers."""

from keras_tdplus._formulas._base import input_channels, kernel_terms, leaf, no_bias, register
from keras_tdplus._time_axis import format_shape


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
    kernel_size = layer.kernel_size[0] if rank == 1 else tuple(layer.kernel_size)
    signature = f"{type(layer).__name__}(filters={filters}, kernel_size={kernel_size}"
    signature += (f", groups={groups}" if groups > 1 else "") + no_bias(layer) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights)
