"""The lint's rules: which layers need or drop a time axis, and the fix for each mistake."""

import contextlib
import dataclasses
import math
import numbers

import keras

from keras_tdplus._config.walk import entry_name
from keras_tdplus._kinds import RECURRENT_CLASSES, return_sequences_call
from keras_tdplus._messages import format_shape, message
from keras_tdplus.validation._lint_report import Finding

__all__ = [
    "EXPECTED_BY_RANK",
    "Tensor",
    "UNKNOWN",
    "drops_time_axis",
    "format_any",
    "make_layer",
    "needed_rank",
    "return_sequences_fix",
    "shapes_of",
    "spec_problem",
    "time_axis_fixes",
]

_RNN_RANK = {"ConvLSTM1D": 4, "ConvLSTM2D": 5, "ConvLSTM3D": 6}


_STEP_LAYERS = frozenset(
    {
        "Conv1D",
        "Conv1DTranspose",
        "SeparableConv1D",
        "DepthwiseConv1D",
        "MaxPooling1D",
        "AveragePooling1D",
        "GlobalMaxPooling1D",
        "GlobalAveragePooling1D",
        "UpSampling1D",
        "ZeroPadding1D",
        "Cropping1D",
    }
)


EXPECTED_BY_RANK = {
    3: "shape (batch, time, features), rank 3",
    4: "shape (batch, time, steps, channels), rank 4",
    5: "shape (batch, time, rows, cols, channels), rank 5",
    6: "shape (batch, time, depth, rows, cols, channels), rank 6",
}


@dataclasses.dataclass(frozen=True)
class _Layer:
    """A layer as the lint sees it: from a live object, a config, or both."""

    name: str
    class_name: str
    names: frozenset
    config: dict
    obj: object = None
    # Why there is no `obj`, when the layer could not be rebuilt from its config.
    why: ValueError | None = None


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A tensor's static shape, the layer that made it, and who dropped its time axis."""

    shape: tuple | None
    producer: str | None = None
    from_input: bool = False
    dropped_by: _Layer | None = None


UNKNOWN = Tensor(None)


def make_layer(entry, obj, prefix):
    why = None
    if isinstance(obj, ValueError):
        obj, why = None, obj
    names = {entry.get("class_name", "?")}
    config = entry.get("config") or {}
    if obj is not None:
        names |= {cls.__name__ for cls in type(obj).__mro__}
        if len(config) <= 1:
            with contextlib.suppress(Exception):
                config = obj.get_config()
    class_name = type(obj).__name__ if obj is not None else entry.get("class_name", "?")
    return _Layer(prefix + entry_name(entry), class_name, frozenset(names), config, obj, why)


def _inner(layer):
    """`(class names, config, object)` of a wrapper's inner layer."""
    obj = getattr(layer.obj, "forward_layer", None) or getattr(layer.obj, "layer", None)
    entry = layer.config.get("layer") if isinstance(layer.config.get("layer"), dict) else {}
    if obj is not None:
        config = entry.get("config", {})
        with contextlib.suppress(Exception):
            config = obj.get_config()
        return frozenset(c.__name__ for c in type(obj).__mro__), config, obj
    return frozenset({entry.get("class_name", "?")}), entry.get("config", {}), None


def needed_rank(layer):
    """`(rank, expected text)` for a layer that needs a time axis, else None."""
    names = layer.names
    if "Bidirectional" in names:
        names = _inner(layer)[0]
    if names & {"TimeDistributed", "TimeDistributedDense"}:
        rank = 3
        if "TimeDistributed" in names:
            inner = _inner(layer)[2]
            spec = getattr(inner, "input_spec", None)
            inner_rank = getattr(spec, "ndim", None) or getattr(spec, "min_ndim", None)
            if isinstance(inner_rank, int):
                rank = max(rank, inner_rank + 1)
        if rank == 3:
            return 3, "shape (batch, time, ..., features), rank >= 3"
        return rank, f"shape (batch, time, ...), rank >= {rank}"
    for name, rank in _RNN_RANK.items():
        if name in names:
            return rank, EXPECTED_BY_RANK[rank]
    if names & (RECURRENT_CLASSES | _STEP_LAYERS):
        return 3, EXPECTED_BY_RANK[3]
    return None


