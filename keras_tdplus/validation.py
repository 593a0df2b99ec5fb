"""Sequence-shape checks: one clear error for every sequence-shape mistake.

Four checks share one error class, `SequenceShapeError`, and one message
format: the culprit and what is wrong on the first line, then the shape
received, the shape expected and the fix as code.

- `check_sequence_input` checks one array against `(samples, timesteps,
  features)` and computes the reshape from the data.
- `check_fit_data` checks `x` and `y` against a model's input and output.
- `check_model` lints a model's layers before Keras builds or runs it.
- `explain_shape_errors` turns the shape `ValueError`s Keras raises into
  `SequenceShapeError`s that say what to change.

Arrays are never converted or copied: the checks read `.shape` and `.dtype`
when the input has them, and walk nested lists otherwise, so a view of
`10**12` samples costs nothing. Values are not inspected; NaN and inf pass.
"""

import argparse
import contextlib
import copy
import dataclasses
import functools
import inspect
import json
import math
import numbers
import operator
import os
import re
import sys
import zipfile
import zlib

import keras

from keras_tdplus._time_axis import format_shape
from keras_tdplus.errors import SequenceShapeError

__all__ = [
    "Finding",
    "ShapeReport",
    "check_fit_data",
    "check_model",
    "check_sequence_input",
    "cli_main",
    "explain_shape_errors",
]

_MAX_NESTING = 32
_NO_SHAPE = object()
_NUMERIC_DTYPES = ("float", "bfloat", "int", "uint", "bool")


def _message(first_line, received, expected, fixes):
    """The package's message format; the first fix is `Fix:`, the others `or:`."""
    lines = [first_line, f"  Received: {received}", f"  Expected: {expected}"]
    lines += [("  Fix: " if i == 0 else "   or: ") + fix for i, fix in enumerate(fixes)]
    return "\n".join(lines)


def _short_repr(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Shapes of data, read without converting it.


def _not_numeric(where, value, expected):
    kind = "None" if value is None else f"a {type(value).__name__}"
    return SequenceShapeError(
        _message(
            f"`{where}` is {kind}, but a numeric array is expected.",
            f"{where} = {_short_repr(value)}",
            expected,
            ['convert the data to numbers first, e.g. np.asarray(data, dtype="float32")'],
        )
    )


def _as_shape(shape, where, expected):
    """`shape` as a tuple of non-negative ints and Nones, or a clear error."""
    try:
        dims = tuple(shape)
    except Exception:
        raise SequenceShapeError(
            _message(
                f"`{where}` has a shape of unknown rank.",
                f"{where}.shape = {_short_repr(shape)}",
                expected,
                [f"give `{where}` a static rank, e.g. with keras.ops.reshape"],
            )
        ) from None
    result = []
    for dim in dims:
        if dim is None:
            result.append(None)
            continue
        try:
            size = None if isinstance(dim, bool) else operator.index(dim)
        except TypeError:
            size = None
        if size is None or size < 0:
            raise SequenceShapeError(
                _message(
                    f"`{where}.shape` is not a valid shape: it holds {_short_repr(dim)}.",
                    f"{where}.shape = {_short_repr(shape)}",
                    "a tuple of non-negative integers (or None for an unknown axis)",
                    [f"pass an array, not an object whose `shape` is {_short_repr(shape)}"],
                )
            )
        result.append(size)
    return tuple(result)


def _check_dtype(value, where, expected):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return
    try:
        name = keras.backend.standardize_dtype(dtype)
    except Exception:
        name = str(dtype)
    if not name.startswith(_NUMERIC_DTYPES):
        raise SequenceShapeError(
            _message(
                f"`{where}` has dtype {name}, but a numeric array is expected.",
                f"{where}.dtype = {name}",
                expected,
                [f'{where} = np.asarray({where}, dtype="float32")  # numbers only'],
            )
        )


def _leaf_shape(value, where, expected):
    if value is None or isinstance(value, (str, bytes, type)):
        raise _not_numeric(where, value, expected)
    try:
        shape = value.shape
    except AttributeError:
        shape = _NO_SHAPE
    except Exception:
        # A `.shape` that fails to compute (a lazy or broken object) says no more.
        shape = None
    if shape is not _NO_SHAPE:
        shape = _as_shape(shape, where, expected)
        _check_dtype(value, where, expected)
        return shape
    if isinstance(value, numbers.Real):
        return ()
    raise _not_numeric(where, value, expected)


def _data_shape(value, where, expected, depth=0):
    """The shape of array-like `value`: its `.shape`, or that of nested lists."""
    if not isinstance(value, (list, tuple)):
        return _leaf_shape(value, where, expected)
    if depth >= _MAX_NESTING:
        raise SequenceShapeError(
            _message(
                f"`{where}` nests lists more than {_MAX_NESTING} levels deep.",
                f"{where} = {_short_repr(value)}",
                expected,
                ['np.asarray(data, dtype="float32")  # build the array from flat rows'],
            )
        )
    if not value:
        return (0,)
    first = _data_shape(value[0], f"{where}[0]", expected, depth + 1)
    for index in range(1, len(value)):
        shape = _data_shape(value[index], f"{where}[{index}]", expected, depth + 1)
        if shape != first:
            if depth == 0:
                fix = f'{where} = keras.utils.pad_sequences({where}, dtype="float32")'
                fix += "  # pad every sequence to one length"
            else:
                fix = f"give every element of `{where}` the shape {format_shape(first)}"
            raise SequenceShapeError(
                _message(
                    f"`{where}` is ragged: {where}[{index}] has shape {format_shape(shape)}, "
                    f"but {where}[0] has shape {format_shape(first)}.",
                    f"nested lists of unequal lengths in `{where}`",
                    f"{expected}, every sequence the same length",
                    [fix],
                )
            )
    return (len(value), *first)


# Reshapes computed from the data.


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


def _reshape_targets(shape, expected, samples=None):
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
        text += f", {_count(features, _AXIS_WORDS[2])}"
    return text


def _has_reshape(value):
    return hasattr(value, "reshape") and not isinstance(value, (list, tuple))


def _reshape_fix(name, target, method=True):
    """`name = name.reshape(...)  # meaning`, or `np.reshape` for data without the method."""
    dims = ", ".join(str(d) for d in target)
    if method:
        code = f"{name} = {name}.reshape({dims})"
    else:
        code = f"{name} = np.reshape({name}, ({dims}{',' if len(target) == 1 else ''}))"
    return f"{code}  # {_describe(target)}"


# check_sequence_input


def _check_dim_argument(argument, value):
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1
    ):
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected a positive integer "
            f"or None. Received: {argument}={value!r}"
        )


