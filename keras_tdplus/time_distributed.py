"""A drop-in `TimeDistributed` that folds time into the batch axis."""

import inspect

import keras
from keras import layers, ops

from keras_tdplus._time_axis import format_shape, require_time_axis
from keras_tdplus.errors import SequenceShapeError


def _keeps_state_across_calls(layer):
    """True for layers whose output for one sample depends on earlier calls."""
    return bool(getattr(layer, "stateful", False))


def _acts_on_last_axis(layer):
    """True for layers that already treat every leading axis alike.

    Calling these on `(batch, time, ..., features)` directly is the same math
    as calling them per step, and skips the two reshapes of the folded path:
    on PyTorch's eager mode each Keras op costs tens of microseconds.
    """
    kind = type(layer)
    if kind is layers.Dense:
        return not layer.lora_enabled and not layer.quantization_mode
    if kind is layers.Activation:
        return True
    if kind is layers.Dropout:
        return layer.noise_shape is None
    if kind is layers.LayerNormalization:
        axis = layer.axis
        return list(axis) == [-1] if isinstance(axis, (list, tuple)) else axis == -1
    return False


def _batch_and_time(shape):
    """The leading two dims of `shape` for unfolding, with -1 for an unknown one.

    While Keras traces symbolically, `ops.shape` can hold `None`s; the folded
    tensor's size then fixes the one left as -1.
    """
    batch, steps = shape[0], shape[1]
    if batch is None:
        return -1, steps
    if steps is None:
        return batch, -1
    return batch, steps


