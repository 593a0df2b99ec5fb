"""What every parameter formula shares: the registry, the result builder and the rank checks.

A formula is a function `formula(layer, shape, count)` that returns the
`ParamExplanation` of an unbuilt `layer` on the batch `shape` (a tuple, or a
list of tuples for a merging layer). `count(inner, shape)` counts a layer
nested in it, with the caller's options; only wrappers need it. `@register`
files a formula under the Keras class names it covers.
"""

import dataclasses
import re

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus._messages import format_shape, message
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._results import ParamExplanation, WeightSpec

__all__ = [
    "RankError",
    "FORMULAS",
    "combine",
    "input_channels",
    "inside",
    "inside_error",
    "kernel_terms",
    "known",
    "leaf",
    "no_bias",
    "raise_rank",
    "raise_step_rank",
    "register",
    "registrar",
    "require_rank",
    "variable_dtype",
    "zero",
]

FORMULAS = {}


def registrar(registry, kind):
    """A `register(*class_names)` decorator that files formulas of `kind` in `registry`."""

    def register(*class_names):
        def decorate(formula):
            for name in class_names:
                if name in registry:
                    raise RuntimeError(f"Two {kind} formulas for layer class {name!r}")
                registry[name] = formula
            return formula

        return decorate

    return register


register = registrar(FORMULAS, "parameter")
register.__doc__ = "Files the decorated formula under `class_names`; one formula per class."


def leaf(layer, signature, template, values, on, weights, owner=None):
    # Keras marks a variable non-trainable when the layer that creates it is
    # not trainable; the layers around it only filter what they report.
    trainable = (owner or layer).trainable
    dtype = variable_dtype(owner or layer)
    return ParamExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={name: values[name] for name in on},
        formula=template.format_map({name: name for name in values}),
        substituted=template.format_map(values),
        weights=tuple(
            WeightSpec(name, tuple(shape), train and trainable, dtype)
            for name, shape, train in weights
        ),
    )


def variable_dtype(layer):
    """The dtype of the variables `layer` creates, from its dtype policy."""
    policy = getattr(layer, "dtype_policy", None)
    return str(getattr(policy, "variable_dtype", None) or "float32")


def zero(layer, shape, count):
    name = type(layer).__name__
    return ParamExplanation(name, layer.name, name, {}, "0", "0", ())


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
    fix_lines = [f"input_shape={format_shape(f)}  # {c}" for f, c in fixes] or [fallback]
    return RankError(
        message(first, received, f"input_shape={expected}, {wanted}", fix_lines),
        expected,
        rank,
        at_least="=" in wanted,
    )


def raise_rank(layer, shape, wanted, expected, rank):
    raise _rank_error(
        f"Layer '{layer.name}' ({type(layer).__name__}) needs an input of {wanted}, "
        f"but input_shape has rank {len(shape)}.",
        f"input_shape={format_shape(shape)}",
        expected,
        wanted,
        rank,
        _rank_fixes(shape, expected, rank),
        f"pass an input_shape of {wanted} including the batch axis",
    )


def raise_step_rank(wrapper, shape, inner, problem):
    """Restates `problem`, an inner layer's `RankError`, for the `(batch, time, ...)` input."""
    """A TimeDistributed's inner layer got a step of the wrong rank: say it in outer terms."""
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
        f"input_shape={format_shape(shape)}; each step is {format_shape((shape[0], *shape[2:]))}",
        expected,
        wanted,
        rank,
        fixes,
        f"pass an input_shape of {wanted} including the batch and time axes",
    ) from None


def known(layer, shape, axis, symbol):
    size = shape[axis]
    if size is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs a known `{symbol}` size "
            f"(axis {axis}) to count its parameters. Received: input_shape={format_shape(shape)}"
        )
    return size


def inside_error(wrapper, error):
    """The inner layer's `error` with an `Inside:` line naming the wrapper."""
    where = f"layer '{wrapper.name}' ({type(wrapper).__name__})"
    return SequenceShapeError(f"{error}\n  Inside: {where}")


def inside(wrapper, count, inner, shape):
    try:
        return count(inner, shape)
    except SequenceShapeError as error:
        raise inside_error(wrapper, error) from None


def combine(layer, signature, parts, prefixes=None):
    """One explanation for `layer` from the explanations of the layers it holds.

    Each part keeps its variables' own trainable flags; a weight is filed
    under its part's prefix (the inner layer's name unless `prefixes` says).
    """
    if len(parts) == 1:
        formula, substituted = parts[0].formula, parts[0].substituted
    else:
        formula = " + ".join(f"({p.formula})" for p in parts) or "0"
        substituted = " + ".join(f"({p.substituted})" for p in parts) or "0"
    prefixes = prefixes or [p.layer_name for p in parts]
    weights = tuple(
        dataclasses.replace(w, name=f"{prefix}/{w.name}")
        for prefix, part in zip(prefixes, parts, strict=True)
        for w in part.weights
    )
    variables = {name: value for part in parts for name, value in part.variables.items()}
    return ParamExplanation(
        type(layer).__name__, layer.name, signature, variables, formula, substituted, weights
    )
