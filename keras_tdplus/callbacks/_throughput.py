"""`Throughput`: samples per second, achieved FLOP/s and MFU in the logs of `fit`."""

import math
import numbers
import time

import keras

from keras_tdplus.callbacks._fit_batches import fit_batches
from keras_tdplus.callbacks._input_shape import (
    check_input_shape,
    data_input_shape,
    format_input_shape,
    open_inputs,
)
from keras_tdplus.params import count_flops
from keras_tdplus.params._shapes import check_batch_size

__all__ = ["Throughput"]


class Throughput(keras.callbacks.Callback):
    """Adds training throughput, achieved FLOP/s and MFU to the logs of `fit`.

    Each training step is timed from `on_train_batch_begin` to
    `on_train_batch_end`. Keras turns the step's logs into Python numbers
    before it calls a callback that is not async-safe (this one), which waits
    for the step to finish on every backend, so the time is the step's: its
    forward and backward passes and the weight update, and on JAX and
    TensorFlow the fetching of its batch (torch's `fit` fetches it first).
    The time between steps (other callbacks, validation, the progress bar) is
    not counted, and validation batches are not either. Waiting has a cost, as
    for any callback with a batch hook: on JAX and torch Keras then runs the
    callbacks in step with training, not on a thread beside it, which slows
    steps of a few milliseconds a little.

    The first step at each batch size in a `fit` is left out: it compiles on
    JAX and TensorFlow, and a smaller last batch traces the step once more.
    With `steps_per_execution=N` one timed call covers `N` steps.

    The figures, under these keys of the batch logs (the progress bar) and the
    epoch logs (`History`):

    - `samples_per_second`: training samples over the time of their steps;
    - `flops_per_second`: their training FLOPs over the same time, the FLOPs
      of one step at batch `B` being `count_flops(model, input_shape=S,
      batch_size=B, training=True)` (forward and backward passes; a smaller
      last batch is counted at its size);
    - `mfu`: model FLOPs utilization, `flops_per_second / peak_flops`, only
      when `peak_flops` is given.

    The epoch logs hold the epoch's timed steps; the batch logs the timed
    steps of the epoch so far (none until the first, so the first steps of a
    `fit` show no figures). An epoch with no timed step (a single step, left
    out) gets `nan` for each key: nothing was measured, and `History` keeps
    one entry per epoch.

    The batch is `batch_size` (or the batch axis `input_shape` fixes), else
    the batch the model's inputs fix, else the one `fit` batches with: read
    from `fit`'s data at `on_train_begin` (arrays, a `keras.utils.PyDataset`,
    a `tf.data.Dataset`, a torch `DataLoader`; a `PyDataset` or a dataset
    batched without `drop_remainder=True` is asked for its first batch). A
    generator's batch cannot be read: pass `batch_size`. The last batch is
    counted at its size for arrays, a `PyDataset` and a `DataLoader`; a
    `tf.data.Dataset`'s last batch is counted full.

    The input shape `S` is `input_shape`, else, where the model leaves a size
    unknown (a time axis: `keras.Input((None, 8))`), the shape of a sample of
    `fit`'s data, `(None, *x.shape[1:])`: of arrays or tensors (a dict of
    them by input name, a list by position), of a `PyDataset`'s first batch,
    of a `tf.data.Dataset`'s `element_spec`, or of its first element where
    the spec leaves the size unknown. Only the sizes the model leaves unknown
    are taken from it. Batches whose number of steps varies (a `PyDataset` or
    a padded dataset) are all counted at the first batch's: pass
    `input_shape` for another. A generator's shapes cannot be read: pass
    `input_shape`. A model whose training FLOPs cannot be counted (a layer
    without a FLOPs formula, a size neither the model nor `fit` says) is
    refused at `on_train_begin`, before any step runs.

    Args:
        peak_flops: The peak FLOP/s of the device(s) training the model, for
            `mfu`: e.g. `989e12` for an H100 SXM's dense bf16, `67e12` for its
            fp32; the vendor's datasheet gives it (use the dense, not the
            sparse, figure of the dtype you train in). None leaves `mfu` out.
        batch_size: The samples in one training batch, where `fit` cannot say
            (a generator); None reads it from the model or from `fit`.
        input_shape: The input shape to count at, batch axis included (a
            list for several inputs), as `count_flops` takes it: it fills
            the sizes the model leaves unknown, e.g. `(None, 20, 8)`. A batch
            axis it fixes counts as `batch_size`. None reads the unknown
            sizes from `fit`'s data.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.zeros((32, 4)), np.zeros((32, 2))
    >>> history = model.fit(
    ...     x, y, batch_size=8, epochs=2, verbose=0, callbacks=[Throughput(peak_flops=1e12)]
    ... )
    >>> sorted(history.history)
    ['flops_per_second', 'loss', 'mfu', 'samples_per_second']
    >>> figures = history.history
    >>> [round(f / s) for f, s in zip(figures["flops_per_second"], figures["samples_per_second"])]
    [32, 32]
    """

    def __init__(self, peak_flops=None, batch_size=None, input_shape=None):
        super().__init__()
        positive = isinstance(peak_flops, numbers.Real) and not isinstance(peak_flops, bool)
        if peak_flops is not None and not (
            positive and math.isfinite(peak_flops) and peak_flops > 0
        ):
            raise ValueError(
                "Received an invalid value for `peak_flops`, expected a positive finite number "
                f"of FLOP/s (e.g. 989e12) or None. Received: peak_flops={peak_flops!r}"
            )
        check_batch_size(batch_size)
        self._given_shape, self._given_batch = check_input_shape(input_shape, batch_size)
        self.peak_flops = peak_flops
        self.batch_size = batch_size
        self.input_shape = input_shape
        self._started = None

    def __repr__(self):
        return (
            f"Throughput(peak_flops={self.peak_flops!r}, batch_size={self.batch_size!r}, "
            f"input_shape={self.input_shape!r})"
        )

    def on_train_begin(self, logs=None):
        given = self._given_batch
        batch = given or fixed_batch(self.model)
        unknown = [] if self._given_shape is not None else open_inputs(self.model)
        found = fit_batches(self.model, peek=batch is None, inputs=bool(unknown))
        if batch is None:
            batch = found.batch
        if batch is None:
            source = f"x of type {found.source}" if found.source else "not called by fit"
            raise ValueError(
                "Throughput cannot tell how many samples a batch of fit's data holds: pass it, "
                f"e.g. Throughput(batch_size=32). Received: {source}"
            )
        if given is not None and found.batch not in (None, batch):
            fix = (
                f"leave out batch_size, or pass batch_size={found.batch}"
                if self.batch_size is not None
                else f"give input_shape the batch axis None or {found.batch}"
            )
            raise ValueError(
                f"Throughput counts batches of {batch}, but fit trains on batches of "
                f"{found.batch}. Fix: {fix}"
            )
        self._input_shape = self._given_shape
        if unknown:
            self._input_shape = data_input_shape(unknown, found.inputs)
            if self._input_shape is None:
                raise unknown_size_error(self.model.name, unknown, found.source)
        self._batch = batch
        self._last = found.last if found.last != batch else None
        self._per_pass = found.per_pass
        self._flops = {}
        self._config = None
        for size in (batch, self._last):
            if size is not None:
                self._flops_at(size)
        self._compiled = set()
        self._steps_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._seconds = 0.0
        self._samples = 0
        self._epoch_flops = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = batch
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._started is None:
            return
        seconds = time.perf_counter() - self._started
        self._started = None
        sizes = self._step_sizes(self._begin, batch)
        compiled = self._compiled.issuperset(sizes)
        self._compiled.update(sizes)
        if sizes and compiled:
            self._seconds += seconds
            self._samples += sum(sizes)
            self._epoch_flops += sum(self._flops_at(size) for size in sizes)
        if logs is not None and self._samples:
            logs.update(self._figures())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._figures())

    def _step_sizes(self, begin, end):
        """The batch of each step from `begin` to `end` (one call of `steps_per_execution`)."""
        steps = end - begin + 1
        epoch_steps = (self.params or {}).get("steps")
        if epoch_steps:  # the last call of an epoch may run fewer steps than it says
            steps = min(steps, epoch_steps - begin)
        sizes = []
        for _ in range(steps):
            at_last = self._per_pass and self._steps_run % self._per_pass == self._per_pass - 1
            sizes.append(self._last if at_last and self._last else self._batch)
            self._steps_run += 1
        return sizes

    def _flops_at(self, batch):
        if batch not in self._flops:
            shape = self._input_shape
            if self._config is None:
                self._config = _any_batch(keras.saving.serialize_keras_object(self.model))
            try:
                self._flops[batch] = count_flops(
                    self._config, input_shape=shape, batch_size=batch, training=True
                )
            except ValueError as error:
                given = "" if shape is None else f"input_shape={format_input_shape(shape)}, "
                raise ValueError(
                    f"Throughput cannot count the training FLOPs of model '{self.model.name}', "
                    f"so it cannot time its training. count_flops(model, {given}training=True) "
                    f"says: {error}"
                ) from None
        return self._flops[batch]

    def _figures(self):
        """The epoch's figures so far: `nan` while no step was timed."""
        seconds = self._seconds if self._samples and self._seconds > 0 else math.nan
        figures = {
            "samples_per_second": self._samples / seconds,
            "flops_per_second": self._epoch_flops / seconds,
        }
        if self.peak_flops is not None:
            figures["mfu"] = figures["flops_per_second"] / self.peak_flops
        return figures