def _empty_axis_error(name, shape, expected):
    return SequenceShapeError(
        _message(
            f"`{name}` is empty: its shape {format_shape(shape)} has an axis of size 0.",
            f"{name}.shape = {format_shape(shape)}",
            f"{expected}, at least one sample, step and feature",
            [f"check how `{name}` was built; an empty array cannot be trained on"],
        )
    )


def check_sequence_input(x, *, name="X", timesteps=None, features=None):
    """Checks that `x` is a batch of sequences, `(samples, timesteps, features)`.

    Accepts numpy arrays, backend tensors, `keras.KerasTensor`s, nested lists
    and any object with a `.shape`. Only the shape and dtype are read: `x` is
    never converted, so a broadcast view of `10**12` samples is checked for
    free. Values are not inspected, so NaN and inf pass.

    On a mistake it raises `SequenceShapeError` with the reshape computed from
    the data: a 1D `seq` of 5 values gets `X.reshape(1, 5, 1)` (one sequence
    of 5 steps) and `X.reshape(5, 1, 1)` (5 one-step samples).

    Args:
        x: The data to check.
        name: The name of `x` in the message and in the fix.
        timesteps: Optional positive integer, the number of steps expected.
        features: Optional positive integer, the features per step expected.

    Returns:
        `x` itself, unchanged.

    Raises:
        SequenceShapeError: `x` is not numeric, is ragged, is not 3D, has an
            empty axis, or has the wrong `timesteps` or `features`.

    Example:

    >>> import numpy as np
    >>> seq = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
    >>> check_sequence_input(seq.reshape(1, 5, 1)).shape
    (1, 5, 1)
    >>> check_sequence_input(seq)
    Traceback (most recent call last):
    ...
    keras_tdplus.errors.SequenceShapeError: `X` has rank 1, but a sequence input needs rank 3: (samples, timesteps, features).
      Received: X.shape = (5,)
      Expected: (samples, timesteps, features)
      Fix: X = X.reshape(1, 5, 1)  # one sequence of 5 steps
       or: X = X.reshape(5, 1, 1)  # 5 one-step samples
    """  # noqa: E501
    _check_dim_argument("timesteps", timesteps)
    _check_dim_argument("features", features)
    expected = (None, timesteps, features)
    expected_text = f"(samples, {timesteps or 'timesteps'}, {features or 'features'})"
    shape = _data_shape(x, name, expected_text)
    if len(shape) != 3:
        targets = _reshape_targets(shape, expected)
        fixes = [_reshape_fix(name, target, _has_reshape(x)) for target in targets]
        raise SequenceShapeError(
            _message(
                f"`{name}` has rank {len(shape)}, but a sequence input needs rank 3: "
                "(samples, timesteps, features).",
                f"{name}.shape = {format_shape(shape)}",
                expected_text,
                fixes or [f"give `{name}` the shape {expected_text}"],
            )
        )
    if 0 in shape:
        raise _empty_axis_error(name, shape, expected_text)
    steps, width = shape[1], shape[2]
    if timesteps is not None and steps is not None and steps != timesteps:
        raise SequenceShapeError(
            _message(
                f"`{name}` has {_count(steps, _AXIS_WORDS[1])}, expected {timesteps}.",
                f"{name}.shape = {format_shape(shape)}",
                expected_text,
                [
                    f"{name} = keras.utils.pad_sequences({name}, maxlen={timesteps}, "
                    f'dtype="float32")  # pad or cut every sequence to {timesteps} steps'
                ],
            )
        )
    if features is not None and width is not None and width != features:
        raise SequenceShapeError(
            _message(
                f"`{name}` has {_count(width, _AXIS_WORDS[2])}, expected {features}.",
                f"{name}.shape = {format_shape(shape)}",
                expected_text,
                [
                    f"keras.Input(shape=({timesteps or steps}, {width}))  "
                    f"# a model input for {_count(width, _AXIS_WORDS[2])}"
                ],
            )
        )
    return x


# check_fit_data


def _model_shapes(model, which):
    """`[(label, shape)]` of the model's inputs or outputs."""
    tensors = None
    with contextlib.suppress(Exception):
        tensors = getattr(model, which)
    if not tensors:
        raise ValueError(
            f"Model '{model.name}' has no known {which[:-1]} shape yet, so data "
            "cannot be checked against it.\n"
            "  Fix: model.build((None, timesteps, features))  "
            "# or start the model with keras.Input((timesteps, features))"
        )
    tensors = keras.tree.flatten(tensors)
    return [(getattr(t, "name", None), tuple(t.shape)) for t in tensors]


def _align(data, expected, label, which):
    """`[(label, value, expected_shape)]`, one per model input or output."""
    if isinstance(data, dict):
        pairs = []
        for index, (tensor_name, shape) in enumerate(expected):
            key = tensor_name if tensor_name in data else None
            if key is None and len(expected) == 1 and len(data) == 1:
                key = next(iter(data))
            if key is None:
                raise SequenceShapeError(
                    _message(
                        f"`{label}` has no entry for the model {which} '{tensor_name}'.",
                        f"{label} keys {sorted(map(str, data))}",
                        f"a key for each model {which}: {[n for n, _ in expected]}",
                        [f"{label}[{tensor_name!r}] = ...  # the data for {which} {index}"],
                    )
                )
            pairs.append((f"{label}[{key!r}]", data[key], shape))
        return pairs
    if len(expected) == 1:
        if isinstance(data, (list, tuple)) and len(data) == 1 and hasattr(data[0], "shape"):
            return [(f"{label}[0]", data[0], expected[0][1])]
        return [(label, data, expected[0][1])]
    if not isinstance(data, (list, tuple)) or len(data) != len(expected):
        count = len(data) if isinstance(data, (list, tuple)) else 1
        raise SequenceShapeError(
            _message(
                f"`{label}` holds {count} array(s), but the model has {len(expected)} {which}s.",
                f"{label} of type {type(data).__name__}",
                f"a list of {len(expected)} arrays, one per model {which}",
                [f"{label} = [{', '.join(f'{label}{i}' for i in range(len(expected)))}]"],
            )
        )
    return [
        (f"{label}[{i}]", value, shape)
        for i, (value, (_, shape)) in enumerate(zip(data, expected, strict=True))
    ]


