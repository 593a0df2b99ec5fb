"""The shape and batch rules of the calculator: the shapes it is given, the shapes layers
give, and the one batch a count is for."""

import math
import numbers

import keras

from keras_tdplus._config.call_shapes import output_shapes, symbolic_arguments
from keras_tdplus._config.walk import entry_name, layer_entries, tensor_refs_of_spec
from keras_tdplus._messages import Argument, worded
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._registry import entry_for
from keras_tdplus.params._results import format_output_shape

__all__ = [
    "as_shape",
    "check_batch_size",
    "declared_inputs",
    "elements",
    "input_layer_shape",
    "merged_inputs",
    "normalize_shape",
    "one_batch",
    "output_shape",
    "require_known",
    "with_batch",
]


def normalize_shape(shape, argument):
    if (
        isinstance(shape, (list, tuple))
        and shape
        and all(isinstance(s, (list, tuple)) for s in shape)
    ):
        return [normalize_shape(s, argument) for s in shape]
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    valid = (
        dims is not None
        and len(dims) >= 1
        and all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0)
            for d in dims
        )
    )
    if not valid:
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected a tuple of non-negative "
            "ints or None that includes the batch axis, e.g. (None, 5, 1). "
            f"Received: {argument}={shape!r}"
        )
    return tuple(None if d is None else int(d) for d in dims)


def output_shape(layer, shape, options=None):
    """`layer`'s output shape, computed without building it.

    `options` are the call's plain keyword arguments (see `call_options`). A
    class whose registry entry has an output shape rule gets it from there.
    """
    entry = entry_for(type(layer))
    rule = None if entry is None else entry.output_shape
    try:
        if rule is not None:
            return rule(layer, shape, lambda: as_shape(_keras_output_shape(layer, shape, options)))
        return as_shape(_keras_output_shape(layer, shape, options))
    except ValueError:
        raise
    except Exception as error:  # Keras indexing the shape with a config value, e.g. axis=7
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no output shape on input_shape "
            f"{format_output_shape(shape)} with its config: {type(error).__name__}: {error}"
        ) from None


def _keras_output_shape(layer, shape, options):
    try:
        return output_shapes(layer, shape, options)
    except NotImplementedError:
        spec = layer.compute_output_spec(*symbolic_arguments(layer, shape))
        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)


def as_shape(out):
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
        return [as_shape(o) for o in out]
    if isinstance(out, dict):
        return [as_shape(o) for o in out.values()]
    return tuple(out)


def declared_inputs(model_config):
    """`[(name, shape)]` of the model's inputs as its config declares them (shape may be None)."""
    class_name, config = model_config
    entries = [e for e in layer_entries(config) if e.get("class_name") == "InputLayer"]
    if class_name == "Sequential":
        if entries:
            return [(entry_name(entries[0]), input_layer_shape(entries[0]))]
        built = config.get("build_input_shape")
        name = config.get("name", "sequential")
        return [(name, normalize_shape(built, "build_input_shape") if built else None)]
    by_name = {entry_name(e): e for e in entries}
    declared = []
    for ref in tensor_refs_of_spec(config.get("input_layers")):
        entry = by_name.get(ref[0])
        declared.append((ref[0], None if entry is None else input_layer_shape(entry)))
    return declared


def merged_inputs(model_name, declared, given):
    """The declared input shapes with the unknown sizes filled from `given`."""
    if given is None:
        return [shape for _, shape in declared]
    if len(given) != len(declared):
        raise ValueError(
            f"Model '{model_name}' has {len(declared)} input(s) "
            f"({', '.join(name for name, _ in declared)}), but {len(given)} input shape(s) "
            f"were given. Received: input_shape={given}"
        )
    merged = []
    for (name, mine), theirs in zip(declared, given, strict=True):
        if mine is None or theirs is None:
            merged.append(theirs if mine is None else mine)
            continue
        if len(mine) != len(theirs):
            raise SequenceShapeError(
                f"Model '{model_name}' input '{name}' has rank {len(mine)}, shape "
                f"{format_output_shape(mine)}, but the input_shape given for it has rank "
                f"{len(theirs)}: {format_output_shape(theirs)}. Fix: pass a shape of the "
                "input's rank, batch axis included"
            )
        # The batch given wins: a nested model's own batch is the one it was first built on.
        shape = [theirs[0] if theirs[0] is not None else mine[0]]
        for axis, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if axis == 0:
                continue
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"Model '{model_name}' input '{name}' takes size {a} on axis {axis} "
                    f"(shape {format_output_shape(mine)}), but the input_shape given for it "
                    f"says {b}: {format_output_shape(theirs)}. Fix: pass {a} on that axis, "
                    "or None to keep the model's"
                )
            shape.append(b if a is None else a)
        merged.append(tuple(shape))
    return merged


def elements(name, class_name, shape):
    if shape is None or None in shape:
        unknown = None if shape is None else shape.index(None)
        raise ValueError(
            f"Layer '{name}' ({class_name}) has an output of unknown "
            f"size{'' if unknown is None else f' on axis {unknown}'}: "
            f"{format_output_shape(shape)}, so its activations cannot be counted. Fix: pass "
            "an input_shape with every axis filled in"
        )
    return math.prod(shape)


def input_layer_shape(layer_config):
    config = layer_config.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("shape") is not None:
        shape = (None, *config["shape"])
    return normalize_shape(shape, "batch_shape")


def require_known(model_name, input_name, shape, batch_size):
    if shape is None:
        first = f"Model '{model_name}' has no input shape: it has no Input layer and was never"
        raise worded(
            ValueError,
            [
                f"{first} built. Fix: pass ",
                Argument("input_shape", (None, "...")),
                " with every axis but the batch filled in",
            ],
        )
    unknown = [axis for axis, size in enumerate(shape) if size is None and axis > 0]
    if unknown:
        filled = tuple(None if axis == 0 else (size or "T") for axis, size in enumerate(shape))
        raise worded(
            ValueError,
            [
                f"Model '{model_name}' input '{input_name}' has an unknown size on axis "
                f"{unknown[0]} ({format_output_shape(shape)}), and its FLOPs and activations "
                "grow with it. Fix: pass ",
                Argument("input_shape", filled),
                " with T the size to count for",
            ],
        )


def with_batch(shape, batch_size):
    if batch_size is None:
        return (shape[0] or 1, *shape[1:])
    if shape[0] is not None and shape[0] != batch_size:
        raise worded(
            ValueError,
            [
                f"The batch axis is fixed to {shape[0]} (shape {format_output_shape(shape)}), but ",
                Argument("batch_size", batch_size),
                ". Fix: count with ",
                Argument("batch_size", shape[0]),
                ", or give the input a free batch axis (None)",
            ],
        )
    return (int(batch_size), *shape[1:])


def one_batch(name, shapes, batch_size):
    """The batch every input is counted at: `batch_size`, or the one the shapes fix."""
    fixed = sorted({s[0] for s in shapes if s[0] is not None})
    if len(fixed) > 1:
        raise ValueError(
            f"'{name}' takes several inputs whose batch axes are fixed to different sizes "
            f"({', '.join(map(str, fixed))}); one forward pass has one batch. Fix: give every "
            "input the same batch, or None with batch_size=N"
        )
    return batch_size if batch_size is not None or not fixed else fixed[0]


def check_batch_size(batch_size):
    if batch_size is None:
        return
    integral = isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool)
    if not integral or batch_size < 1:
        raise ValueError(
            "Received an invalid value for `batch_size`, expected a positive int. "
            f"Received: batch_size={batch_size!r}"
        )