def unknown_size_error(model_name, inputs, source):
    """The error for a size the model leaves unknown and `fit`'s data does not say."""
    name, shape = next((n, s) for _, n, s in inputs if s is None or None in s[1:])
    where = "" if shape is None else f" on axis {shape.index(None, 1)}"
    example = [
        None if s is None else (None, *("T" if d is None else d for d in s[1:]))
        for _, _, s in inputs
    ]
    received = f"x of type {source}" if source else "not called by fit"
    return ValueError(
        f"Throughput cannot count the training FLOPs of model '{model_name}': its input "
        f"'{name}' has an unknown size{where} ({format_input_shape(shape)}), and fit's data "
        "does not say it. Fix: pass it, e.g. Throughput(input_shape="
        f"{format_input_shape(example if len(example) > 1 else example[0])}) with T the "
        f"steps to count for. Received: {received}"
    )


def fixed_batch(model):
    """The batch every input of `model` fixes, or None."""
    inputs = getattr(model, "inputs", None) or []
    batches = {tuple(x.shape)[0] for x in keras.tree.flatten(inputs)}
    return batches.pop() if len(batches) == 1 else None


def _any_batch(config):
    """A model config whose inputs take any batch.

    A model `fit` built on its first batch (a Sequential without an `Input`)
    keeps that batch in its inputs' config, and runs a smaller last one all
    the same: each step is counted at its own batch.
    """
    if isinstance(config, dict):
        freed = {key: _any_batch(value) for key, value in config.items()}
        for key in ("batch_shape", "build_input_shape"):
            shape = freed.get(key)
            if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], int):
                freed[key] = [None, *shape[1:]]
        return freed
    if isinstance(config, list):
        return [_any_batch(value) for value in config]
    return config