_AXIS_WORDS = {1: ("timestep", "timesteps"), 2: ("feature per step", "features per step")}


def _count(n, words):
    """`n` with the singular or plural of `words`: `1 timestep`, `5 timesteps`."""
    return f"{n} {words[0] if n == 1 else words[1]}"


def _check_against(label, value, expected, which, samples):
    """The shape of `value` if it fits `expected`, else a `SequenceShapeError`."""
    expected_text = f"(samples, {', '.join(str(d) for d in expected[1:])})"
    if len(expected) == 1:
        expected_text = "(samples,)"
    shape = _data_shape(value, label, f"a numeric array of shape {expected_text}")
    if len(shape) != len(expected):
        first = (
            f"`{label}` has rank {len(shape)}, but the model's {which} has rank {len(expected)}."
        )
        targets = _reshape_targets(shape, expected, samples)
    else:
        mismatch = next(
            (
                i
                for i in range(1, len(shape))
                if None not in (shape[i], expected[i]) and shape[i] != expected[i]
            ),
            None,
        )
        if mismatch is None:
            if 0 in shape:
                raise _empty_axis_error(label, shape, expected_text)
            return shape
        words = _AXIS_WORDS.get(mismatch) if len(shape) == 3 else None
        if words:
            first = (
                f"`{label}` has {_count(shape[mismatch], words)}, but the model's {which} "
                f"has {expected[mismatch]}."
            )
        else:
            first = (
                f"`{label}` has size {shape[mismatch]} on axis {mismatch}, but the "
                f"model's {which} has {expected[mismatch]}."
            )
        # A same-rank reshape is only a fix when the sample count pins it.
        targets = _reshape_targets(shape, expected, samples) if samples else []
    fixes = [_reshape_fix(label, target, _has_reshape(value)) for target in targets]
    if not fixes and which == "input" and len(shape) >= 2:
        fixes = [
            f"keras.Input(shape={format_shape(shape[1:])})  # a model input that fits "
            f"`{label}`; or give `{label}` the shape {expected_text}"
        ]
    elif not fixes:
        fixes = [
            f"give `{label}` the shape {expected_text}, or change the model so its "
            f"{which} fits `{label}`"
        ]
    raise SequenceShapeError(
        _message(
            first,
            f"{label}.shape = {format_shape(shape)}",
            f"{expected_text}, from the model's {which} shape {format_shape(expected)}",
            fixes,
        )
    )


def check_fit_data(model, x, y=None):
    """Checks `x` against a model's input, `y` against its output, before `fit`.

    Keras quietly accepts some mistakes: it adds a missing trailing axis of
    size 1 to `x`, so a `(5, 1)` array fed to an input of `(None, 5, 1)`
    trains as five one-step samples instead of one five-step sequence, and
    its losses line up a `(1, 5)` target with a `(None, 5, 1)` output. This
    check is strict: every array must have the rank and the sizes of the model
    tensor it feeds, and `x` and `y` the same number of samples. Only shapes
    and dtypes are read; values, NaN included, are not inspected.

    Args:
        model: A built `keras.Model` (it has `inputs` and `outputs`).
        x: The input data: an array-like, or a list or dict of them for a
            model with several inputs.
        y: The target data, structured like the outputs, or None to check
            only `x` (as for `predict`).

    Returns:
        The tuple `(x, y)`, unchanged, so that
        `model.fit(*check_fit_data(model, x, y))` reads naturally.

    Raises:
        SequenceShapeError: On the first array that does not fit, naming both
            shapes and giving the reshape when one exists.
        ValueError: If the model is not built yet.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential(
    ...     [keras.Input((5, 1)), keras.layers.LSTM(5, return_sequences=True),
    ...      keras.layers.TimeDistributed(keras.layers.Dense(1))])
    >>> seq = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
    >>> check_fit_data(model, seq.reshape(1, 5, 1), seq.reshape(1, 5))
    Traceback (most recent call last):
    ...
    keras_tdplus.errors.SequenceShapeError: `y` has rank 2, but the model's output has rank 3.
      Received: y.shape = (1, 5)
      Expected: (samples, 5, 1), from the model's output shape (None, 5, 1)
      Fix: y = y.reshape(1, 5, 1)  # one sequence of 5 steps
    """  # noqa: E501
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Received an invalid value for `model`, expected a `keras.Model`. "
            f"Received: model={_short_repr(model)} of type {type(model).__name__}"
        )
    inputs = _align(x, _model_shapes(model, "inputs"), "x", "input")
    outputs = [] if y is None else _align(y, _model_shapes(model, "outputs"), "y", "output")
    counted = []
    for label, value, expected in inputs:
        counted.append((label, _check_against(label, value, expected, "input", None)))
    samples = next((shape[0] for _, shape in counted if shape[0] is not None), None)
    for label, value, expected in outputs:
        counted.append((label, _check_against(label, value, expected, "output", samples)))
    known = [(label, shape) for label, shape in counted if shape[0] is not None]
    for label, shape in known[1:]:
        if shape[0] != known[0][1][0]:
            first_label, first_shape = known[0]
            raise SequenceShapeError(
                _message(
                    f"`{first_label}` and `{label}` hold different numbers of samples: "
                    f"{first_shape[0]} and {shape[0]}.",
                    f"{first_label}.shape = {format_shape(first_shape)}, "
                    f"{label}.shape = {format_shape(shape)}",
                    f"{first_label}.shape[0] == {label}.shape[0]",
                    [f"pass one `{label}` row per `{first_label}` sample"],
                )
            )
    return x, y


