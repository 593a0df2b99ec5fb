"""The recurrent layers, their cells, RNN and ConvLSTM: their weights, and their FLOPs.

Each of the `time` steps runs its cell's matrix products: a LSTM, GRU or
SimpleRNN step multiplies the step's inputs and the previous state by `gates *
units` columns (4 gates, 3, 1): `2 * batch * (inputs + units) * gates * units`
FLOPs. A GRU with `reset_after=False` splits its recurrent product in two,
which multiplies as many numbers. ConvLSTM steps convolve the input and the
state into `4 * filters` channels.
"""

import math

from keras import layers

from keras_tdplus.params._explain import leaf, products, recurrence, repeated, summed
from keras_tdplus.params._families.base import (
    channels_axis,
    input_channels,
    inside,
    kernel_terms,
    known,
    known_sizes,
    no_bias,
    require_rank,
    spatial_axes,
)
from keras_tdplus.params._gradients import flowing, gradients, weighed
from keras_tdplus.params._registry import flops_formula, weights_formula
from keras_tdplus.params._results import FlopExplanation, ParamExplanation

__all__ = []

RECURRENT = (layers.LSTM, layers.GRU, layers.SimpleRNN)
CELLS = (layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell)
CONV_LSTM = (layers.ConvLSTM1D, layers.ConvLSTM2D, layers.ConvLSTM3D)

# The gates of each layer and of its cell.
_GATES = {
    layers.LSTM: 4,
    layers.GRU: 3,
    layers.SimpleRNN: 1,
    layers.LSTMCell: 4,
    layers.GRUCell: 3,
    layers.SimpleRNNCell: 1,
}


def _cell_weights(layer, cell, inputs, owner):
    """The explanation of a LSTM/GRU/SimpleRNN `cell` on `inputs` features, named as `layer`."""
    units = cell.units
    gates = _GATES[type(cell)]
    is_gru = type(cell) is layers.GRUCell
    reset_after = is_gru and cell.reset_after
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
    if is_gru and cell.use_bias:
        signature += f", reset_after={cell.reset_after}"
    signature += ")"
    values = {"inputs": inputs, "units": units}
    return leaf(layer, signature, template, values, ("inputs",), weights, owner=owner)


@weights_formula(*RECURRENT)
def _recurrent(layer, shape, count):
    require_rank(layer, shape, rank=3, expected="(batch, time, features)")
    inputs = known(layer, shape, -1, "inputs")
    return _cell_weights(layer, layer.cell, inputs, layer.cell)


@weights_formula(*CELLS)
def _cell(layer, shape, count):
    require_rank(layer, shape, rank=2, expected="(batch, features)")
    inputs = known(layer, shape, -1, "inputs")
    return _cell_weights(layer, layer, inputs, layer)


@weights_formula(layers.RNN)
def _rnn(layer, shape, count):
    require_rank(layer, shape, min_rank=3, expected="(batch, time, features)")
    inner = inside(layer, count, layer.cell, (shape[0], *shape[2:]))
    return summed(layer, f"RNN({inner.signature})", [inner])


@weights_formula(layers.StackedRNNCells)
def _stacked_cells(layer, shape, count):
    require_rank(layer, shape, min_rank=2, expected="(batch, features)")
    parts = []
    for cell in layer.cells:
        parts.append(inside(layer, count, cell, shape))
        shape = (shape[0], cell_output_size(cell))
    signature = f"StackedRNNCells([{', '.join(p.signature for p in parts)}])"
    return summed(layer, signature, parts, ParamExplanation)


def cell_output_size(cell):
    """The features a recurrent cell passes to the next cell of a stack."""
    size = getattr(cell, "output_size", None)
    if size is None:
        state = cell.state_size
        size = state[0] if isinstance(state, (list, tuple)) else state
    return size


@weights_formula(*CONV_LSTM)
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
    signature = _conv_lstm_signature(layer) + no_bias(cell) + ")"
    return leaf(layer, signature, template, values, ("channels",), weights, owner=cell)


def _conv_lstm_signature(layer):
    cell = layer.cell
    size = cell.kernel_size[0] if len(cell.kernel_size) == 1 else tuple(cell.kernel_size)
    return f"{type(layer).__name__}(filters={cell.filters}, kernel_size={size}"


