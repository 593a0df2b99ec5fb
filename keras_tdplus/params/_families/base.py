"""What the family modules share: reading sizes off an input shape, and saying what is wrong.

The rank checks raise a `RankError`, which a wrapper restates for its own
input; `known` and `known_sizes` read the sizes a formula needs; the kernel
and channel helpers serve every layer with a convolution kernel.
"""

import re

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus._messages import Argument, format_shape, message_parts, worded
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._explain import repeated

__all__ = [
    "RankError",
    "each_step",
    "channels_axis",
    "input_channels",
    "inside",
    "inside_error",
    "kernel_signature",
    "kernel_terms",
    "known",
    "known_sizes",
    "no_bias",
    "raise_rank",
    "raise_step_rank",
    "require_rank",
    "spatial_axes",
]


def no_bias(layer):
    return "" if layer.use_bias else ", use_bias=False"


def kernel_terms(kernel_size):
    names = [f"k{i + 1}" for i in range(len(kernel_size))]
    return names, dict(zip(names, kernel_size, strict=True))


def input_channels(layer, shape, rank, data_format, time_axis=False):
    """The channels of a `rank`-D convolution's input, after checking its rank."""
    spatial = ", ".join(f"d{i + 1}" for i in range(rank))
    lead = "batch, time" if time_axis else "batch"
    if data_format == "channels_last":
        expected, axis = f"({lead}, {spatial}, channels)", -1
    else:
        expected, axis = f"({lead}, channels, {spatial})", 2 if time_axis else 1
    require_rank(layer, shape, rank=rank + (3 if time_axis else 2), expected=expected)
    return known(layer, shape, axis, "channels")


def require_rank(layer, shape, expected, rank=None, min_rank=None):
    if is_shape_list(shape):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes one input, expected one "
            f"input_shape such as {expected}. Received: input_shape={shape}"
        )
    too_short = min_rank is not None and len(shape) < min_rank
    if too_short or (rank is not None and len(shape) != rank):
        wanted = f"rank {rank}" if rank is not None else f"rank >= {min_rank}"
        raise_rank(layer, shape, wanted, expected, rank if rank is not None else min_rank)


def _rank_fixes(shape, expected, rank):
    """`(shape, comment)` suggestions for an input_shape of the wrong rank."""
    if len(shape) != rank - 1:
        return []
    fixes = []
    if shape[0] is None:
        if expected.endswith("channels)"):
            fixes.append(((*shape, 1), "add a channels axis"))
        elif expected.startswith("(batch, channels"):
            fixes.append(((None, 1, *shape[1:]), "add a channels axis"))
        elif "time" in expected:
            fixes.append(((None, 1, *shape[1:]), "one time step"))
        else:
            fixes.append(((None, 1, *shape[1:]), "add the missing axis"))
    else:
        fixes.append(((None, *shape), "input_shape includes the batch axis"))
    return fixes


class RankError(SequenceShapeError):
    """An input_shape of the wrong rank, with what a wrapper needs to restate it per step.

    Attributes:
        expected: The shape the layer takes, in words: `"(batch, time, features)"`.
        rank: The rank it takes.
        at_least: True when a higher rank works too.
    """

    def __init__(self, message, expected, rank, at_least):
        super().__init__(message)
        self.expected = expected
        self.rank = rank
        self.at_least = at_least


def _rank_error(first, received, expected, wanted, rank, fixes, fallback):
    """A `RankError` in the package's message format."""
    fix_lines = [[Argument("input_shape", f), f"  # {c}"] for f, c in fixes] or [fallback]
    parts = message_parts(first, received, f"input_shape={expected}, {wanted}", fix_lines)
    return worded(RankError, parts, expected, rank, "=" in wanted)


def raise_rank(layer, shape, wanted, expected, rank):
    raise _rank_error(
        f"Layer '{layer.name}' ({type(layer).__name__}) needs an input of {wanted}, "
        f"but input_shape has rank {len(shape)}.",
        Argument("input_shape", shape),
        expected,
        wanted,
        rank,
        _rank_fixes(shape, expected, rank),
        f"pass an input_shape of {wanted} including the batch axis",
    )