# Model lint: findings and reports.


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem `check_model` found.

    Attributes:
        layer: The culprit layer's name; nested layers are written
            `outer/inner`.
        message: The first line (what is wrong) and the `Received:` and
            `Expected:` lines.
        fix: The fix as code, or None; several options are joined by
            `"\\n   or: "`.
        severity: `"error"` (Keras would fail, or train the wrong thing) or
            `"info"` (a part of the model that could not be checked).

    Example:

    >>> import keras
    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([layers.LSTM(5, name="lstm"), tdp.TimeDistributedDense(1)])
    >>> report = tdp.check_model(model, input_shape=(None, 5, 1), raise_on_error=False)
    >>> finding = report.findings[0]
    >>> finding.layer, finding.severity
    ('lstm', 'error')
    >>> print(finding.fix)
    LSTM(5, return_sequences=True)  # layer 'lstm'
    """

    layer: str
    message: str
    fix: str | None = None
    severity: str = "error"

    def __str__(self):
        return self.message if self.fix is None else f"{self.message}\n  Fix: {self.fix}"


@dataclasses.dataclass(frozen=True)
class ShapeReport:
    """What `check_model` found in one model.

    Attributes:
        model: The model's name.
        findings: A tuple of `Finding`s, in layer order.
        layers_checked: How many layers had a known input shape and were checked.

    Example:

    >>> import keras
    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([
    ...     keras.Input((5, 1)),
    ...     layers.LSTM(5, return_sequences=True),
    ...     tdp.TimeDistributedDense(1),
    ... ])
    >>> report = tdp.check_model(model)
    >>> report.ok, len(report.findings), report.layers_checked
    (True, 0, 2)
    """

    model: str
    findings: tuple = ()
    layers_checked: int = 0

    @property
    def errors(self):
        """The findings of severity `"error"`."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self):
        """True when there is no error; infos do not count."""
        return not self.errors

    def __str__(self):
        plural = "" if self.layers_checked == 1 else "s"
        head = f"Model '{self.model}': {self.layers_checked} layer{plural} checked, "
        if not self.findings:
            return head + "no sequence-shape problems found."
        counts = {}
        for finding in self.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        head += ", ".join(
            f"{n} {severity}{'s' if n != 1 and severity != 'info' else ''}"
            for severity, n in counts.items()
        )
        body = "\n\n".join(f"{f.severity}: {f}" for f in self.findings)
        return f"{head}.\n\n{body}"


# Model lint: the layers.

_RECURRENT = frozenset({"RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional"}) | {
    f"ConvLSTM{n}D" for n in (1, 2, 3)
}
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
_EXPECTED_BY_RANK = {
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


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """A tensor's static shape, the layer that made it, and who dropped its time axis."""

    shape: tuple | None
    producer: str | None = None
    from_input: bool = False
    dropped_by: _Layer | None = None


_UNKNOWN = _Tensor(None)


def _entry_name(entry):
    return entry.get("name") or entry.get("config", {}).get("name", "?")


def _is_model_config(config):
    return isinstance(config, dict) and isinstance(config.get("layers"), list)


def _make_layer(entry, obj, prefix):
    names = {entry.get("class_name", "?")}
    config = entry.get("config") or {}
    if obj is not None:
        names |= {cls.__name__ for cls in type(obj).__mro__}
        if len(config) <= 1:
            with contextlib.suppress(Exception):
                config = obj.get_config()
    class_name = type(obj).__name__ if obj is not None else entry.get("class_name", "?")
    return _Layer(prefix + _entry_name(entry), class_name, frozenset(names), config, obj)


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


def _needed_rank(layer):
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
            return rank, _EXPECTED_BY_RANK[rank]
    if names & (_RECURRENT | _STEP_LAYERS):
        return 3, _EXPECTED_BY_RANK[3]
    return None


def _drops_time_axis(layer):
    if not layer.names & _RECURRENT:
        return False
    if layer.obj is not None and hasattr(layer.obj, "return_sequences"):
        return not layer.obj.return_sequences
    config = layer.config
    if "Bidirectional" in layer.names:
        config = _inner(layer)[1]
    return not config.get("return_sequences", False)


def _constructor(class_name, config):
    if "filters" in config:
        kernel = config.get("kernel_size", "...")
        kernel = format_shape(kernel) if isinstance(kernel, (list, tuple)) else kernel
        return f"{class_name}({config['filters']}, {kernel}, return_sequences=True)"
    if "units" in config:
        return f"{class_name}({config['units']}, return_sequences=True)"
    return f"{class_name}(cell, return_sequences=True)"


def _return_sequences_fix(layer):
    if "Bidirectional" in layer.names:
        _, config, obj = _inner(layer)
        inner_class = (
            type(obj).__name__
            if obj is not None
            else (layer.config.get("layer", {}).get("class_name", "LSTM"))
        )
        call = f"Bidirectional({_constructor(inner_class, config)})"
    else:
        call = _constructor(layer.class_name, layer.config)
    return f"{call}  # layer '{layer.name}'"


def _time_axis_fixes(layer, x, rank_needed):
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


def _spec_problem(layer, shape):
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
            f"Layer '{layer.name}' ({layer.class_name}) expects input of {wanted}, "
            f"but its input has rank {rank}.\n"
            f"  Received: shape {format_shape(shape)}\n"
            f"  Expected: {wanted}",
            fix,
        )
    for axis, size in (spec.axes or {}).items():
        if -rank <= axis < rank and shape[axis] is not None and shape[axis] != size:
            return Finding(
                layer.name,
                f"Layer '{layer.name}' ({layer.class_name}) expects size {size} on axis "
                f"{axis}, but its input has {shape[axis]}.\n"
                f"  Received: shape {format_shape(shape)}\n"
                f"  Expected: size {size} on axis {axis}",
                f"feed '{layer.name}' an input with {size} on axis {axis}",
            )
    return None