def _step(layer, cell, batch, inputs):
    """One step of `cell`'s products; in a training step, with the gradients of the step.

    The previous state carries a gradient when the context says (`Flow.state`:
    not at step 0, unless an initial state that carries one was passed). A GRU
    with `reset_after=False` multiplies `reset * state` by the candidate's
    columns, which carries a gradient whenever the reset gate does.
    """
    gates = _GATES[type(cell)]
    values = {"batch": batch, "inputs": inputs, "units": cell.units}
    terms = [["batch", "inputs", gates, "units"], ["batch", "units", gates, "units"]]
    signature = f"{type(layer).__name__}(units={cell.units})"
    flow = gradients(cell)
    if flow is None:
        return products(layer, signature, terms, values)
    grads = weighed(cell) + weighed(cell, "recurrent_kernel", carried=flow.state)
    if type(cell) is layers.GRUCell and not cell.reset_after:
        terms[1:] = [["batch", "units", 2, "units"], ["batch", "units", 1, "units"]]
        reset = flow.within() or flow.state
        grads.append(weighed(cell, "recurrent_kernel", carried=reset)[0])
    return products(layer, signature, terms, values, grads)


def _steps(layer, time, step, wrapper=None):
    """`time` runs of `step()`: in a training step, step 0's state carries no gradient.

    The signature is the step's, inside `wrapper(...)` when one is named.
    """
    flow = gradients(layer)
    if flow is None:
        first = rest = step()
    else:
        # A state passed in (`initial_state`) carries a gradient if it was computed from weights.
        with flowing(state=any(flow.inputs[1:])):
            first = step()
        with flowing(state=flow.within()):
            rest = step()
    signature = rest.signature if wrapper is None else f"{wrapper}({rest.signature})"
    if first.total == rest.total or time < 1:
        return repeated(layer, signature, "time", time, rest)
    return recurrence(layer, signature, time, first, rest)


@flops_formula(*RECURRENT)
def _recurrent_flops(layer, shape, output, count):
    batch, time, inputs = known_sizes(layer, shape, [0, 1, 2], "batch, time, inputs")
    return _steps(layer, time, lambda: _step(layer, layer.cell, batch, inputs))


@flops_formula(*CELLS)
def _cell_flops(layer, shape, output, count):
    batch, inputs = known_sizes(layer, shape, [0, 1], "batch, inputs")
    return _step(layer, layer, batch, inputs)


@flops_formula(layers.RNN)
def _rnn_flops(layer, shape, output, count):
    (time,) = known_sizes(layer, shape, [1], "time")
    step_shape = (shape[0], *shape[2:])
    return _steps(layer, time, lambda: count(layer.cell, step_shape), wrapper="RNN")


@flops_formula(layers.StackedRNNCells)
def _stacked_cells_flops(layer, shape, output, count):
    parts = []
    flow = gradients(layer)
    carried = flow is not None and flow.input
    for cell in layer.cells:
        with flowing(inputs=[carried]):  # a cell's input is the cell's before it
            parts.append(count(cell, shape))
        shape = (shape[0], cell_output_size(cell))
        carried = carried or (flow is not None and flow.kernel and cell.trainable)
    signature = f"StackedRNNCells([{', '.join(p.signature for p in parts)}])"
    return summed(layer, signature, parts, FlopExplanation)


@flops_formula(*CONV_LSTM)
def _conv_lstm_flops(layer, shape, output, count):
    cell = layer.cell
    rank = len(cell.kernel_size)
    # The state has the positions of the output: the input convolution's own (its strides and
    # padding); the state's convolution keeps them ("same", stride 1).
    state = output[0] if isinstance(output, list) else output  # return_state: [output, h, c]
    axes = spatial_axes(state, rank, cell.data_format)
    batch, time = known_sizes(layer, shape, [0, 1], "batch, time")
    positions = math.prod(known_sizes(layer, state, axes, "output positions"))
    names, kernel = kernel_terms(cell.kernel_size)
    values = {
        "batch": batch,
        "positions": positions,
        **kernel,
        "channels": shape[channels_axis(shape, rank, cell.data_format)],
        "filters": cell.filters,
    }
    terms = [
        ["batch", "positions", *names, "channels", 4, "filters"],
        ["batch", "positions", *names, "filters", 4, "filters"],
    ]
    signature = _conv_lstm_signature(layer) + ")"

    def step():
        flow = gradients(cell)
        grads = None
        if flow is not None:
            grads = weighed(cell) + weighed(cell, "recurrent_kernel", carried=flow.state)
        return products(layer, signature, terms, values, grads)

    return _steps(layer, time, step)
