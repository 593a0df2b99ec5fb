"""The rank check both time-distributed layers run before Keras sees the input."""

from keras import layers

from keras_tdplus._kinds import return_sequences_call
from keras_tdplus._messages import format_shape, message
from keras_tdplus.errors import SequenceShapeError

__all__ = ["check_mask", "require_time_axis"]


def _producer(x):
    """The layer that made the symbolic tensor `x`, or None if unknown."""
    # `_keras_history` is how a KerasTensor remembers its producing operation;
    # eager tensors have none, so the message falls back to a reshape.
    history = getattr(x, "_keras_history", None)
    return getattr(history, "operation", None) if history is not None else None


def recurrent_fix(producer):
    """The constructor call that makes live layer `producer` return sequences, or None."""
    if isinstance(producer, layers.Bidirectional):
        if producer.forward_layer.return_sequences:
            return None
    elif not isinstance(producer, layers.RNN) or producer.return_sequences:
        return None
    return return_sequences_call(type(producer).__name__, producer.get_config())


_EXPECTED = "shape (batch, time, ..., features), rank >= 3"


def require_time_axis(layer, x):
    """Raise `SequenceShapeError` unless `x` has rank >= 3 (batch, time, ...)."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) >= 3:
        return
    culprit = f"Layer '{layer.name}' ({type(layer).__name__})"
    # The sentence `keras.layers.TimeDistributed` raises, so a `match=`
    # written against Keras still matches ours.
    stock = (
        " `TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
        f"dimensions, received: {format_shape(shape)}"
        if isinstance(layer, layers.Wrapper)
        else ""
    )
    producer = _producer(x)
    fix = recurrent_fix(producer) if producer is not None else None
    if fix is not None:
        raise SequenceShapeError(
            message(
                f"{culprit} needs a time axis, but recurrent layer '{producer.name}' "
                f"returns only its last step.{stock}",
                f"shape {format_shape(shape)} from '{producer.name}'",
                _EXPECTED,
                [f"{fix}  # layer '{producer.name}'"],
            )
        )
    if len(shape) == 2:
        fix = (
            "x = x[:, None, :]  # one time step per sample, or reshape to (samples, time, features)"
        )
    else:
        fix = "reshape the input to (samples, time, features)"
    raise SequenceShapeError(
        message(
            f"{culprit} needs a time axis, but its input has rank {len(shape)}.{stock}",
            f"shape {format_shape(shape)}",
            _EXPECTED,
            [fix],
        )
    )


def check_mask(layer, inputs, mask):
    """Raise `SequenceShapeError` unless `mask` fits `inputs`' batch and time axes.

    The message starts with the sentence `keras.layers.TimeDistributed`
    raises for the same mistake, so code that matches on it keeps working.
    """
    mask_shape, input_shape = tuple(mask.shape), tuple(inputs.shape)
    kind = "TimeDistributed" if isinstance(layer, layers.Wrapper) else type(layer).__name__
    if len(mask_shape) < 2:
        stock = (
            f"The `mask` passed to the `{kind}` layer must be at least 2D "
            f"(e.g., `(batch_size, timesteps)`), but it has {len(mask_shape)} "
            f"dimension(s) with shape {format_shape(mask_shape)}."
        )
    elif all(
        m is None or i is None or m == i
        for m, i in zip(mask_shape[:2], input_shape[:2], strict=True)
    ):
        return
    else:
        stock = (
            f"The `mask` passed to the `{kind}` layer has a shape "
            f"{format_shape(mask_shape)} that is incompatible with the input shape "
            f"{format_shape(input_shape)}."
        )
    raise SequenceShapeError(
        message(
            f"Layer '{layer.name}' ({type(layer).__name__}): {stock}",
            f"mask shape {format_shape(mask_shape)}, input shape {format_shape(input_shape)}",
            f"mask shape ({input_shape[0]}, {input_shape[1]}), or longer with the same first "
            "two axes",
            ["pass the mask made for this input, e.g. from Masking() on the same tensor"],
        )
    )
