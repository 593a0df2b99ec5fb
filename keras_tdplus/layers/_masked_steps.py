"""Calling a layer on the valid steps only: gather them, one call, scatter back.

`TimeDistributed(layer, skip_masked_steps=True)` folds `(batch, time, ...)`
into `batch * time` rows as usual, then keeps only the rows of steps that are
not masked: their indices are gathered into a packed batch of `capacity`
rows, the inner layer runs once on it, and its outputs are put back in place,
zeros at the masked steps.

How big the packed batch is depends on where the call runs:

- eager TensorFlow and eager torch, and a TensorFlow graph (which takes a
  size known only when it runs; XLA does not, so a model with a packing
  wrapper runs its TensorFlow graph without XLA): exactly the number of
  valid steps;
- a JAX `jit` program: shapes are fixed when the program is built, so it
  holds one branch per capacity in `BUCKETS` (fractions of `batch * time`)
  and picks, per batch, the smallest that holds the valid steps
  (`keras.ops.switch`). One program per input shape, as without packing; the
  inner layer is traced once per bucket. A jit-compiled JAX train step on a
  CPU computes every step instead (see `_packing_mode`);
- eager JAX and `torch.compile`: the same buckets, chosen in Python, so at
  most one compiled program per bucket.

The last bucket is the whole batch with no gather at all: with nothing to
skip, packing costs a count and a `where`.
"""

import math

import keras
from keras import ops, tree

__all__ = [
    "BUCKETS",
    "can_pack",
    "capacities",
    "check_skip_masked_steps",
    "packed_call",
    "step_validity",
    "zero_masked_steps",
]

BUCKETS = (1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1)
"""The capacities of a packed batch, as fractions of `batch * time`.

The smallest that holds the valid steps is used: at most 1.5 times the
valid steps above an eighth of the batch, and six branches in a traced
program (fewer when `batch * time` is small and fractions round to the same
size).
"""


def check_skip_masked_steps(value):
    """Raises a ValueError naming `skip_masked_steps` unless `value` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(
            "Received an invalid value for `skip_masked_steps`, expected True or False. "
            f"Received: skip_masked_steps={value!r}"
        )


def capacities(rows):
    """The distinct capacities for `rows` folded rows (a Python int), smallest first."""
    sizes = sorted({max(1, math.ceil(rows * fraction)) for fraction in BUCKETS})
    return sizes


def step_validity(pairs):
    """`(batch, time)` booleans: True where a step is valid in any given mask.

    `pairs` are `(input, mask)`; a mask longer than `(batch, time)` marks a
    step masked only when every one of its positions is. A step masked in one
    input but valid in another is computed: no input loses a step it needs.
    Returns None when no mask is given.
    """
    valid = None
    for _, mask in pairs:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        if len(mask.shape) > 2:
            mask = ops.any(mask, axis=tuple(range(2, len(mask.shape))))
        valid = mask if valid is None else ops.logical_or(valid, mask)
    return valid


def _packing_mode(valid, training):
    """How big the packed batch may be where this call runs.

    `"exact"`: the number of valid steps (eager TensorFlow and torch, and a
    TensorFlow graph, which takes a size known only when it runs);
    `"bucket"`: that number rounded up to a bucket in Python, so a compiler
    sees few shapes (eager JAX, `torch.compile`); `"switch"`: a JAX trace,
    whose shapes are fixed before the count is known; `"all"`: every row,
    masked ones zeroed after: a jit-compiled JAX train step on a CPU, and
    `torch.export` or the torch ONNX exporter's tracing.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if not isinstance(valid, jax.core.Tracer):
            return "bucket"
        if training and jax.default_backend() == "cpu":
            # XLA's CPU compiler runs the backward pass of a convolution or
            # of a scan (an RNN) 10 to 25 times slower inside a branch of a
            # switch than at the top of a program: the branches would cost
            # more than the steps they skip.
            return "all"
        return "switch"
    if backend == "torch":
        import torch

        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            # `torch.export` takes no size read from the data, and the ONNX
            # exporter's tracing would keep the one it saw in its sample.
            return "all"
        return "bucket" if torch.compiler.is_compiling() else "exact"
    return "exact"


def _capacity(valid, rows, mode):
    """`(capacity, every row valid)` for `valid` in Python: exact, or up to a bucket.

    The count stays inside this function. Under `torch.compile` it is read
    after a graph break, and the code that holds it is specialised on its
    value: had the caller held it, every count would compile that caller's
    graph again, where now only each capacity does.
    """
    count = int(ops.sum(ops.cast(valid, "int32")))
    if count == rows:
        return rows, True
    if mode == "exact":
        return max(count, 1), False
    return next(c for c in capacities(rows) if c >= count), False


def can_pack(valid):
    """False for a JAX export with a symbolic batch or time axis (jax2tf, jax2onnx).

    No bucket has a size there, and the exporters take no switch over them:
    the caller computes every step and zeroes the masked ones with
    `zero_masked_steps`, after the steps are back in place.
    """
    return keras.backend.backend() != "jax" or all(isinstance(n, int) for n in valid.shape)


