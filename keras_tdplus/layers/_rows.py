"""Per-position layers run on `(rows, features)`, so an exported graph keeps no batch size."""

import keras
from keras import ops

__all__ = ["on_rows"]


def on_rows(fn, x):
    """`fn(x)` for a `fn` that works on the last axis alone (a Dense), computed on rows.

    On TensorFlow a Dense over a rank-3 tensor is a `tf.tensordot`, which writes the
    static sizes of its input into the graph as constants when they are known: a
    LiteRT file exported with a fully static signature then cannot be resized to
    another batch. Reshaping to `(-1, features)` and back to `(-1, ..., units)`
    leaves the batch to the runtime. The other backends multiply a rank-3 tensor
    as it is, so `fn` runs on `x` unchanged there.
    """
    if keras.backend.backend() != "tensorflow" or len(x.shape) < 3:
        return fn(x)
    shape = ops.shape(x)
    y = fn(ops.reshape(x, (-1, shape[-1])))
    return ops.reshape(y, (-1, *shape[1:-1], ops.shape(y)[-1]))
