"""Shape checks of data: `check_sequence_input` and `check_fit_data`."""

import contextlib
import numbers
import operator

import keras

from keras_tdplus._messages import format_shape, message, short_repr
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.validation._reshapes import (
    AXIS_WORDS,
    element_count,
    has_reshape,
    reshape_fix,
    reshape_targets,
)

__all__ = ["check_fit_data", "check_sequence_input"]

_MAX_NESTING = 32


_NO_SHAPE = object()


_NUMERIC_DTYPES = ("float", "bfloat", "int", "uint", "bool")


def _not_numeric(where, value, expected):
    kind = "None" if value is None else f"a {type(value).__name__}"
    return SequenceShapeError(
        message(
            f"`{where}` is {kind}, but a numeric array is expected.",
            f"{where} = {short_repr(value)}",
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
            message(
                f"`{where}` has a shape of unknown rank.",
                f"{where}.shape = {short_repr(shape)}",
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
                message(
                    f"`{where}.shape` is not a valid shape: it holds {short_repr(dim)}.",
                    f"{where}.shape = {short_repr(shape)}",
                    "a tuple of non-negative integers (or None for an unknown axis)",
                    [f"pass an array, not an object whose `shape` is {short_repr(shape)}"],
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
            message(
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
            message(
                f"`{where}` nests lists more than {_MAX_NESTING} levels deep.",
                f"{where} = {short_repr(value)}",
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
                message(
                    f"`{where}` is ragged: {where}[{index}] has shape {format_shape(shape)}, "
                    f"but {where}[0] has shape {format_shape(first)}.",
                    f"nested lists of unequal lengths in `{where}`",
                    f"{expected}, every sequence the same length",
                    [fix],
                )
            )
    return (len(value), *first)


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
        message(
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
        targets = reshape_targets(shape, expected)
        fixes = [reshape_fix(name, target, has_reshape(x)) for target in targets]
        raise SequenceShapeError(
            message(
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
            message(
                f"`{name}` has {element_count(steps, AXIS_WORDS[1])}, expected {timesteps}.",
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
            message(
                f"`{name}` has {element_count(width, AXIS_WORDS[2])}, expected {features}.",
                f"{name}.shape = {format_shape(shape)}",
                expected_text,
                [
                    f"keras.Input(shape=({timesteps or steps}, {width}))  "
                    f"# a model input for {element_count(width, AXIS_WORDS[2])}"
                ],
            )
        )
    return x


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
                    message(
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
            message(
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
        targets = reshape_targets(shape, expected, samples)
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
        words = AXIS_WORDS.get(mismatch) if len(shape) == 3 else None
        if words:
            first = (
                f"`{label}` has {element_count(shape[mismatch], words)}, but the model's {which} "
                f"has {expected[mismatch]}."
            )
        else:
            first = (
                f"`{label}` has size {shape[mismatch]} on axis {mismatch}, but the "
                f"model's {which} has {expected[mismatch]}."
            )
        # A same-rank reshape is only a fix when the sample count pins it.
        targets = reshape_targets(shape, expected, samples) if samples else []
    fixes = [reshape_fix(label, target, has_reshape(value)) for target in targets]
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
        message(
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
            f"Received: model={short_repr(model)} of type {type(model).__name__}"
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
                message(
                    f"`{first_label}` and `{label}` hold different numbers of samples: "
                    f"{first_shape[0]} and {shape[0]}.",
                    f"{first_label}.shape = {format_shape(first_shape)}, "
                    f"{label}.shape = {format_shape(shape)}",
                    f"{first_label}.shape[0] == {label}.shape[0]",
                    [f"pass one `{label}` row per `{first_label}` sample"],
                )
            )
    return x, y