def _shapes_of(output):
    """A layer's `compute_output_shape` result as a list of shape tuples."""
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)) and all(
        d is None or isinstance(d, numbers.Integral) for d in output
    ):
        output = [output]
    return [tuple(None if d is None else int(d) for d in shape) for shape in output]


class _LiveSource:
    """Looks up the live layer of a config entry in a model."""

    def __init__(self, model):
        self.model = model

    def layer(self, entry):
        try:
            return self.model.get_layer(_entry_name(entry))
        except (ValueError, AttributeError):
            return None

    def nested(self, entry):
        obj = self.layer(entry)
        return _LiveSource(obj) if obj is not None else _ConfigSource()


class _ConfigSource:
    """Rebuilds each layer of a config on its own, so one broken layer spoils nothing else."""

    def layer(self, entry):
        entry = {k: v for k, v in entry.items() if k not in ("build_config", "inbound_nodes")}
        try:
            # Deserializing pops keys from the config it is given.
            return keras.saving.deserialize_keras_object(copy.deepcopy(entry))
        except Exception:
            return None

    def nested(self, entry):
        return self


class _NoInputShape(ValueError):
    pass


class _Linter:
    """Walks a model's config with static shapes and collects `Finding`s."""

    def __init__(self):
        self.findings = []
        self.checked = 0

    def model(self, config, source, inputs, prefix=""):
        if "input_layers" in config:
            return self.functional(config, source, inputs, prefix)
        return self.sequential(config, source, inputs, prefix)

    def sequential(self, config, source, inputs, prefix):
        x = inputs[0] if inputs else None
        for entry in config["layers"]:
            if entry.get("class_name") == "InputLayer":
                if x is None:
                    shape = _declared_shape(entry)
                    x = _Tensor(shape, _entry_name(entry), True)
                continue
            if x is None and not _is_model_config(entry.get("config")):
                raise _NoInputShape(prefix.rstrip("/"))
            # A nested model first in line brings its own input shape.
            x = self.apply(entry, source, [] if x is None else [x], False, prefix)[0]
        return [x if x is not None else _UNKNOWN]

    def functional(self, config, source, inputs, prefix):
        tensors = {}
        input_refs = _refs(config.get("input_layers"))
        for index, ref in enumerate(input_refs):
            if index < len(inputs):
                tensors[ref] = inputs[index]
        for entry in config["layers"]:
            name = _entry_name(entry)
            if entry.get("class_name") == "InputLayer":
                tensors.setdefault((name, 0, 0), _Tensor(_declared_shape(entry), name, True))
                continue
            for node_index, node in enumerate(entry.get("inbound_nodes") or []):
                args = (node.get("args") or [None]) if isinstance(node, dict) else [None]
                refs = _keras_tensor_refs(args[0]) or _keras_tensor_refs(node.get("kwargs"))
                if not refs:
                    continue
                ins = [tensors.get(ref, _UNKNOWN) for ref in refs]
                multi = isinstance(args[0], (list, tuple))
                outs = self.apply(entry, source, ins, multi, prefix)
                for tensor_index, out in enumerate(outs):
                    tensors[(name, node_index, tensor_index)] = out
        return [tensors.get(ref, _UNKNOWN) for ref in _refs(config.get("output_layers"))]

    def apply(self, entry, source, inputs, multi, prefix):
        """Checks one call of the layer in `entry`; returns its output tensors."""
        if _is_model_config(entry.get("config")):
            name = prefix + _entry_name(entry)
            return self.model(entry["config"], source.nested(entry), inputs, name + "/")
        if any(t.shape is None for t in inputs):
            return [_UNKNOWN]
        layer = _make_layer(entry, source.layer(entry), prefix)
        self.checked += 1
        x = inputs[0]
        needed = _needed_rank(layer)
        if needed is not None and len(x.shape) < needed[0]:
            rank, expected = needed
            if x.dropped_by is not None and len(x.shape) == rank - 1:
                culprit = x.dropped_by
                self.findings.append(
                    Finding(
                        culprit.name,
                        f"Layer '{culprit.name}' ({culprit.class_name}) returns only its "
                        f"last step, but layer '{layer.name}' ({layer.class_name}) after "
                        "it needs a time axis.\n"
                        f"  Received: shape {format_shape(x.shape)} at the input of "
                        f"'{layer.name}'\n"
                        f"  Expected: {expected}",
                        _return_sequences_fix(culprit),
                    )
                )
            else:
                self.findings.append(
                    Finding(
                        layer.name,
                        f"Layer '{layer.name}' ({layer.class_name}) needs a time axis, but "
                        f"its input has rank {len(x.shape)}.\n"
                        f"  Received: shape {format_shape(x.shape)} from '{x.producer}'\n"
                        f"  Expected: {expected}",
                        "\n   or: ".join(_time_axis_fixes(layer, x, rank)),
                    )
                )
            return [_UNKNOWN]
        if not multi:
            problem = _spec_problem(layer, x.shape)
            if problem is not None:
                self.findings.append(problem)
                return [_UNKNOWN]
        shapes = self._output_shapes(layer, [t.shape for t in inputs] if multi else x.shape)
        if shapes is None:
            return [_UNKNOWN]
        dropped = layer if _drops_time_axis(layer) else x.dropped_by
        return [
            _Tensor(
                shape,
                layer.name,
                False,
                dropped if dropped is layer or len(shape) == len(x.shape) else None,
            )
            for shape in shapes
        ]

    def _output_shapes(self, layer, input_shape):
        if layer.obj is None:
            self.findings.append(
                Finding(
                    layer.name,
                    f"Layer '{layer.name}' ({layer.class_name}) could not be rebuilt from "
                    "its config, so the layers after it were not checked.",
                    f"import the module that defines {layer.class_name} before checking",
                    "info",
                )
            )
            return None
        try:
            try:
                output = layer.obj.compute_output_shape(input_shape)
            except NotImplementedError:
                spec = keras.tree.map_shape_structure(keras.KerasTensor, input_shape)
                output = keras.tree.map_structure(
                    lambda t: t.shape, layer.obj.compute_output_spec(spec)
                )
            return _shapes_of(output)
        except ValueError as error:
            lines = str(error).strip().splitlines()
            reason = lines[0] if lines else type(error).__name__
            self.findings.append(
                Finding(
                    layer.name,
                    f"Layer '{layer.name}' ({layer.class_name}) cannot take its input: "
                    f"{reason}\n"
                    f"  Received: shape {_format_any(input_shape)}\n"
                    "  Expected: a shape the layer accepts",
                    f"change the input of '{layer.name}' or the layer's arguments",
                )
            )
            return None
        except Exception:
            self.findings.append(
                Finding(
                    layer.name,
                    f"Layer '{layer.name}' ({layer.class_name}) does not report its output "
                    "shape statically, so the layers after it were not checked.",
                    "check_fit_data(model, x, y)  # checks the data once the model is built",
                    "info",
                )
            )
            return None