def drops_time_axis(layer):
    if not layer.names & RECURRENT_CLASSES:
        return False
    if layer.obj is not None and hasattr(layer.obj, "return_sequences"):
        return not layer.obj.return_sequences
    config = layer.config
    if "Bidirectional" in layer.names:
        config = _inner(layer)[1]
    return not config.get("return_sequences", False)


def return_sequences_fix(layer):
    """The call that makes recurrent `layer` keep its time axis, with its name."""
    if "Bidirectional" in layer.names:
        _, config, obj = _inner(layer)
        inner_class = (
            type(obj).__name__
            if obj is not None
            else (layer.config.get("layer", {}).get("class_name", "LSTM"))
        )
        call = return_sequences_call(
            "Bidirectional", {"layer": {"class_name": inner_class, "config": config}}
        )
    else:
        call = return_sequences_call(layer.class_name, layer.config)
    return f"{call}  # layer '{layer.name}'"


def time_axis_fixes(layer, x, rank_needed):
    """Code that gives `layer` a time axis, on the model input or before the layer."""
    tail = x.shape[1:]
    if len(x.shape) != rank_needed - 1 or None in tail:
        return [f"give '{layer.name}' an input of rank {rank_needed}"]
    if rank_needed == 3:
        (width,) = tail
        options = [((width, 1), f"{width} steps of 1 feature")]
        if width != 1:
            options.append(((1, width), f"1 step of {width} features"))
    else:
        options = [((1, *tail), "one step per sample")]
    if x.from_input:
        return [
            f"keras.Input(shape={format_shape(shape)})  # {what}; reshape the data to match"
            for shape, what in options
        ]
    return [
        f"layers.Reshape({format_shape(shape)})  # before '{layer.name}': {what}"
        for shape, what in options
    ]


def spec_problem(layer, shape):
    """A `Finding` when `shape` breaks the layer's `input_spec`, else None."""
    spec = getattr(layer.obj, "input_spec", None)
    if not isinstance(spec, keras.InputSpec):
        return None
    rank = len(shape)
    wanted = None
    if spec.ndim is not None and rank != spec.ndim:
        wanted, target = f"rank {spec.ndim}", spec.ndim
    elif spec.min_ndim is not None and rank < spec.min_ndim:
        wanted, target = f"rank >= {spec.min_ndim}", spec.min_ndim
    elif spec.max_ndim is not None and rank > spec.max_ndim:
        wanted, target = f"rank <= {spec.max_ndim}", spec.max_ndim
    if wanted is not None:
        tail = shape[1:]
        fix = f"give '{layer.name}' an input of {wanted}"
        if None not in tail and target >= 2:
            if rank > target:
                new = (*tail[: target - 2], math.prod(tail[target - 2 :]))
                what = "merge the trailing axes"
            else:
                new = (*tail, *([1] * (target - rank)))
                what = "add axes of size 1"
            fix = f"layers.Reshape({format_shape(new)})  # before '{layer.name}': {what}"
        return Finding(
            layer.name,
            message(
                f"Layer '{layer.name}' ({layer.class_name}) expects input of {wanted}, "
                f"but its input has rank {rank}.",
                f"shape {format_shape(shape)}",
                wanted,
            ),
            fix,
        )
    for axis, size in (spec.axes or {}).items():
        if -rank <= axis < rank and shape[axis] is not None and shape[axis] != size:
            return Finding(
                layer.name,
                message(
                    f"Layer '{layer.name}' ({layer.class_name}) expects size {size} on axis "
                    f"{axis}, but its input has {shape[axis]}.",
                    f"shape {format_shape(shape)}",
                    f"size {size} on axis {axis}",
                ),
                f"feed '{layer.name}' an input with {size} on axis {axis}",
            )
    return None


def shapes_of(output):
    """A layer's `compute_output_shape` result as a list of shape tuples."""
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)) and all(
        d is None or isinstance(d, numbers.Integral) for d in output
    ):
        output = [output]
    return [tuple(None if d is None else int(d) for d in shape) for shape in output]


def format_any(shape):
    if isinstance(shape, list):
        return ", ".join(map(format_shape, shape))
    return format_shape(shape)
