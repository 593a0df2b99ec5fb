"""Formulas of the recurrent layers: LSTM, GRU, SimpleRNN, their cells, RNN and ConvLSTM."""

from keras_tdplus.params._formulas.base import (
    combine,
    input_channels,
    inside,
    kernel_terms,
    known,
    leaf,
    no_bias,
    register,
    require_rank,
)

__all__ = ["cell_output_size"]

_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
_CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}


def _cell_weights(layer, cell, kind, inputs, owner):
    """The explanation of a LSTM/GRU/SimpleRNN `cell` on `inputs` features, named as `layer`."""
    units = cell.units
    gates = _GATES[kind]
    reset_after = kind == "GRU" and cell.reset_after
    weights = [
        ("kernel", (inputs, gates * units), True),
        ("recurrent_kernel", (units, gates * units), True),
    ]
    if cell.use_bias:
        bias_shape = (2, gates * units) if reset_after else (gates * units,)
        weights.append(("bias", bias_shape, True))
        biases = " + 2" if reset_after else " + 1"
        inner = f"({{inputs}}{biases}) * {{units}} + {{units}}^2"
    else:
        inner = "{inputs} * {units} + {units}^2"
    template = inner if gates == 1 else f"{gates} * ({inner})"
    signature = f"{type(layer).__name__}(units={units}{no_bias(cell)}"
    if kind == "GRU" and cell.use_bias:
        signature += f", reset_after={cell.reset_after}"
    signature += ")"
    values = {"inputs": inputs, "units": units}
    return leaf(layer, signature, template, values, ("inputs",), weights, owner=owner)


@register("LSTM", "GRU", "SimpleRNN")
def _recurrent(layer, shape, count):
    require_rank(layer, shape, rank=3, expected="(batch, time, features)")
    inputs = known(layer, shape, -1, "inputs")
    return _cell_weights(layer, layer.cell, type(layer).__name__, inputs, layer.cell)


@register("LSTMCell", "GRUCell", "SimpleRNNCell")
def _cell(layer, shape, count):
    require_rank(layer, shape, rank=2, expected="(batch, features)")
    inputs = known(layer, shape, -1, "inputs")
    return _cell_weights(layer, layer, _CELLS[type(layer).__name__], inputs, layer)


@register("RNN")
def _rnn(layer, shape, count):
    require_rank(layer, shape, min_rank=3, expected="(batch, time, features)")
    inner = inside(layer, count, layer.cell, (shape[0], *shape[2:]))
    return combine(layer, f"RNN({inner.signature})", [inner])


@register("StackedRNNCells")
def _stacked_cells(layer, shape, count):
    require_rank(layer, shape, min_rank=2, expected="(batch, features)")
    parts = []
    for cell in layer.cells:
        parts.append(inside(layer, count, cell, shape))
        shape = (shape[0], cell_output_size(cell))
    signature = f"StackedRNNCells([{', '.join(p.signature for p in parts)}])"
    return combine(layer, signature, parts)


def cell_output_size(cell):
    """The features a recurrent cell passes to the next cell of a stack."""
    size = getattr(cell, "output_size", None)
    if size is None:
        state = cell.state_size
        size = state[0] if isinstance(state, (list, tuple)) else state
    return size


@register("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
def _conv_lstm(layer, shape, count):
    cell = layer.cell
    rank = len(cell.kernel_size)
    channels = input_channels(layer, shape, rank, cell.data_format, time_axis=True)
    filters = cell.filters
    names, values = kernel_terms(cell.kernel_size)
    values.update(channels=channels, filters=filters)
    kernels = " * ".join(f"{{{n}}}" for n in names)
    weights = [
        ("kernel", (*cell.kernel_size, channels, 4 * filters), True),
        ("recurrent_kernel", (*cell.kernel_size, filters, 4 * filters), True),
    ]
    if cell.use_bias:
        weights.append(("bias", (4 * filters,), True))
        template = f"4 * ({kernels} * ({{channels}} + {{filters}}) * {{filters}} + {{filters}})"
    else:
        template = f"4 * {kernels} * ({{channels}} + {{filters}}) * {{filters}}"
    kernel_size = cell.kernel_size[0] if rank == 1 else tuple(cell.kernel_size)
    signature = (
        f"{type(layer).__name__}(filters={filters}, kernel_size={kernel_size}{no_bias(cell)})"
    )
    return leaf(layer, signature, template, values, ("channels",), weights, owner=cell)