def _format_any(shape):
    if isinstance(shape, list):
        return ", ".join(map(format_shape, shape))
    return format_shape(shape)


def _declared_shape(entry):
    config = entry.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return tuple(shape) if shape is not None else None


def _refs(spec):
    """`[(layer, node, tensor)]` from a config's `input_layers`/`output_layers`."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        spec = list(spec.values())
    if len(spec) == 3 and isinstance(spec[0], str) and isinstance(spec[1], int):
        return [tuple(spec)]
    return [ref for item in spec for ref in _refs(item)]


def _keras_tensor_refs(value):
    """The `keras_history` of every serialized KerasTensor in `value`, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            return [tuple(history)] if history else []
        return [ref for item in value.values() for ref in _keras_tensor_refs(item)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _keras_tensor_refs(item)]
    return []


def _valid_dim(dim):
    return dim is None or (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0)


def _valid_input_shape(input_shape):
    if input_shape is None:
        return None
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if not shape or not all(_valid_dim(d) for d in shape):
        raise ValueError(
            "Received an invalid value for `input_shape`, expected the batch shape as a "
            "tuple of integers or None, as for `model.build`, e.g. (None, 5, 1). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _lint(config, source, name, input_shape, fallback_shapes=()):
    """A `ShapeReport` for a model config, `source` providing its layers."""
    if not _is_model_config(config):
        return ShapeReport(
            name,
            (
                Finding(
                    name,
                    f"Model '{name}' is a subclassed model, so its layers cannot be "
                    "checked before it runs.",
                    "check_fit_data(model, x, y)  # or wrap the fit in explain_shape_errors()",
                    "info",
                ),
            ),
        )
    linter = _Linter()
    functional = "input_layers" in config
    if functional and input_shape is not None:
        raise ValueError(
            f"`input_shape` applies only to Sequential models; the inputs of the "
            f"Functional model '{name}' fix its shapes. Received: input_shape={input_shape}"
        )
    inputs = []
    if not functional:
        shape = input_shape
        if shape is None and not any(e.get("class_name") == "InputLayer" for e in config["layers"]):
            shape = next((tuple(s) for s in fallback_shapes if s is not None), None)
        if shape is not None:
            inputs = [_Tensor(shape, "input", True)]
    try:
        linter.model(config, source, inputs)
    except _NoInputShape as missing:
        if not str(missing):
            raise ValueError(
                f"Sequential model '{name}' has no input shape, so its layers cannot be "
                "checked.\n"
                "  Fix: check_model(model, input_shape=(None, timesteps, features))  "
                "# or start the model with keras.Input((timesteps, features))"
            ) from None
        raise ValueError(
            f"The nested Sequential model '{missing}' has no input shape, so model "
            f"'{name}' cannot be checked.\n"
            "  Fix: start the nested model with keras.Input((timesteps, features))"
        ) from None
    return ShapeReport(name, tuple(linter.findings), linter.checked)


def _live_fallback_shapes(model):
    shapes = []
    with contextlib.suppress(Exception):
        shapes.append(tuple(model.inputs[0].shape))
    return shapes


def check_model(model, input_shape=None, *, raise_on_error=True):
    """Lints a model for sequence-shape mistakes, before Keras builds or runs it.

    Shapes are propagated layer by layer with `compute_output_shape`, without
    building anything, through Sequential models (built or not), Functional
    models and models nested in either. Three mistakes are errors:

    - a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `ConvLSTM*D`, or
      `Bidirectional` of one) with `return_sequences=False` feeding a layer
      that needs a time axis (`TimeDistributed`, `TimeDistributedDense`,
      another recurrent layer, `Conv1D`, the 1D pooling layers), even through
      layers that keep the rank, such as `Dropout` or `Dense`;
    - a per-step layer fed a tensor without a time axis;
    - a recurrent layer fed an input without a time axis.

    Any other input a layer rejects (by its `input_spec` or its
    `compute_output_shape`) is an error too. A layer whose output shape cannot
    be inferred statically gives an `"info"` finding, and the layers after it
    on that path are not checked.

    Args:
        model: A `keras.Model`. Subclassed models get an `"info"` finding only.
        input_shape: Optional batch shape, as for `model.build`, e.g.
            `(None, 5, 1)`; needed for a Sequential model without a
            `keras.Input` that is not built, and used instead of the built
            shape when given. Not accepted for Functional models.
        raise_on_error: If True, raise the first error as `SequenceShapeError`.

    Returns:
        A `ShapeReport`; `report.ok` is True when no error was found.

    Raises:
        SequenceShapeError: With `raise_on_error`, on the first error.
        ValueError: A Sequential model has no input shape and none was given,
            or `input_shape` is invalid or given for a Functional model.

    Example:

    >>> model = keras.Sequential([keras.layers.LSTM(5, name="encoder"),
    ...     keras.layers.TimeDistributed(keras.layers.Dense(1), name="head")])
    >>> report = check_model(model, (None, 5, 1), raise_on_error=False)
    >>> print(report.findings[0])
    Layer 'encoder' (LSTM) returns only its last step, but layer 'head' (TimeDistributed) after it needs a time axis.
      Received: shape (None, 5) at the input of 'head'
      Expected: shape (batch, time, ..., features), rank >= 3
      Fix: LSTM(5, return_sequences=True)  # layer 'encoder'
    """  # noqa: E501
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Received an invalid value for `model`, expected a `keras.Model`. "
            f"Received: model={_short_repr(model)} of type {type(model).__name__}"
        )
    input_shape = _valid_input_shape(input_shape)
    if isinstance(model, keras.Sequential):
        try:
            config = model.get_config()
        except Exception:
            # A layer without a working `get_config` still has a class and a name.
            config = {
                "layers": [
                    {"class_name": type(layer).__name__, "config": {"name": layer.name}}
                    for layer in model.layers
                ]
            }
        fallback = [config.get("build_input_shape"), *_live_fallback_shapes(model)]
    else:
        try:
            config = model.get_config()
        except Exception:
            config = None
        fallback = []
    report = _lint(config, _LiveSource(model), model.name, input_shape, fallback)
    if raise_on_error and report.errors:
        raise SequenceShapeError(str(report.errors[0]))
    return report


