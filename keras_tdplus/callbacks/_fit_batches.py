"""The batches `fit` trains on, read from `fit` itself when a callback's `on_train_begin` runs.

Keras tells callbacks the number of steps (`params["steps"]`) but not the batch.
`fit` holds it: the `epoch_iterator` it builds before calling `on_train_begin`
has a `data_adapter` whose `batch_size`, `partial_batch_size` and
`num_batches` say how it batches arrays, a `tf.data.Dataset` with a static
batch axis or a torch `DataLoader`. `fit` is found by walking a few frames up
from the callback (the same local names in Keras 3.13 to 3.16, on every
backend), never through `keras.src`. A `PyDataset` says its batch through its
first and last items, a `tf.data.Dataset` batched without `drop_remainder`
through its first element; a generator cannot be read without consuming it.
"""

import dataclasses
import sys

import keras

__all__ = ["FitBatches", "fit_batches"]

# `fit` calls `CallbackList.on_train_begin`, which calls the callback: fit is two frames above
# it. A few more allow for a CallbackList subclass, or a `fit` that a model overrides and
# calls on to Keras' (the frame that holds the iterator is then the innermost `fit`).
FRAMES = 8


@dataclasses.dataclass(frozen=True)
class FitBatches:
    """What a callback can learn of the batches `fit` trains on; None where it cannot.

    Attributes:
        batch: The samples in a full batch.
        last: The samples in the last batch of a pass over the data (a `PyDataset`
            says it even when it is full; arrays and loaders only when fewer).
        per_pass: The batches in one pass over the data.
        source: The type name of `fit`'s `x`, for messages.
    """

    batch: int = None
    last: int = None
    per_pass: int = None
    source: str = None


def fit_batches(model, peek=True):
    """The batches of the `fit` that is calling a callback of `model` now.

    Called from a callback's `on_train_begin`. With `peek`, a `PyDataset` or a
    `tf.data.Dataset` that does not say its batch is asked for its first one.
    Returns an empty `FitBatches` outside `fit` (a training loop of one's own).
    """
    iterator, x = fit_locals(model)
    if iterator is None:
        return FitBatches()
    adapter = getattr(iterator, "data_adapter", None)
    batch = adapter_property(adapter, "batch_size")
    per_pass = adapter_property(adapter, "num_batches")
    last = adapter_property(adapter, "partial_batch_size")
    if isinstance(x, keras.utils.PyDataset):
        if batch is None and peek:
            batch = rows(x[0])
        if per_pass:
            last = rows(x[per_pass - 1])
    elif batch is None and peek and is_tf_dataset(x):
        batch = rows(next(iter(x.take(1))))
    return FitBatches(
        batch=batch,
        last=last,
        per_pass=per_pass,
        source=type(x).__name__,
    )


def fit_locals(model):
    """`(epoch_iterator, x)` of the `fit` of `model` among the calling frames, or Nones."""
    frame = sys._getframe(1)
    try:
        for _ in range(FRAMES):
            if frame is None:
                break
            if frame.f_code.co_name == "fit":
                names = frame.f_locals
                if names.get("self") is model and "epoch_iterator" in names:
                    return names["epoch_iterator"], names.get("x")
            frame = frame.f_back
        return None, None
    finally:
        del frame  # a frame held here would keep fit's arrays alive


def adapter_property(adapter, name):
    """A data adapter's property, None where the adapter leaves it unimplemented."""
    try:
        value = getattr(adapter, name, None)
    except NotImplementedError:
        return None
    return int(value) if value is not None else None


def rows(batch):
    """The samples in one batch `(x, y, sample_weight)` of any nesting."""
    leaf = next(leaf for leaf in keras.tree.flatten(batch) if leaf is not None)
    return int(leaf.shape[0])


def is_tf_dataset(x):
    return hasattr(x, "element_spec") and callable(getattr(x, "take", None))
