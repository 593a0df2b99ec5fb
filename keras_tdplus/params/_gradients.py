"""What one count is of: a forward pass or a training step, on padded or valid steps.

A training step runs the forward pass and then, for each matrix product, the
gradients autograd computes: one product of the same size for each operand a
gradient has to reach. That is a trainable weight, or an activation computed
from one (the model's own inputs get none, nor does anything computed from
them by frozen or weightless layers alone). The caller of each FLOPs formula
says which of the layer's inputs carry a gradient (`flowing`); a formula asks
`gradients(layer)` which of its products' operands do.

`valid_steps` is the step mask a count assumes: the layers that run on valid
steps only (`TimeDistributed(..., skip_masked_steps=True)`) count the rows it
leaves (`valid_rows`); every other layer the padded shape.
"""

import contextlib
import contextvars
import dataclasses
import math
import numbers

__all__ = [
    "Flow",
    "batch_for_valid_steps",
    "carried_inputs",
    "check_training",
    "check_valid_steps",
    "counting",
    "fit_valid_steps",
    "flowing",
    "forward_only",
    "gradients",
    "is_training",
    "operands",
    "outer_trainable",
    "valid_rows",
    "weighed",
]


@dataclasses.dataclass(frozen=True)
class _Count:
    training: bool = False
    # Per input of the layer being counted: does a gradient reach it.
    inputs: tuple = ()
    # The layers around the one being counted are trainable.
    trainable: bool = True
    # A recurrent cell's previous state carries a gradient (not at step 0).
    state: bool = True
    # `None` (every step valid), a fraction of the steps, or valid steps per sample.
    valid_steps: object = None


_FORWARD = _Count()
_COUNT = contextvars.ContextVar("keras_tdplus_count", default=_FORWARD)  # noqa: B039 (frozen)


@dataclasses.dataclass(frozen=True)
class Flow:
    """Which operands of a layer's products a training step differentiates.

    Attributes:
        kernel: The layer's weights are trainable: each weight product gets its weight's gradient.
        inputs: Per input of the call, whether a gradient reaches it.
        state: A recurrent cell's previous state carries a gradient.
    """

    kernel: bool
    inputs: tuple
    state: bool

    @property
    def input(self):
        """A gradient reaches the (first) input."""
        return bool(self.inputs and self.inputs[0])

    def within(self):
        """Whether a value the layer computes from its input and weights carries a gradient."""
        return self.kernel or any(self.inputs)


def is_training():
    """True while counting a training step (forward and backward)."""
    return _COUNT.get().training


def gradients(layer):
    """The `Flow` of `layer`'s products in the count under way, or None for a forward pass."""
    count = _COUNT.get()
    if not count.training:
        return None
    return Flow(bool(count.trainable and layer.trainable), count.inputs, count.state)


def counting(training=False, valid_steps=None):
    """Counts inside are of a training step (`training`) on `valid_steps` (see module doc)."""
    return _counting(_Count(training=training, valid_steps=valid_steps))


def forward_only():
    """Counts inside are of the forward pass alone (a call no gradient reaches)."""
    return _counting(dataclasses.replace(_COUNT.get(), training=False))


def flowing(inputs=None, trainable=None, state=None):
    """Counts inside see these inputs' gradients, the layers' trainability and state's gradient."""
    count = _COUNT.get()
    changes = {}
    if inputs is not None:
        changes["inputs"] = tuple(bool(i) for i in inputs)
    if trainable is not None:
        changes["trainable"] = count.trainable and bool(trainable)
    if state is not None:
        changes["state"] = bool(state)
    return _counting(dataclasses.replace(count, **changes))


@contextlib.contextmanager
def _counting(count):
    """The counts inside are made under `count`."""
    token = _COUNT.set(count)
    try:
        yield
    finally:
        _COUNT.reset(token)


def carried_inputs():
    """Per input of the layer or model being counted, whether a gradient reaches it."""
    return _COUNT.get().inputs


def outer_trainable():
    """False inside a frozen layer or model."""
    return _COUNT.get().trainable