# explain_shape_errors

_FIT_LIKE = frozenset(
    {"fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch"}
)
_TAKES_Y = frozenset({"fit", "evaluate", "train_on_batch", "test_on_batch"})
_SHAPE_WORDS = re.compile(r"shape|ndim|dimension|rank|cardinality|incompatible", re.I)
_TD_RANK = re.compile(
    r"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
    r"dimensions, received: (?P<shape>.*)"
)
_SPEC_RANK = re.compile(
    r"of layer '(?P<layer>[^']+)' is incompatible with the layer: expected "
    r"(?P<kind>ndim|min_ndim)=(?P<ndim>\d+), found ndim=(?P<found>\d+)\. "
    r"Full shape received: (?P<shape>.*)"
)
_MODEL_INPUT = re.compile(
    r"Invalid input shape for input .*? with name '(?P<name>[^']*)' and path '[^']*'\. "
    r"Expected shape (?P<expected>\([^)]*\)), but input has incompatible shape "
    r"(?P<shape>.*)",
    re.S,
)
_CARDINALITY = re.compile(
    r"Data cardinality is ambiguous.*?'x' sizes: (?P<x>[^\n]*)\n'y' sizes: (?P<y>[^\n]*)",
    re.S,
)


def _parse_shape(text):
    """The first `(…)` or `[…]` shape in `text`, as a tuple; None if there is none."""
    match = re.search(r"[(\[]([^()\[\]]*)[)\]]", text)
    if match is None:
        return None
    dims = []
    for part in match.group(1).split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit():
            dims.append(int(part))
        elif part in ("None", "?", "-1"):
            dims.append(None)
        else:
            return None
    return tuple(dims)


def _frame_context(traceback):
    """`(model, x, y, has_x)` from the frames of a Keras call, as far as they tell."""
    model = x = y = None
    has_x = False
    while traceback is not None:
        local = traceback.tb_frame.f_locals
        candidates = []
        # Keras' traceback filter leaves its `error_handler(*args, **kwargs)`
        # frame, which still holds the model and the data of `fit` or `predict`.
        fn, args = local.get("fn"), local.get("args")
        if callable(fn) and isinstance(args, tuple) and args:
            with contextlib.suppress(Exception):
                bound = inspect.signature(fn).bind_partial(*args, **local.get("kwargs", {}))
                candidates.append((getattr(fn, "__name__", ""), bound.arguments))
        candidates.append((traceback.tb_frame.f_code.co_name, local))
        for function, names in candidates:
            owner = names.get("self")
            if not isinstance(owner, keras.Model):
                continue
            if model is None:
                model = owner
            if not has_x and owner is model and function in _FIT_LIKE and "x" in names:
                x, has_x = names["x"], True
                y = names.get("y") if function in _TAKES_Y else None
        traceback = traceback.tb_next
    return model, x, y, has_x


def _explain_message(text):
    """A diagnosis from the text of a Keras error alone, or None."""
    match = _TD_RANK.search(text)
    if match:
        shape = _parse_shape(match.group("shape"))
        return _message(
            "A `TimeDistributed` layer got an input with no time axis.",
            f"shape {format_shape(shape) if shape is not None else match.group('shape')}",
            "shape (batch, time, ..., features), rank >= 3",
            [
                "LSTM(units, return_sequences=True)  # the recurrent layer that feeds it",
                "keras.Input(shape=(timesteps, features))  # if it is the model input",
            ],
        )
    match = _SPEC_RANK.search(text)
    if match:
        layer, ndim, found = match.group("layer"), int(match.group("ndim")), match.group("found")
        shape = _parse_shape(match.group("shape"))
        shown = format_shape(shape) if shape is not None else match.group("shape")
        expected = _EXPECTED_BY_RANK.get(ndim, f"rank {ndim}")
        fixes = []
        if ndim == 3 and shape is not None and len(shape) != 3:
            if shape and shape[0] is None:
                width = shape[1:] if len(shape) == 2 and shape[1] is not None else None
                if width:
                    fixes = [
                        f"layers.Reshape(({width[0]}, 1))  # before '{layer}': "
                        f"{width[0]} steps of 1 feature"
                    ]
            else:
                fixes = [
                    _reshape_fix("x", target)
                    for target in _reshape_targets(shape, (None, None, None))
                ]
        return _message(
            f"Layer '{layer}' needs input of rank {ndim}, but received rank {found}.",
            f"shape {shown}",
            expected,
            fixes or [f"give '{layer}' an input of {expected}"],
        )
    match = _MODEL_INPUT.search(text)
    if match:
        expected = _parse_shape(match.group("expected"))
        shape = _parse_shape(match.group("shape"))
        if expected is not None and shape is not None:
            targets = _reshape_targets(shape, expected)
            return _message(
                f"The model input '{match.group('name')}' got data of rank {len(shape)}, "
                f"but it has rank {len(expected)}.",
                f"shape {format_shape(shape)}",
                f"shape {format_shape(expected)}",
                [_reshape_fix("x", t) for t in targets]
                or [f"give x the shape {format_shape(expected)}"],
            )
    match = _CARDINALITY.search(text)
    if match:
        x_sizes, y_sizes = match.group("x").strip(), match.group("y").strip()
        return _message(
            f"`x` and `y` hold different numbers of samples: {x_sizes} and {y_sizes}.",
            f"x sizes {x_sizes}, y sizes {y_sizes}",
            "x.shape[0] == y.shape[0]",
            ["keras_tdplus.check_fit_data(model, x, y)  # names the array and its reshape"],
        )
    return None


