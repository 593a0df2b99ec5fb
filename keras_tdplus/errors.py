"""The package's one error class."""

__all__ = ["SequenceShapeError"]


class SequenceShapeError(ValueError):
    """A tensor or array does not have the sequence shape a layer or model needs.

    Raised for every sequence-shape mistake keras_tdplus detects: a missing time
    axis, a recurrent layer that should return sequences, a target whose rank
    does not match the model output. It is a `ValueError`, so code that already
    catches Keras' shape errors keeps working.

    The message names the culprit on its first line, then shows the shape
    received and the shape expected, then the fix as code.

    Example:

    >>> import numpy as np
    >>> import keras_tdplus as tdp
    >>> try:
    ...     tdp.check_sequence_input(np.zeros(5))
    ... except ValueError as error:
    ...     print(type(error).__name__)
    ...     print(str(error).splitlines()[0])
    SequenceShapeError
    `X` has rank 1, but a sequence input needs rank 3: (samples, timesteps, features).
    """
