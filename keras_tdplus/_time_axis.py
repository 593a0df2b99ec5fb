"""The rank check both time-distributed layers run before Keras sees the input."""

from keras import layers

from keras_tdplus.errors import SequenceShapeError


def _producer(x):
    """The layer that made the symbolic tensor `x`, or None if unknown."""
    # `_keras_history` is how a KerasTensor remembers its producing operation;
    # eager tensors have none, so the message falls back to a reshape.
    history = getattr(x, "_keras_history", None)
    return getattr(history, "operation", None) if history is not None else None


def _recurrent_fix(producer):
    """The constructor call that makes `producer` return sequences, or None."""
    if isinstance(producer, layers.Bidirectional):
        inner = producer.forward_layer
        return f"Bidirectional({type(inner).__name__}({_units(inner)}, return_sequences=True))"
    if isinstance(producer, layers.RNN) and not producer.return_sequences:
        return f"{type(producer).__name__}({_units(producer)}, return_sequences=True)"
    return None


def _units(rnn):
    for attr in ("units", "filters"):
        value = getattr(rnn, attr, None)
        if value is None:
            value = getattr(getattr(rnn, "cell", None), attr, None)
        if value is not None:
            return value
    return "..."


def format_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


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
    fix = _recurrent_fix(producer) if producer is not None else None
    if fix is not None:
        raise SequenceShapeError(
            f"{culprit} needs a time axis, but recurrent layer '{producer.name}' "
            f"returns only its last step.{stock}\n"
            f"  Received: shape {format_shape(shape)} from '{producer.name}'\n"
            "  Expected: shape (batch, time, ..., features), rank >= 3\n"
            f"  Fix: {fix}  # layer '{producer.name}'"
        )
    if len(shape) == 2:
        fix = (
            "x = x[:, None, :]  # one time step per sample, or reshape to (samples, time, features)"
        )
    else:
        fix = "reshape the input to (samples, time, features)"
    raise SequenceShapeError(
        f"{culprit} needs a time axis, but its input has rank {len(shape)}.{stock}\n"
        f"  Received: shape {format_shape(shape)}\n"
        "  Expected: shape (batch, time, ..., features), rank >= 3\n"
        f"  Fix: {fix}"
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
        f"Layer '{layer.name}' ({type(layer).__name__}): {stock}\n"
        f"  Received: mask shape {format_shape(mask_shape)}, "
        f"input shape {format_shape(input_shape)}\n"
        f"  Expected: mask shape ({input_shape[0]}, {input_shape[1]}), or longer with "
        "the same first two axes\n"
        "  Fix: pass the mask made for this input, e.g. from Masking() on the same tensor"
    )