def zero_masked_steps(outputs, valid):
    """`outputs` of shape `(batch, time, ...)` with zeros where `valid` `(batch, time)` is False."""

    def zero(y):
        keep = valid
        for _ in range(len(y.shape) - 2):
            # Axes added one by one, not by a reshape: jax2onnx mistakes the
            # sizes of a reshape of symbolic axes.
            keep = ops.expand_dims(keep, -1)
        return ops.where(keep, y, ops.zeros((), y.dtype))

    return tree.map_structure(zero, outputs)


def _is_eager():
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return tf.executing_eagerly()


def _gather_indices(valid, rows, capacity):
    """The first `capacity` row indices with valid rows first, each group in order."""
    index = ops.arange(rows, dtype="int32")
    key = ops.where(valid, 2 * rows - index, rows - index)
    _, indices = ops.top_k(key, capacity, sorted=True)
    return ops.cast(indices, "int32")


def _pack(call, inputs, mask, valid, rows, capacity):
    """`call` on the `capacity` rows that hold every valid one; outputs back in place."""
    indices = _gather_indices(valid, rows, capacity)
    packed_inputs = tree.map_structure(lambda x: ops.take(x, indices, axis=0), inputs)
    packed_mask = tree.map_structure(
        lambda m: None if m is None else ops.take(m, indices, axis=0), mask
    )
    outputs = call(packed_inputs, packed_mask)
    # Row i of the result is packed row `slot[i]`, or the zero row appended
    # after the packed ones when row i is masked.
    slot = ops.cumsum(ops.cast(valid, "int32")) - 1
    where = ops.where(valid, slot, capacity)

    def unpack(y):
        zero = ops.zeros((1, *ops.shape(y)[1:]), dtype=y.dtype)
        return ops.take(ops.concatenate([y, zero], axis=0), where, axis=0)

    return tree.map_structure(unpack, outputs)


def _zero_masked(outputs, valid):
    def zero(y):
        keep = ops.reshape(valid, (-1, *([1] * (len(y.shape) - 1))))
        return ops.where(keep, y, ops.zeros_like(y))

    return tree.map_structure(zero, outputs)


def _all_rows(call, inputs, mask, valid):
    return _zero_masked(call(inputs, mask), valid)


def _pure(fn, variables):
    """`fn` as a function returning `(outputs, new values of variables)`.

    A branch of a traced `switch` must not assign variables itself (a JAX
    branch cannot leak its values), so a dropout seed or a moving mean
    updated inside it is collected here and assigned after the switch.
    """

    def branch():
        mapping = [(v, v.value) for v in variables]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            outputs = fn()
            updated = [scope.get_current_value(v) for v in variables]
        values = [v.value if u is None else u for v, u in zip(variables, updated, strict=True)]
        return outputs, values

    return branch


def packed_call(call, inputs, mask, valid, variables, training=None):
    """`call(inputs, mask)` on the valid rows only; zeros at masked rows.

    Args:
        call: `call(inputs, mask)` runs the inner layer on folded rows.
        inputs: Folded inputs, a structure of `(rows, ...)` tensors.
        mask: The folded mask(s) for the inner layer, or None.
        valid: `(rows,)` booleans, True for a row to compute.
        variables: The inner layer's variables, for a traced program's
            branches to update after the switch.
        training: The call's `training` argument.
    """
    rows = ops.shape(valid)[0]
    mode = _packing_mode(valid, training)
    if mode == "all":
        return _all_rows(call, inputs, mask, valid)
    if mode != "switch" and _is_eager():
        capacity, every_row_valid = _capacity(valid, rows, mode)
        if every_row_valid:
            return call(inputs, mask)
        if capacity >= rows:
            return _all_rows(call, inputs, mask, valid)
        return _pack(call, inputs, mask, valid, rows, capacity)
    count = ops.sum(ops.cast(valid, "int32"))
    if mode == "exact":
        # A TensorFlow graph: a size known only when it runs. All steps valid
        # is the ordinary call, with no gather.
        # A two-way `cond`, not a `switch`: tf2onnx converts a cond, not a switch_case.
        outputs, values = ops.cond(
            ops.equal(count, rows),
            _pure(lambda: call(inputs, mask), variables),
            _pure(lambda: _pack(call, inputs, mask, valid, rows, ops.maximum(count, 1)), variables),
        )
        return _assign_after(outputs, values, variables)
    sizes = capacities(rows)
    branch_index = 0
    for size in sizes[:-1]:
        branch_index = branch_index + ops.cast(count > size, "int32")
    branches = [
        _pure(lambda c=c: _pack(call, inputs, mask, valid, rows, c), variables) for c in sizes[:-1]
    ]
    branches.append(_pure(lambda: _all_rows(call, inputs, mask, valid), variables))
    return _switch(branch_index, branches, variables)


def _switch(index, branches, variables):
    """`branches[index]()`; the variables the branch updated are assigned after it."""
    outputs, values = ops.switch(index, branches)
    return _assign_after(outputs, values, variables)


def _assign_after(outputs, values, variables):
    for variable, value in zip(variables, values, strict=True):
        if not variable.trainable:
            variable.assign(value)
    return outputs