def _explain(error):
    """The `SequenceShapeError` text for a Keras `ValueError`, or None."""
    text = str(error)
    if not _SHAPE_WORDS.search(text):
        return None
    model, x, y, has_x = _frame_context(error.__traceback__)
    if model is not None and has_x:
        try:
            check_fit_data(model, x, y)
        except SequenceShapeError as found:
            return str(found)
        except Exception:
            pass
    if model is not None:
        with contextlib.suppress(Exception):
            report = check_model(model, raise_on_error=False)
            if report.errors:
                return str(report.errors[0])
    return _explain_message(text)


@contextlib.contextmanager
def _explaining():
    try:
        yield
    except SequenceShapeError:
        raise
    except ValueError as error:
        explained = _explain(error)
        if explained is None:
            raise
        raise SequenceShapeError(explained) from error


def explain_shape_errors(func=None):
    """Re-raises Keras' shape errors as `SequenceShapeError`s that say what to do.

    Use it as a context manager around building, fitting or predicting, or as
    a decorator. A `ValueError` about shapes raised inside becomes a
    `SequenceShapeError` with the culprit, both shapes and the fix, chained to
    the original (`__cause__`). The diagnosis looks at what Keras was doing:
    the model being built is linted with `check_model`, and the `x` and `y` of
    `fit`, `evaluate` and `predict` are checked with `check_fit_data`; failing
    that, the Keras message itself is read. Other exceptions, and `ValueError`s
    it cannot explain, pass through unchanged.

    Args:
        func: Optional function to wrap, for use as `@explain_shape_errors`.

    Returns:
        A context manager (that also works as `@explain_shape_errors()`), or
        the wrapped `func`.

    Example:

    >>> with explain_shape_errors():
    ...     keras.Sequential([keras.Input((5, 1)), keras.layers.LSTM(5, name="encoder"),
    ...         keras.layers.TimeDistributed(keras.layers.Dense(1), name="head")])
    Traceback (most recent call last):
    ...
    keras_tdplus.errors.SequenceShapeError: Layer 'encoder' (LSTM) returns only its last step, but layer 'head' (TimeDistributed) after it needs a time axis.
      Received: shape (None, 5) at the input of 'head'
      Expected: shape (batch, time, ..., features), rank >= 3
      Fix: LSTM(5, return_sequences=True)  # layer 'encoder'
    """  # noqa: E501
    if func is None:
        return _explaining()
    if not callable(func):
        raise TypeError(
            "Received an invalid value for `func`, expected a callable or None. "
            f"Received: func={_short_repr(func)}"
        )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _explaining():
            return func(*args, **kwargs)

    return wrapper


# keras-tdplus check


class _Unreadable(Exception):
    pass


def _read_keras_config(path):
    """The model config inside a `.keras` file, or `_Unreadable` saying why not."""
    if not os.path.exists(path):
        raise _Unreadable(f"cannot read {path!r}: no such file")
    if os.path.isdir(path):
        raise _Unreadable(f"cannot read {path!r}: it is a folder, not a .keras file")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read("config.json")
    except zipfile.BadZipFile:
        raise _Unreadable(
            f"cannot read {path!r}: not a .keras file (not a zip archive, or truncated)"
        ) from None
    except KeyError:
        raise _Unreadable(
            f"cannot read {path!r}: it has no config.json, so it is not a Keras 3 .keras file"
        ) from None
    except (OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as error:
        raise _Unreadable(f"cannot read {path!r}: {error}") from None
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Unreadable(f"cannot read {path!r}: its config.json is not valid JSON") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise _Unreadable(f"cannot read {path!r}: its config.json does not describe a model")
    return config


def _check_saved(saved):
    """A `ShapeReport` for a saved model config; lints the raw config if Keras cannot build it."""
    try:
        # Keras pops keys from the config it deserializes; the lint needs them after.
        model = keras.saving.deserialize_keras_object(
            copy.deepcopy({k: v for k, v in saved.items() if k != "compile_config"})
        )
    except Exception:
        model = None
    if isinstance(model, keras.Model):
        return check_model(model, raise_on_error=False)
    config = saved["config"]
    name = config.get("name", "model")
    build_shape = (saved.get("build_config") or {}).get("input_shape")
    fallback = [config.get("build_input_shape"), build_shape]
    return _lint(config, _ConfigSource(), name, None, fallback)


def cli_main(argv):
    """Runs `keras-tdplus check MODEL.keras`; `argv` excludes the word `check`.

    Prints the `check_model` report of the saved model to stdout. The model
    is rebuilt from the file's config.json alone (weights are not read); when
    Keras cannot build it, each layer is rebuilt on its own and the config is
    linted as saved.

    Args:
        argv: The command-line arguments after `check`.

    Returns:
        The exit status: 0 when no error is found, 1 when one is, 2 when the
        file cannot be read or checked (with a one-line message on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="keras-tdplus check",
        description="Lint a saved .keras model for sequence-shape mistakes: a recurrent "
        "layer without return_sequences=True feeding a per-time-step layer, a per-step "
        "or recurrent layer fed a tensor with no time axis.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="the saved model")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        report = _check_saved(_read_keras_config(args.model))
    except _Unreadable as error:
        print(f"keras-tdplus check: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        reason = str(error).splitlines()[0]
        print(f"keras-tdplus check: cannot check {args.model!r}: {reason}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1
