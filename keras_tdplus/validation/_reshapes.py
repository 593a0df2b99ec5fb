"""Reshapes that fit data to a model, computed from the shapes alone."""

import math

from keras_tdplus._messages import format_shape

__all__ = ["AXIS_WORDS", "element_count", "has_reshape", "reshape_fix", "reshape_targets"]


def _size(shape):
    return None if any(d is None for d in shape) else math.prod(shape)


def _sequence_guesses(shape):
    """Plausible `(samples, timesteps, features)` readings of a non-3D shape."""
    dims = [-1 if d is None else d for d in shape]
    if len(dims) == 0:
        return [(1, 1, 1)]
    if len(dims) == 1:
        return [(1, dims[0], 1), (dims[0], 1, 1)]
    if len(dims) == 2:
        a, b = dims
        return [(1, a, b), (a, 1, b), (a, b, 1)]
    if len(dims) > 3 and -1 not in dims[2:]:
        return [(dims[0], dims[1], math.prod(dims[2:]))]
    return []


def _fits(target, expected):
    return len(target) == len(expected) and all(
        e is None or t == e for t, e in zip(target[1:], expected[1:], strict=True)
    )


def reshape_targets(shape, expected, samples=None):
    """The shapes `shape` can be reshaped to that fit `expected`, best first.

    `expected` has `None` for the batch axis and any other unknown axis;
    `samples`, when known, pins the batch axis. A target holds -1 for an axis
    whose size the data leaves open (only when the input's size is unknown).
    """
    size = _size(shape)
    if size == 0:
        return []
    tail = expected[1:]
    unknown = [i for i, d in enumerate(tail) if d is None]
    if not unknown:
        per_sample = math.prod(tail)
        if per_sample == 0:
            candidates = []
        elif size is None:
            candidates = [(samples or -1, *tail)]
        elif size % per_sample:
            candidates = []
        else:
            candidates = [(size // per_sample, *tail)]
    elif len(unknown) == 1 and size is not None:
        known = math.prod(d for d in tail if d is not None)
        free = size // known if known and size % known == 0 else None
        if free is None:
            pairs = []
        elif samples:
            pairs = [(samples, free // samples)] if free % samples == 0 else []
        else:
            pairs = [(1, free), (free, 1)]
        k = unknown[0]
        candidates = [(s, *tail[:k], u, *tail[k + 1 :]) for s, u in pairs]
    elif len(expected) == 3:
        candidates = [t for t in _sequence_guesses(shape) if _fits(t, expected)]
    else:
        candidates = []
    targets = []
    for target in candidates:
        if samples and target[0] not in (samples, -1):
            continue
        if target.count(-1) > 1 or target == tuple(shape) or target in targets:
            continue
        targets.append(target)
    return targets


def _describe(target):
    """What a reshape target means, for the comment after the fix."""
    count = target[0]
    if len(target) != 3:
        tail = format_shape(target[1:])
        if count == 1:
            return f"one sample of shape {tail}"
        return f"samples of shape {tail}" if count == -1 else f"{count} samples of shape {tail}"
    _, steps, features = target
    of_steps = "" if steps == -1 else f" of {steps} steps"
    if steps == 1:
        text = {1: "one one-step sample", -1: "one-step samples"}.get(
            count, f"{count} one-step samples"
        )
    elif count == 1:
        text = f"one sequence{of_steps}"
    else:
        text = ("sequences" if count == -1 else f"{count} sequences") + of_steps
    if features not in (1, -1):
        text += f", {element_count(features, AXIS_WORDS[2])}"
    return text


def has_reshape(value):
    return hasattr(value, "reshape") and not isinstance(value, (list, tuple))


def reshape_fix(name, target, method=True):
    """`name = name.reshape(...)  # meaning`, or `np.reshape` for data without the method."""
    dims = ", ".join(str(d) for d in target)
    if method:
        code = f"{name} = {name}.reshape({dims})"
    else:
        code = f"{name} = np.reshape({name}, ({dims}{',' if len(target) == 1 else ''}))"
    return f"{code}  # {_describe(target)}"


AXIS_WORDS = {1: ("timestep", "timesteps"), 2: ("feature per step", "features per step")}


def element_count(n, words):
    """`n` with the singular or plural of `words`: `1 timestep`, `5 timesteps`."""
    return f"{n} {words[0] if n == 1 else words[1]}"
