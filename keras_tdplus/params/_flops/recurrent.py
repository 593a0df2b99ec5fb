"""FLOPs of the recurrent layers: each of the `time` steps runs its cell's matrix products.

A LSTM, GRU or SimpleRNN step multiplies the step's inputs and the previous
state by `gates * units` columns (4 gates, 3, 1): `2 * batch * (inputs +
units) * gates * units`. A GRU with `reset_after=False` splits its recurrent
product in two, which multiplies as many numbers. ConvLSTM steps convolve
the input and the state into `4 * filters` channels.
"""

import math

from keras_tdplus.params._flops.base import known_sizes, products, register, repeated, summed
from keras_tdplus.params._flops.conv import spatial_axes
from keras_tdplus.params._formulas.recurrent import cell_output_size

__all__ = []

_STEP_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}


def _step(layer, cell, batch, inputs):
    gates = _STEP_GATES[type(cell).__name__]
    values = {"batch": batch, "inputs": inputs, "units": cell.units}
    terms = [["batch", "inputs", gates, "units"], ["batch", "units", gates, "units"]]
    signature = f"{type(layer).__name__}(units={cell.units})"
    return products(layer, signature, terms, values)


@register("LSTM", "GRU", "SimpleRNN")
def _recurrent(layer, shape, output, count):
    batch, time, inputs = known_sizes(layer, shape, [0, 1, 2], "batch, time, inputs")
    step = _step(layer, layer.cell, batch, inputs)
    return repeated(layer, step.signature, "time", time, step)


@register("LSTMCell", "GRUCell", "SimpleRNNCell")
def _cell(layer, shape, output, count):
    batch, inputs = known_sizes(layer, shape, [0, 1], "batch, inputs")
    return _step(layer, layer, batch, inputs)


@register("RNN")
def _rnn(layer, shape, output, count):
    (time,) = known_sizes(layer, shape, [1], "time")
    inner = count(layer.cell, (shape[0], *shape[2:]))
    return repeated(layer, f"RNN({inner.signature})", "time", time, inner)


@register("StackedRNNCells")
def _stacked_cells(layer, shape, output, count):
    parts = []
    for cell in layer.cells:
        parts.append(count(cell, shape))
        shape = (shape[0], cell_output_size(cell))
    signature = f"StackedRNNCells([{', '.join(p.signature for p in parts)}])"
    return summed(layer, signature, parts)


@register("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
def _conv_lstm(layer, shape, output, count):
    cell = layer.cell
    rank = len(cell.kernel_size)
    # The state has the positions of the output: the input convolution's own (its strides and
    # padding); the state's convolution keeps them ("same", stride 1).
    state = output[0] if isinstance(output, list) else output  # return_state: [output, h, c]
    axes = spatial_axes(state, rank, cell.data_format)
    batch, time = known_sizes(layer, shape, [0, 1], "batch, time")
    positions = math.prod(known_sizes(layer, state, axes, "output positions"))
    names = [f"k{i + 1}" for i in range(rank)]
    channels = shape[-1] if cell.data_format == "channels_last" else shape[2]
    values = {
        "batch": batch,
        "positions": positions,
        **dict(zip(names, cell.kernel_size, strict=True)),
        "channels": channels,
        "filters": cell.filters,
    }
    terms = [
        ["batch", "positions", *names, "channels", 4, "filters"],
        ["batch", "positions", *names, "filters", 4, "filters"],
    ]
    size = cell.kernel_size[0] if rank == 1 else tuple(cell.kernel_size)
    signature = f"{type(layer).__name__}(filters={cell.filters}, kernel_size={size})"
    step = products(layer, signature, terms, values)
    return repeated(layer, signature, "time", time, step)
