"""The input shape `Throughput` counts at: the one it is given, or one read from `fit`'s data.

A sequence model mostly leaves its time axis unknown (`keras.Input((None, 8))`),
and its FLOPs grow with it. `fit`'s data says it: `(None, *per_sample_shape)`
of each input, matched to the model's inputs as `fit` matches them (a dict by
the keys `fit` reads, anything else by position). `count_flops` takes only the
sizes the model leaves unknown from it.
"""

import keras

from keras_tdplus._config.source import read_model_config
from keras_tdplus._messages import format_shape
from keras_tdplus.callbacks._fit_batches import per_sample
from keras_tdplus.params._shapes import declared_inputs, normalize_shape

__all__ = ["check_input_shape", "data_input_shape", "format_input_shape", "open_inputs"]


def check_input_shape(input_shape, batch_size):
    """`(shape, batch)`: `input_shape` checked as `count_flops` checks it, with a free batch
    axis, and the batch it or `batch_size` fixes (None for neither)."""
    if input_shape is None:
        return None, batch_size
    shape = normalize_shape(input_shape, "input_shape")
    shapes = shape if isinstance(shape, list) else [shape]
    fixed = {s[0] for s in shapes if s[0] is not None} | ({batch_size} - {None})
    if len(fixed) > 1:
        raise ValueError(
            "Received an invalid value for `input_shape`, expected the batch axis of every "
            "input and `batch_size` to agree (or None, to take the other's). Received: "
            f"input_shape={format_input_shape(shape)}, batch_size={batch_size!r}"
        )
    free = [(None, *s[1:]) for s in shapes]
    return (free if isinstance(shape, list) else free[0]), (fixed.pop() if fixed else None)


def open_inputs(model):
    """`[(key, name, shape)]` of `model`'s inputs when one leaves a size unknown, else `[]`.

    In the order `count_flops` takes their shapes: `key` is the one `fit`
    reads a dict of data by, `name` the input layer's, `shape` the model's.
    """
    try:
        config = read_model_config(model)
        declared = declared_inputs(config)
    except ValueError:  # a model count_flops cannot read either: it says why
        return []
    if all(shape is not None and None not in shape[1:] for _, shape in declared):
        return []
    spec = config[1].get("input_layers")
    # Keras matches a dict of data to a dict of inputs by its keys, else by the input tensors'
    # names, which are the input layers' names when the inputs are named.
    if isinstance(spec, dict):
        keys = list(spec)
    else:
        try:
            keys = [t.name for t in model.inputs]
        except (AttributeError, ValueError):  # a Sequential TensorFlow's fit has not built yet
            keys = []
    if len(keys) != len(declared):
        keys = [name for name, _ in declared]
    return [(key, name, shape) for key, (name, shape) in zip(keys, declared, strict=True)]


def data_input_shape(inputs, x):
    """The input shape of `inputs` (`open_inputs`) read from `fit`'s `x`, None where it cannot.

    `x` holds fit's inputs or one batch of them: a leaf (one input), a dict
    (by key) or a list or tuple (by position) of things with a `shape`.
    """
    if isinstance(x, dict):
        leaves = [x.get(key) for key, _, _ in inputs]
    else:
        leaves = keras.tree.flatten(x) if isinstance(x, (list, tuple)) else [x]
    if len(leaves) != len(inputs):
        return None
    samples = [per_sample(leaf) for leaf in leaves]
    if any(sample is None or None in sample for sample in samples):
        return None
    shapes = [(None, *sample) for sample in samples]
    return shapes if len(shapes) > 1 else shapes[0]


def format_input_shape(shape):
    """`(None, 6, 8)`, or `[(None, 6, 8), (None, 3)]` for several inputs."""
    if isinstance(shape, list):
        return "[" + ", ".join(map(format_input_shape, shape)) + "]"
    return "(None, ...)" if shape is None else format_shape(shape)