def valid_rows(layer, batch, time):
    """The `(batch, time)` rows the count's `valid_steps` leave valid, or None when all are."""
    valid = _COUNT.get().valid_steps
    if valid is None:
        return None
    if isinstance(valid, float):  # at least one row: the layer runs on one when none is valid
        return max(1, math.floor(valid * batch * time + 0.5))
    if len(valid) != batch or max(valid, default=0) > time:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) runs on {batch} samples of {time} "
            f"steps, which valid_steps does not fit: it gives {len(valid)} samples, up to "
            f"{max(valid, default=0)} steps. Received: valid_steps={list(valid)!r}"
        )
    return max(1, sum(valid))


def check_training(training):
    if not isinstance(training, bool):
        raise ValueError(
            "Received an invalid value for `training`, expected True or False. "
            f"Received: training={training!r}"
        )


def check_valid_steps(valid_steps):
    """`valid_steps` as None, a float fraction or a tuple of ints; a ValueError if it is none."""
    if valid_steps is None:
        return None
    expected = (
        "Received an invalid value for `valid_steps`, expected a list of step counts, one "
        "non-negative int per sample, or a fraction of the steps in [0, 1]. "
        f"Received: valid_steps={valid_steps!r}"
    )
    if isinstance(valid_steps, numbers.Real) and not isinstance(valid_steps, bool):
        fraction = float(valid_steps)
        if isinstance(valid_steps, numbers.Integral) or not 0.0 <= fraction <= 1.0:
            raise ValueError(expected)
        return fraction
    if isinstance(valid_steps, (str, bytes, dict)) or not hasattr(valid_steps, "__len__"):
        raise ValueError(expected)
    steps = list(valid_steps)
    if not steps or len(steps) > 1_000_000:
        raise ValueError(expected)
    for step in steps:
        integral = isinstance(step, numbers.Integral) and not isinstance(step, bool)
        if not integral or step < 0:
            raise ValueError(expected)
    return tuple(int(step) for step in steps)


def batch_for_valid_steps(batch_size, valid):
    """`batch_size`, checked against the samples `valid` lists (a list of step counts)."""
    if isinstance(valid, tuple) and batch_size is not None and batch_size != len(valid):
        raise ValueError(
            f"valid_steps lists {len(valid)} samples but batch_size is {batch_size}. Fix: give "
            "one step count per sample of the batch, or leave batch_size out. "
            f"Received: batch_size={batch_size}, valid_steps={list(valid)!r}"
        )
    return batch_size


def fit_valid_steps(name, shape, batch_size):
    """The batch to count `name` at, its first input being `shape`, under the count's valid steps.

    A list of step counts sets the batch (one per sample) and may not exceed
    the steps of the input's time axis (axis 1): a ValueError says which.
    """
    valid = _COUNT.get().valid_steps
    if not isinstance(valid, tuple):
        return batch_size
    fixed = shape[0] if shape else None
    if fixed is not None and fixed != len(valid):
        raise ValueError(
            f"valid_steps lists {len(valid)} samples, but the batch axis of '{name}' is fixed to "
            f"{fixed}. Fix: give one step count per sample, {fixed} of them. "
            f"Received: valid_steps={list(valid)!r}"
        )
    time = shape[1] if shape and len(shape) > 1 else None
    if time is not None and max(valid) > time:
        raise ValueError(
            f"valid_steps gives a sample {max(valid)} valid steps, but the input of '{name}' has "
            f"{time} steps. Fix: count at most {time} per sample, or pass the input_shape with "
            f"its steps. Received: valid_steps={list(valid)!r}"
        )
    return len(valid)


def weighed(layer, weight="kernel", carried=None):
    """The gradients of one product of `layer`'s `weight` by its input, or None for a forward pass.

    `carried` says whether the product's other operand carries a gradient
    when it is not the layer's input.
    """
    flow = gradients(layer)
    if flow is None:
        return None
    carried = flow.input if carried is None else carried
    return [[name for name, on in ((weight, flow.kernel), ("inputs", carried)) if on]]


def operands(*carried):
    """The gradients of one product of two activations, each carried or not: `[["a", "b"]]`."""
    names = ("left", "right")
    return [[name for name, on in zip(names, carried, strict=True) if on]]