def raise_step_rank(wrapper, shape, inner, problem):
    """Restates `problem`, an inner layer's `RankError`, for the `(batch, time, ...)` input."""
    expected = problem.expected
    if expected.startswith("(batch, "):
        rest = re.sub(r"\b(?<!inner_)time\b", "inner_time", expected[len("(batch, ") :])
        expected = "(batch, time, " + rest
    rank = problem.rank + 1
    wanted = f"rank >= {rank}" if problem.at_least else f"rank {rank}"
    # The fixes for one step, with its batch axis taken as unknown, then the time axis put back.
    fixes = [
        ((shape[0], shape[1], *fixed[1:]), comment)
        for fixed, comment in _rank_fixes((None, *shape[2:]), problem.expected, rank - 1)
    ]
    if shape[0] is not None and len(shape) == rank - 1:
        fixes.append(((None, *shape), "input_shape includes the batch axis"))
    raise _rank_error(
        f"Layer '{wrapper.name}' ({type(wrapper).__name__}) calls '{inner.name}' "
        f"({type(inner).__name__}) on each time step, so it needs an input of {wanted}, "
        f"but input_shape has rank {len(shape)}.",
        [Argument("input_shape", shape), f"; each step is {format_shape((shape[0], *shape[2:]))}"],
        expected,
        wanted,
        rank,
        fixes,
        f"pass an input_shape of {wanted} including the batch and time axes",
    ) from None


def known(layer, shape, axis, symbol):
    size = shape[axis]
    if size is None:
        first = f"Layer '{layer.name}' ({type(layer).__name__}) needs a known `{symbol}` size"
        parts = [f"{first} (axis {axis}) to count its parameters. Received: "]
        raise worded(ValueError, [*parts, Argument("input_shape", shape)])
    return size


def inside_error(wrapper, error):
    """The inner layer's `error` with an `Inside:` line naming the wrapper."""
    where = f"layer '{wrapper.name}' ({type(wrapper).__name__})"
    parts = getattr(error, "parts", (str(error),))
    return worded(SequenceShapeError, [*parts, f"\n  Inside: {where}"])


def inside(wrapper, count, inner, shape):
    try:
        return count(inner, shape)
    except SequenceShapeError as error:
        raise inside_error(wrapper, error) from None


def known_sizes(layer, shape, axes, what):
    """The sizes of `shape` on `axes`; a clear error when one is unknown."""
    if shape is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no output shape Keras can "
            f"compute, and its FLOPs need the {what}"
        )
    sizes = [shape[axis] for axis in axes]
    if None in sizes:
        axis = axes[sizes.index(None)]
        first = f"Layer '{layer.name}' ({type(layer).__name__}) needs a known size on axis"
        raise worded(
            ValueError,
            [
                f"{first} {axis} ({what}) to count its FLOPs. Received: ",
                Argument("input_shape", shape),
                ". Fix: pass an input_shape (and batch_size) with that axis filled in",
            ],
        )
    return sizes


def kernel_signature(layer, first="", rest=""):
    """`Conv1D(filters=8, kernel_size=3...`: the call that sets a kernel's size."""
    size = layer.kernel_size[0] if len(layer.kernel_size) == 1 else tuple(layer.kernel_size)
    return f"{type(layer).__name__}({first}kernel_size={size}{rest}"


def channels_axis(shape, rank, data_format):
    """The channels axis of a `rank`-D convolution's input, channels last or first."""
    return len(shape) - 1 if data_format == "channels_last" else len(shape) - rank - 1


def spatial_axes(shape, rank, data_format):
    """The `rank` spatial axes of a `(batch, ..., channels)` or channels-first shape."""
    first = len(shape) - rank - (1 if data_format == "channels_last" else 0)
    return list(range(first, first + rank))


def each_step(layer, shape, count, inner, wrapper):
    """The FLOPs of `inner` run on each step of `shape`'s time axis (axis 1), as `wrapper(...)`."""
    (time,) = known_sizes(layer, shape, [1], "time")
    step = count(inner, (shape[0], *shape[2:]))
    return repeated(layer, f"{wrapper}({step.signature})", "time", time, step)
