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
The same data says the shape of a sample: an array's past its batch axis, a
`PyDataset`'s first batch, a dataset's `element_spec` (its first element where
the spec leaves a size unknown).
"""

import dataclasses
import sys

import keras

__all__ = ["FitBatches", "fit_batches", "per_sample"]

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
        inputs: With `fit_batches(inputs=True)`, the model inputs of `fit`'s
            data, nested as `fit` takes them, each leaf something with a
            `shape` whose first axis is the batch: `x` itself (arrays, or
            what cannot be read, a generator), a `PyDataset`'s first batch,
            a dataset's `element_spec` or first element.
    """

    batch: int = None
    last: int = None
    per_pass: int = None
    source: str = None
    inputs: object = None


def fit_batches(model, peek=True, inputs=False):
    """The batches of the `fit` that is calling a callback of `model` now.

    Called from a callback's `on_train_begin`. With `peek`, a `PyDataset` or a
    `tf.data.Dataset` that does not say its batch is asked for its first one;
    with `inputs`, for the shapes of its inputs too (a dataset whose
    `element_spec` says every size past the batch axis is not asked).
    Returns an empty `FitBatches` outside `fit` (a training loop of one's own).
    """
    iterator, x = fit_locals(model)
    if iterator is None:
        return FitBatches()
    adapter = getattr(iterator, "data_adapter", None)
    batch = adapter_property(adapter, "batch_size")
    per_pass = adapter_property(adapter, "num_batches")
    last = adapter_property(adapter, "partial_batch_size")
    py_dataset = isinstance(x, keras.utils.PyDataset)
    readable = py_dataset or is_tf_dataset(x)
    spec = features(x.element_spec) if inputs and readable and not py_dataset else None
    first = None
    if readable and ((batch is None and peek) or (inputs and not is_static(spec))):
        first = x[0] if py_dataset else next(iter(x.take(1)))
    if batch is None and peek and first is not None:
        batch = rows(first)
    if py_dataset and per_pass:
        last = rows(x[per_pass - 1])
    found = None
    if inputs:
        found = (spec if is_static(spec) else features(first)) if readable else x
    return FitBatches(
        batch=batch,
        last=last,
        per_pass=per_pass,
        source=type(x).__name__,
        inputs=found,
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


def features(batch):
    """The model inputs of one batch or element spec: its `x`, as `fit` unpacks it."""
    return keras.utils.unpack_x_y_sample_weight(batch)[0]


def per_sample(leaf):
    """The shape of one sample of `leaf` (past its batch axis), None where it has none."""
    shape = getattr(leaf, "shape", None)
    try:
        dims = tuple(shape)
    except (TypeError, ValueError):  # no shape, or a TensorSpec of unknown rank
        return None
    if not dims:
        return None
    return tuple(None if d is None else int(d) for d in dims[1:])


def is_static(spec):
    """Whether an element spec says the size of every axis past the batch."""
    if spec is None:
        return False
    shapes = [per_sample(leaf) for leaf in keras.tree.flatten(spec)]
    return all(shape is not None and None not in shape for shape in shapes)


def is_tf_dataset(x):
    return hasattr(x, "element_spec") and callable(getattr(x, "take", None))
