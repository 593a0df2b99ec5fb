"""`explain_shape_errors`: Keras' own shape errors turned into ones that say what to do."""

import contextlib
import functools
import inspect
import re

import keras

from keras_tdplus._messages import format_shape, message, short_repr
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.validation._data_checks import check_fit_data
from keras_tdplus.validation._lint import check_model
from keras_tdplus.validation._lint_rules import EXPECTED_BY_RANK
from keras_tdplus.validation._reshapes import reshape_fix, reshape_targets

__all__ = ["explain_shape_errors"]

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
        return message(
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
        expected = EXPECTED_BY_RANK.get(ndim, f"rank {ndim}")
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
                    reshape_fix("x", target)
                    for target in reshape_targets(shape, (None, None, None))
                ]
        return message(
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
            targets = reshape_targets(shape, expected)
            return message(
                f"The model input '{match.group('name')}' got data of rank {len(shape)}, "
                f"but it has rank {len(expected)}.",
                f"shape {format_shape(shape)}",
                f"shape {format_shape(expected)}",
                [reshape_fix("x", t) for t in targets]
                or [f"give x the shape {format_shape(expected)}"],
            )
    match = _CARDINALITY.search(text)
    if match:
        x_sizes, y_sizes = match.group("x").strip(), match.group("y").strip()
        return message(
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
            f"Received: func={short_repr(func)}"
        )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _explaining():
            return func(*args, **kwargs)

    return wrapper