@keras.saving.register_keras_serializable(package="keras_tdplus")
class TimeDistributed(layers.Wrapper):
    """Applies a layer to every time step, as one call on a folded batch.

    A drop-in replacement for `keras.layers.TimeDistributed` with the same
    config format. Keras 3's wrapper calls the inner layer once per step in a
    Python loop (static time axis) or through `vectorized_map` (dynamic time
    axis); this one reshapes `(batch, time, ...)` to `(batch * time, ...)`,
    calls the inner layer once and reshapes back. The math is the same for any
    layer whose output for a sample depends only on that sample (Dense, Conv2D
    over video frames, Dropout, pooling, LayerNormalization, nested models),
    and the compiled program no longer grows with the number of steps.

    Layers that already treat every leading axis alike (`Dense`,
    `Activation`, `Dropout`, `LayerNormalization` over the last axis) are
    called on the 3D input directly, with no reshape at all.

    `BatchNormalization` in training computes its statistics over all
    `batch * time` frames at once, rather than per step. Stateful recurrent
    layers (`stateful=True`), whose state carries from one call to the next,
    are called once per step in time order instead, as Keras does.

    Masks: a `(batch, time)` mask is folded and passed to the inner layer when
    its `call` takes a `mask`; the output mask is the incoming time mask,
    combined with any mask the inner layer computes.

    Args:
        layer: A `keras.layers.Layer` instance, applied to every time step.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: A tensor of shape `(batch, time, ...)`, rank >= 3.
        training: Python boolean, passed to the inner layer if it takes one.
        mask: Optional boolean tensor of shape `(batch, time)`.

    Input shape:
        `(batch, time, *inner_input_shape)`. Batch and time may be dynamic.

    Output shape:
        `(batch, time, *inner_output_shape)`.

    Example:

    >>> frames = keras.ops.ones((2, 4, 8, 8, 3))
    >>> conv = keras.layers.Conv2D(6, 3)
    >>> TimeDistributed(conv)(frames).shape
    (2, 4, 6, 6, 6)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, layers.Layer):
            raise TypeError(
                "Received an invalid value for `layer`, expected a "
                f"`keras.layers.Layer` instance. Received: layer={layer!r} "
                f"of type {type(layer).__name__}"
            )
        super().__init__(layer, **kwargs)
        self.supports_masking = True
        params = inspect.signature(layer.call).parameters
        self._inner_takes_training = "training" in params
        self._inner_takes_mask = "mask" in params

    def __call__(self, inputs, *args, **kwargs):
        # Checked here, not only in `call`, so the user sees our message rather
        # than Keras' "Exception encountered when calling" wrapper around it.
        require_time_axis(self, inputs)
        if kwargs.get("mask") is not None:
            self._check_mask(inputs, kwargs["mask"])
        return super().__call__(inputs, *args, **kwargs)

    def _child_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            require_time_axis(self, keras.KerasTensor(input_shape))
        batch, steps = input_shape[:2]
        if _keeps_state_across_calls(self.layer):
            return (batch, *input_shape[2:])
        folded = None if batch is None or steps is None else batch * steps
        return (folded, *input_shape[2:])

    def build(self, input_shape):
        super().build(self._child_input_shape(input_shape))

    def compute_output_shape(self, input_shape):
        child_output_shape = self.layer.compute_output_shape(self._child_input_shape(input_shape))
        return (input_shape[0], input_shape[1], *tuple(child_output_shape)[1:])

    def _check_mask(self, inputs, mask):
        mask_shape, input_shape = tuple(mask.shape), tuple(inputs.shape)
        compatible = len(mask_shape) >= 2 and all(
            m is None or i is None or m == i
            for m, i in zip(mask_shape[:2], input_shape[:2], strict=True)
        )
        if not compatible:
            raise SequenceShapeError(
                f"Layer '{self.name}' (TimeDistributed) got a `mask` that does not "
                "match its input's batch and time axes.\n"
                f"  Received: mask shape {format_shape(mask_shape)}, "
                f"input shape {format_shape(input_shape)}\n"
                f"  Expected: mask shape ({input_shape[0]}, {input_shape[1]})\n"
                "  Fix: pass the mask made for this input, "
                "e.g. from Masking() on the same tensor"
            )

    def _inner_kwargs(self, training, mask):
        kwargs = {}
        if self._inner_takes_training:
            kwargs["training"] = training
        if mask is not None and self._inner_takes_mask:
            kwargs["mask"] = mask
        return kwargs

    @staticmethod
    def _fold_mask(mask):
        """The mask for the folded batch, or None when it has no inner axes.

        A `(batch, time)` mask says which steps to skip, which the folded call
        cannot use; a `(batch, time, ...)` mask (say, from an inner
        `Embedding(mask_zero=True)`) masks the inner layer's own axes.
        """
        if mask is None or len(mask.shape) <= 2:
            return None
        return ops.reshape(mask, (-1, *ops.shape(mask)[2:]))

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            self._check_mask(inputs, mask)
        if _keeps_state_across_calls(self.layer):
            return self._call_step_by_step(inputs, training, mask)
        # `.call`, not `__call__`: this layer's own `__call__` already cast the
        # inputs and opened the autocast scope, and the inner layer is built.
        if _acts_on_last_axis(self.layer):
            return self.layer.call(inputs, **self._inner_kwargs(training, None))
        shape = ops.shape(inputs)
        folded = ops.reshape(inputs, (-1, *shape[2:]))
        outputs = self.layer.call(folded, **self._inner_kwargs(training, self._fold_mask(mask)))
        return ops.reshape(outputs, (*_batch_and_time(shape), *ops.shape(outputs)[1:]))

    def _call_step_by_step(self, inputs, training, mask):
        steps = inputs.shape[1]
        if steps is None:
            steps = ops.shape(inputs)[1]

        def step(t):
            step_mask = None if mask is None or len(mask.shape) <= 2 else ops.take(mask, t, axis=1)
            x_t = ops.take(inputs, t, axis=1)
            return self.layer(x_t, **self._inner_kwargs(training, step_mask))

        if isinstance(steps, int):
            return ops.stack([step(t) for t in range(steps)], axis=1)

        # Only a TensorFlow graph has a time axis unknown while tracing: loop
        # in the graph, in time order, filling a preallocated output.
        first = step(0)
        out = ops.zeros((ops.shape(first)[0], steps, *ops.shape(first)[1:]), first.dtype)
        out = ops.slice_update(
            out, (0, 0) + (0,) * (len(first.shape) - 1), ops.expand_dims(first, 1)
        )

        def body(t, out):
            y = ops.expand_dims(step(t), 1)
            return ops.slice_update(out, (0, t) + (0,) * (len(first.shape) - 1), y)

        return ops.fori_loop(1, steps, body, out)

    def compute_mask(self, inputs, mask=None):
        if type(self.layer).compute_mask is layers.Layer.compute_mask:
            return mask
        shape = ops.shape(inputs)
        folded = ops.reshape(inputs, (-1, *shape[2:]))
        inner_mask = self.layer.compute_mask(folded, self._fold_mask(mask))
        if inner_mask is None:
            if mask is not None and len(mask.shape) > 2:
                # The inner layer consumed its axes; a step stays valid while
                # any of its inner positions was.
                return ops.any(mask, axis=tuple(range(2, len(mask.shape))))
            return mask
        inner_mask = ops.reshape(inner_mask, (*_batch_and_time(shape), *ops.shape(inner_mask)[1:]))
        if mask is None:
            return inner_mask
        mask = ops.cast(mask, "bool")
        while len(mask.shape) < len(inner_mask.shape):
            mask = ops.expand_dims(mask, -1)
        return ops.logical_and(mask, ops.cast(inner_mask, "bool"))
