"""A drop-in `TimeDistributed` that folds time into the batch axis."""

import contextlib
import inspect

import keras
from keras import layers, ops, tree

from keras_tdplus._messages import format_shape, message
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.layers import _fold_rule, _strategy
from keras_tdplus.layers._masked_steps import (
    can_pack,
    check_skip_masked_steps,
    packed_call,
    step_validity,
    zero_masked_steps,
)
from keras_tdplus.layers._time_axis import check_mask, require_time_axis

__all__ = ["TimeDistributed"]


def _fold(x):
    """`(batch, time, ...)` to `(batch * time, ...)`."""
    return ops.reshape(x, (-1, *ops.shape(x)[2:]))


def _unfold(y, like):
    """`(batch * time, ...)` back to `(batch, time, ...)`, the first two axes of `like`.

    The sizes come from `ops.shape(like)`: sizes, scalar tensors in a
    TensorFlow graph, symbolic sizes while an exporter traces, or `None`s for
    a symbolic tensor, which a symbolic reshape accepts. The batch becomes -1
    whenever the time axis is a known number of steps other than 0, so an
    exported graph keeps no batch size of its own (a LiteRT interpreter resized
    to another batch). With the time axis `None` too, a -1 would leave the size
    of neither; with zero steps, or in a TensorFlow graph a number known only
    when it runs (which may be 0), a -1 is any size, so the batch is given.
    (torch's exporters trace a symbolic step count that is never 0.)
    """
    batch, time = ops.shape(like)[:2]
    backend = keras.backend.backend()
    known = isinstance(time, int)
    if backend == "jax" and time is not None and not known:
        return ops.take(y, _row_of_each_step(like), axis=0)
    if time is None or (known and time == 0) or (backend == "tensorflow" and not known):
        return ops.reshape(y, (batch, time, *ops.shape(y)[1:]))
    return ops.reshape(y, (-1, time, *ops.shape(y)[1:]))


def _row_of_each_step(like):
    """`(batch, time)` int32: `b * time + t`, the folded row of each step of `like`.

    For JAX tracing with a symbolic time axis (an export with `None` steps):
    jax2onnx writes a reshape only to sizes it finds among the axes of the
    reshaped tensor, and `batch * time` keeps neither, so `_unfold` gathers
    the rows into place instead. The grid is built from `like` itself, not
    from `arange`s, so the output keeps the input's symbolic axes.
    """
    ones = ops.ones_like(_first_position(like), dtype="int32")
    time = ops.sum(ones, axis=1, keepdims=True)
    return (ops.cumsum(ones, axis=0) - 1) * time + ops.cumsum(ones, axis=1) - 1


def _first_position(x):
    """`x[:, :, 0, ..., 0]`: one value per step of `(batch, time, ...)`, keeping both axes."""
    return x[(slice(None), slice(None), *([0] * (len(x.shape) - 2)))]


def _per_sample_mask(mask, x):
    """The mask the inner layer gets for its input `x`, from a per-sample `mask`.

    `mask` has one entry per folded sample (or per step of the step-by-step
    path), or more axes, which already mask the inner layer's own axes. A
    plain per-sample mask is spread over every axis of `x` but the last: a
    masked step masks every position of its inner sequence, so an inner LSTM,
    attention or pooling layer sees all of it masked rather than a mask of the
    wrong shape.
    """
    if len(mask.shape) != 1 or len(x.shape) <= 2:
        return mask
    inner_axes = len(x.shape) - 2
    spread = ops.reshape(mask, (-1, *([1] * inner_axes)))
    return ops.broadcast_to(spread, ops.shape(x)[:-1])


@contextlib.contextmanager
def _scaled_activity_losses(rescaled, steps):
    """Nested activity regularizers scaled by `steps` while a folded call runs.

    A nested layer divides its activity loss by its own batch, `batch *
    time` when folded: scaled by `time`, the loss is what the loop over steps
    sums (`_fold_rule.ScaledRegularizer`). Entered only when there is one
    to scale, so the common fold pays nothing for it.
    """
    originals = [(layer, layer.activity_regularizer) for layer in rescaled]
    try:
        for layer, regularizer in originals:
            layer.activity_regularizer = _fold_rule.ScaledRegularizer(regularizer, steps)
        yield
    finally:
        for layer, regularizer in originals:
            layer.activity_regularizer = regularizer


def _sum_over_steps(fn, y):
    """`sum over t of fn(y[:, t])`, in a graph loop when the time axis is unknown."""
    steps = y.shape[1]
    if isinstance(steps, int):
        return sum(fn(y[:, t]) for t in range(steps))
    first = fn(ops.take(y, 0, axis=1))
    return ops.fori_loop(
        1, ops.shape(y)[1], lambda t, total: total + fn(ops.take(y, t, axis=1)), first
    )


def _pair_masks(inputs, mask):
    """`(input, mask)` pairs: masks given per input, or one mask for the first input."""
    flat_inputs = tree.flatten(inputs)
    if tree.is_nested(mask):
        flat_masks = tree.flatten(mask)
        if len(flat_masks) == len(flat_inputs):
            return list(zip(flat_inputs, flat_masks, strict=True))
        return [(flat_inputs[0], m) for m in flat_masks]
    return [(flat_inputs[0], mask)]


@keras.saving.register_keras_serializable(package="keras_tdplus")
class TimeDistributed(layers.Wrapper):
    """Applies a layer to every time step, as one call on a folded batch.

    A drop-in replacement for `keras.layers.TimeDistributed` with the same
    config format. Keras 3's wrapper calls the inner layer once per step in a
    Python loop (static time axis) or through `vectorized_map` (dynamic time
    axis); this one reshapes `(batch, time, ...)` to `(batch * time, ...)`,
    calls the inner layer once and reshapes back. The compiled program no
    longer grows with the number of steps.

    One rule, decided when the layer is built, says what may be folded, for
    the inner layer and every layer nested in it (see the Migrating page):
    layers whose math is per sample fold (Conv2D over video frames, pooling,
    recurrent layers, nested models of such layers); layers that act on each
    position of the last axis alone (`Dense` or `Activation` with a
    per-position activation, `Dropout`, `LayerNormalization(axis=-1)`) are
    called on the 3D input directly, with no reshape at all; everything else
    runs once per step in time order, as Keras does: a `stateful` layer
    anywhere inside, a custom layer that adds a loss or assigns its own
    non-trainable variables in its code, a `Dropout` whose `noise_shape`
    fixes the batch axis, random image augmentation. A nested activity
    regularizer that is a sum over positions is folded and scaled so the loss
    is what the loop sums. `BatchNormalization` in training computes its
    statistics over all `batch * time` frames at once, rather than per step.

    Masks: a `(batch, time)` mask is folded and passed to the inner layer when
    its `call` takes a `mask`, spread over every axis of the inner input but
    the last, so a masked step masks all of an inner LSTM's or attention
    layer's positions; the output mask is the incoming time mask, combined
    with any mask the inner layer computes. It keeps only the axes the output
    has: over word ids, a sentence encoder's `(batch, sentences, units)`
    gets a `(batch, sentences)` mask, a sentence valid while any of its words
    is, and a `Dense` keeps the `(batch, sentences, words)` one.

    Where Keras' wrapper is wrong, this one follows a loop over the steps
    instead (see the Migrating page): the inner layer's activity regularizer
    is kept, several inputs (a list, tuple or dict of `(batch, time, ...)`
    tensors) and several outputs work, and a quantized inner layer runs its
    quantized path.

    Args:
        layer: A `keras.layers.Layer` instance, applied to every time step.
        fold: `"auto"` (default) follows the rule; `"always"` folds even a
            layer the rule runs per step (a custom layer you know is per
            sample; a `stateful` one still runs per step); `"never"` runs every
            step on its own, as Keras' wrapper does.
        skip_masked_steps: When True and a step mask comes in, the inner
            layer runs once on the valid steps only (gathered into one
            smaller batch) and the masked steps output zeros; the output
            mask is unchanged. Default False, so the drop-in stays exact.
            A step is masked when all positions of a longer mask are, and
            with several masks when every mask masks it. Layers the rule runs
            per step are never packed. See the Padded batches page for the
            bucket sizes on JAX and `torch.compile`; on TensorFlow a wrapper
            with it sets `supports_jit = False`, so Keras runs the model's
            graph without XLA.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: A tensor of shape `(batch, time, ...)`, rank >= 3, or a nested
            structure of them sharing batch and time.
        training: Python boolean, passed to the inner layer if it takes one.
        mask: Optional boolean tensor of shape `(batch, time)` or longer, or
            one per input.

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

    def __init__(self, layer, fold="auto", skip_masked_steps=False, **kwargs):
        if not isinstance(layer, layers.Layer):
            # A ValueError ending with the sentence Keras' own wrapper raises,
            # so a `match=` written against Keras still matches.
            raise ValueError(
                "Received an invalid value for `layer`, expected a "
                f"`keras.layers.Layer` instance. Received: layer={layer!r} "
                f"of type {type(layer).__name__}. Please initialize `TimeDistributed` "
                f"layer with a `keras.layers.Layer` instance. Received: {layer}"
            )
        _fold_rule.check_fold_option(fold)
        check_skip_masked_steps(skip_masked_steps)
        mode, reason = _fold_rule.rule_for(type(layer))(layer)
        if mode == _fold_rule.REFUSED:
            raise ValueError(
                f"Received an invalid value for `layer`: {type(layer).__name__} '{layer.name}' "
                f"cannot be applied per step, {reason}. Received: layer={layer!r}\n"
                "  Fix: wrap the layer that follows it"
            )
        super().__init__(layer, **kwargs)
        self.fold = fold
        self.skip_masked_steps = skip_masked_steps
        if skip_masked_steps and keras.backend.backend() == "tensorflow":
            # The packed batch's size is known only when the graph runs, which
            # XLA cannot compile: Keras then runs the model's graph without it.
            self.supports_jit = False
        self.supports_masking = True
        params = inspect.signature(layer.call).parameters
        self._inner_takes_training = "training" in params
        self._inner_takes_mask = "mask" in params
        # Known before the inner layer is built: its state has the batch's
        # size, so it is built for one step's batch, not the folded one.
        self._stateful = _fold_rule.has_nested_state(layer)
        self._decision = None

    @property
    def decision(self):
        """How the inner layer runs: a `Decision` with `mode` and `reason`.

        Decided once, when the layer is built (the inner layer's variables
        are part of the rule), never per call.
        """
        if self._decision is None:
            self._decision = _fold_rule.classify(self.layer, self.fold)
        return self._decision

    def __call__(self, inputs, *args, **kwargs):
        # Checked here, not only in `call`, so the user sees our message rather
        # than Keras' "Exception encountered when calling" wrapper around it.
        flat = tree.flatten(inputs)
        for x in flat:
            require_time_axis(self, x)
        self._check_same_batch_and_time(flat)
        if kwargs.get("mask") is not None:
            self._check_masks(inputs, kwargs["mask"])
        return super().__call__(inputs, *args, **kwargs)

    def _check_same_batch_and_time(self, flat):
        first = tuple(flat[0].shape)
        for x in flat[1:]:
            shape = tuple(x.shape)
            # Only known sizes are compared: `None`, and the symbolic sizes an
            # exporter gives each input of its own (jax2tf, jax2onnx), are not known.
            if any(
                isinstance(a, int) and isinstance(b, int) and a != b
                for a, b in zip(first[:2], shape[:2], strict=True)
            ):
                raise SequenceShapeError(
                    message(
                        f"Layer '{self.name}' (TimeDistributed) got inputs whose batch or "
                        "time axes differ, so they cannot be folded together.",
                        "shapes " + ", ".join(format_shape(tuple(y.shape)) for y in flat),
                        f"every input of shape ({first[0]}, {first[1]}, ...)",
                        ["pad or crop the inputs to the same number of steps"],
                    )
                )

    def _check_masks(self, inputs, mask):
        for x, m in _pair_masks(inputs, mask):
            if m is not None:
                check_mask(self, x, m)

    def _child_input_shape(self, input_shape):
        stateful = self._stateful

        def fold(shape):
            shape = tuple(shape)
            if len(shape) < 3:
                require_time_axis(self, keras.KerasTensor(shape))
            batch, steps = shape[:2]
            if stateful:
                return (batch, *shape[2:])
            folded = None if batch is None or steps is None else batch * steps
            return (folded, *shape[2:])

        return tree.map_shape_structure(fold, input_shape)

    def build(self, input_shape):
        super().build(self._child_input_shape(input_shape))
        self._decision = _fold_rule.classify(self.layer, self.fold)

    def get_config(self):
        config = super().get_config()
        # Left out at its default, so the config stays the one Keras' own
        # wrapper writes and reads.
        if self.fold != "auto":
            config["fold"] = self.fold
        if self.skip_masked_steps:
            config["skip_masked_steps"] = True
        return config

    def compute_output_shape(self, input_shape):
        child_input_shape = self._child_input_shape(input_shape)
        try:
            child_output_shape = self.layer.compute_output_shape(child_input_shape)
        except NotImplementedError:
            # A custom layer without `compute_output_shape`: trace its `call`,
            # as Keras does for such a layer called on its own.
            spec = self.layer.compute_output_spec(
                tree.map_shape_structure(keras.KerasTensor, child_input_shape)
            )
            child_output_shape = tree.map_structure(lambda t: tuple(t.shape), spec)
        batch_and_time = _first_shape(input_shape)[:2]
        return tree.map_shape_structure(
            lambda shape: (*batch_and_time, *tuple(shape)[1:]), child_output_shape
        )

    def compute_output_spec(self, inputs, training=None, mask=None):
        """The shapes of `compute_output_shape`, in the dtypes the call returns.

        Keras' default (and its own wrapper) gives every output this layer's
        compute dtype, so a wrapped `Discretization` or `IntegerLookup`, whose
        call returns integers, gets a float symbolic dtype. The inner layer
        runs in this layer's dtype scope: its float outputs are in this
        layer's compute dtype, its other outputs keep their own dtype.
        """
        input_shapes = tree.map_structure(lambda x: tuple(x.shape), inputs)
        shapes = self.compute_output_shape(input_shapes)
        flat_shapes = []
        tree.map_shape_structure(flat_shapes.append, shapes)
        child_shapes = []
        tree.map_shape_structure(child_shapes.append, self._child_input_shape(input_shapes))
        child_inputs = tree.pack_sequence_as(
            inputs,
            [
                keras.KerasTensor(shape, dtype=x.dtype)
                for x, shape in zip(tree.flatten(inputs), child_shapes, strict=True)
            ],
        )
        inner = tree.flatten(self.layer.compute_output_spec(child_inputs))
        dtypes = [
            self.compute_dtype if "float" in t.dtype else t.dtype
            for t in inner
            if isinstance(t, keras.KerasTensor)
        ]
        if len(dtypes) != len(flat_shapes):
            dtypes = [self.compute_dtype] * len(flat_shapes)
        specs = iter(
            keras.KerasTensor(s, dtype=d) for s, d in zip(flat_shapes, dtypes, strict=True)
        )
        return tree.map_shape_structure(lambda _: next(specs), shapes)

    def _inner_kwargs(self, training, mask):
        kwargs = {}
        if self._inner_takes_training:
            kwargs["training"] = training
        if mask is not None and self._inner_takes_mask:
            kwargs["mask"] = mask
        return kwargs

    def _fold_masks(self, inputs, folded_inputs, mask):
        """The folded mask(s) for the inner layer, in the structure of `mask`."""
        if mask is None:
            return None
        if not tree.is_nested(mask):
            return _per_sample_mask(_fold(mask), tree.flatten(folded_inputs)[0])
        flat_folded = tree.flatten(folded_inputs)
        flat_masks = tree.flatten(mask)
        if len(flat_masks) != len(flat_folded):
            flat_folded = [flat_folded[0]] * len(flat_masks)
        folded = [
            None if m is None else _per_sample_mask(_fold(m), x)
            for m, x in zip(flat_masks, flat_folded, strict=True)
        ]
        return tree.pack_sequence_as(mask, folded)

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            self._check_masks(inputs, mask)
        decision = self.decision
        first = tree.flatten(inputs)[0]
        batch_and_time = ops.shape(first)[:2]
        if isinstance(batch_and_time[1], int) and batch_and_time[1] == 0:
            return self._no_steps(inputs)
        if decision.mode == _fold_rule.PER_STEP:
            outputs = self._call_step_by_step(inputs, training, mask)
            self._add_activity_loss(outputs, batch_and_time[0], per_step=True)
            return outputs
        valid = self._valid_steps(inputs, mask, decision)
        zero_after = None
        if valid is not None and not can_pack(valid):
            # An export with symbolic sizes: every step computed, masked ones zeroed.
            valid, zero_after = None, valid
        if valid is not None:
            valid = ops.reshape(valid, (-1,))
        if valid is None and decision.mode == _fold_rule.IN_PLACE and not tree.is_nested(inputs):
            outputs = self._call_inner(inputs, self._inner_kwargs(training, None))
        elif valid is not None:
            folded = tree.map_structure(_fold, inputs)
            inner_mask = self._fold_masks(inputs, folded, mask) if self._inner_takes_mask else None

            def run(rows, rows_mask):
                return self._call_inner(rows, self._inner_kwargs(training, rows_mask))

            outputs = packed_call(run, folded, inner_mask, valid, self.layer.variables, training)
            outputs = tree.map_structure(lambda y: _unfold(y, first), outputs)
        elif decision.rescaled:
            with _scaled_activity_losses(decision.rescaled, batch_and_time[1]):
                outputs = self._call_folded(inputs, training, mask)
        else:
            outputs = self._call_in_groups(inputs, training, mask, decision)
        if zero_after is not None:
            outputs = zero_masked_steps(outputs, zero_after)
        self._add_activity_loss(outputs, batch_and_time[0])
        return outputs

    def _call_folded(self, inputs, training, mask):
        """One call of the inner layer on every frame: `(batch * time, ...)` and back."""
        first = tree.flatten(inputs)[0]
        folded = tree.map_structure(_fold, inputs)
        inner_mask = self._fold_masks(inputs, folded, mask) if self._inner_takes_mask else None
        outputs = self._call_inner(folded, self._inner_kwargs(training, inner_mask))
        return tree.map_structure(lambda y: _unfold(y, first), outputs)

    def _call_in_groups(self, inputs, training, mask, decision):
        """The fold on groups of whole steps, as `decision` sizes them, joined in time.

        The strategy `_strategy` takes where one call on every frame is slower
        than Keras' loop (convolutions on a CPU under JAX and torch: at most
        `decision.group_frames` frames a group; pooling on a CPU under JAX:
        below `decision.group_elements` input elements). One group, batch and
        time not both known numbers, or training where `decision.group_in_training`
        is False, is one folded call. (Measured on JAX:
        slicing each group from the `(batch, time, ...)` input trains as fast
        as Keras' loop; time-major groups joined by one concatenation trained
        1.3x slower.)
        """
        first = tree.flatten(inputs)[0]
        batch, steps = first.shape[:2]
        grouped = decision.group_frames is not None or decision.group_elements is not None
        if training and not decision.group_in_training:
            grouped = False
        if not grouped or not isinstance(batch, int) or not isinstance(steps, int):
            return self._call_folded(inputs, training, mask)
        if decision.group_frames is not None:
            per_group = _strategy.steps_per_group(batch, steps, decision.group_frames)
        else:
            frame_shape = tuple(first.shape[2:])
            per_group = _strategy.steps_below(batch, steps, decision.group_elements, frame_shape)
        if per_group >= steps:
            return self._call_folded(inputs, training, mask)

        def steps_of(structure, start):
            return tree.map_structure(
                lambda x: None if x is None else x[:, start : start + per_group], structure
            )

        groups = [
            self._call_folded(
                steps_of(inputs, start), training, None if mask is None else steps_of(mask, start)
            )
            for start in range(0, steps, per_group)
        ]
        return tree.map_structure(lambda *ys: ops.concatenate(ys, axis=1), *groups)

    def _no_steps(self, inputs):
        """Zero steps in, zero steps out: `(batch, 0, ...)` zeros, the inner layer not called.

        A loop over no steps calls nothing, and some layers cannot run on an
        empty batch (TensorFlow's convolutions, its recurrent cells); the
        shapes and dtypes are those of `compute_output_spec`.
        """
        specs = self.compute_output_spec(
            tree.map_structure(lambda x: keras.KerasTensor(tuple(x.shape), dtype=x.dtype), inputs)
        )
        batch = ops.shape(tree.flatten(inputs)[0])[0]
        return tree.map_structure(
            lambda spec: ops.zeros((batch, 0, *spec.shape[2:]), dtype=spec.dtype), specs
        )

    def _valid_steps(self, inputs, mask, decision):
        """`(batch, time)` booleans of the steps to compute, or None to compute all.

        Only with `skip_masked_steps` and a mask, and never for a layer the
        rule runs per step or one whose nested activity loss is scaled to
        the number of steps (packing would change what it sums).
        """
        if not self.skip_masked_steps or mask is None or decision.rescaled:
            return None
        return step_validity(_pair_masks(inputs, mask))

    def _call_inner(self, inputs, kwargs):
        """The inner layer's own computation, in this layer's dtype scope.

        Its `call` (or `quantized_call` once quantized: calling `call` on a
        quantized Dense would multiply by the int8 kernel as if it were
        float) rather than `__call__`, as Keras' wrapper does: the inputs stay
        in this layer's compute dtype, and the activity regularizer is added
        once for the whole sequence by `_add_activity_loss`.
        """
        layer = self.layer
        if layer.quantization_mode is not None:
            return layer.quantized_call(inputs, **kwargs)
        return layer.call(inputs, **kwargs)

    def _add_activity_loss(self, outputs, batch, per_step=False):
        """The inner layer's activity regularizer, as a loop over the steps adds it.

        Keras divides the regularizer of a layer's output by the output's
        batch size; called once per step that is `regularizer(y[:, t]) / batch`
        per step. For a regularizer that sums over positions the sum over
        steps is `regularizer(y) / batch`, not over the folded `batch * time`;
        any other is summed step by step on the per-step path.
        """
        regularizer = self.layer.activity_regularizer
        if regularizer is None:
            return
        for output in tree.flatten(outputs):
            if per_step:
                loss = _sum_over_steps(regularizer, output)
            else:
                loss = regularizer(output)
            self.add_loss(ops.divide_no_nan(loss, ops.cast(batch, loss.dtype)))

    def _call_step_by_step(self, inputs, training, mask):
        first = tree.flatten(inputs)[0]
        steps = first.shape[1]
        if steps is None:
            steps = ops.shape(first)[1]

        def step(t):
            x_t = tree.map_structure(lambda x: ops.take(x, t, axis=1), inputs)
            step_mask = None
            if mask is not None and self._inner_takes_mask:
                step_mask = tree.map_structure(
                    lambda m: _per_sample_mask(ops.take(m, t, axis=1), tree.flatten(x_t)[0]),
                    mask,
                )
            return self._call_inner(x_t, self._inner_kwargs(training, step_mask))

        if isinstance(steps, int):
            outputs = [step(t) for t in range(steps)]
            return tree.map_structure(lambda *ys: ops.stack(ys, axis=1), *outputs)

        # Only a TensorFlow graph has a time axis unknown while tracing: loop
        # in the graph, in time order, filling preallocated outputs.
        first_out = step(0)

        def place(out, y, t):
            start = (0, t, *([0] * (len(y.shape) - 1)))
            return ops.slice_update(out, start, ops.expand_dims(y, 1))

        outs = tree.map_structure(
            lambda y: place(ops.zeros((ops.shape(y)[0], steps, *ops.shape(y)[1:]), y.dtype), y, 0),
            first_out,
        )

        def body(t, outs):
            return tree.map_structure(lambda out, y: place(out, y, t), outs, step(t))

        return ops.fori_loop(1, steps, body, outs)

    def compute_mask(self, inputs, mask=None):
        if type(self.layer).compute_mask is layers.Layer.compute_mask:
            # The inner layer passes its input mask on (a nested model, a
            # convolution): a longer mask keeps only the axes its output has.
            return self._fit_masks(inputs, mask)
        if not any(isinstance(x, keras.KerasTensor) for x in tree.flatten(inputs)):
            return self._compute_mask(inputs, mask)
        # A functional model replays the ops recorded here on real tensors, so
        # the sizes of the reshapes must be read then, not fixed now as `None`s.
        replayed = _MaskOf(self)
        if all(m is None for m in tree.flatten(replayed.compute_output_spec(inputs, mask))):
            return None
        return replayed(inputs, mask)

    def _compute_mask(self, inputs, mask):
        first_mask = tree.flatten(mask)[0] if tree.is_nested(mask) else mask
        first = tree.flatten(inputs)[0]
        folded = tree.map_structure(_fold, inputs)
        inner_mask = self.layer.compute_mask(folded, self._fold_masks(inputs, folded, mask))
        time_mask = None if first_mask is None else _keep_axes(first_mask, 2)
        if inner_mask is None:
            return time_mask
        if all(m is None for m in tree.flatten(inner_mask)):
            # Several outputs, none with a mask of its own (an RNN's states,
            # a Bidirectional without merging): each is one value per step.
            return (
                None if time_mask is None else tree.map_structure(lambda m: time_mask, inner_mask)
            )
        if time_mask is None and any(m is None for m in tree.flatten(inner_mask)):
            # Some outputs have a mask, others none: an op returns tensors
            # only, and a mask of all steps valid changes nothing downstream.
            time_mask = ops.ones_like(_first_position(first), dtype="bool")
        masks = tree.map_structure(
            lambda m: time_mask if m is None else _combine(first_mask, _unfold(m, first)),
            inner_mask,
        )
        return self._fit_masks(inputs, masks)

    def _fit_masks(self, inputs, masks):
        """`masks`, each with at most the axes its output keeps: `rank - 1`, at least 2.

        Keras gives the first mask to the first output, the second to the
        second, and so on. A mask with more axes than its output keeps
        (`(batch, sentences, words)` on the `(batch, sentences, 64)` of an
        inner sentence encoder) loses its extra trailing axes by `any`: a
        sentence is valid while any of its words is. The ranks decide, never
        the sizes, so a symbolic, a traced and an eager call keep the same
        axes; a `(batch, time)` mask is never changed.
        """
        flat = tree.flatten(masks)
        if all(m is None or len(m.shape) <= 2 for m in flat):
            return masks
        shapes = tree.map_structure(
            lambda x: tuple(d if isinstance(d, int) else None for d in x.shape), inputs
        )
        ranks = []
        tree.map_shape_structure(lambda s: ranks.append(len(s)), self.compute_output_shape(shapes))
        fitted = [
            m if m is None or i >= len(ranks) else _keep_axes(m, max(2, ranks[i] - 1))
            for i, m in enumerate(flat)
        ]
        return tree.pack_sequence_as(masks, fitted)


@keras.saving.register_keras_serializable(package="keras_tdplus")
class _MaskOf(keras.Operation):
    """A wrapper's output mask as one graph op, its shapes read from the tensors it gets.

    A functional model records it, saves it with the model and replays it on
    real tensors. Its config holds the wrapper's, so a saved, cloned or
    converted model rebuilds it; the copy computes masks only, which need no
    weights.
    """

    def __init__(self, wrapper, **kwargs):
        super().__init__(**kwargs)
        self.wrapper = wrapper

    def call(self, inputs, mask):
        return self.wrapper._compute_mask(inputs, mask)

    def compute_output_spec(self, inputs, mask):
        # Fresh tensors, so the ops run here leave no trace in the graph.
        fresh = tree.map_structure(
            lambda x: (
                keras.KerasTensor(x.shape, dtype=x.dtype) if isinstance(x, keras.KerasTensor) else x
            ),
            (inputs, mask),
        )
        outputs = self.wrapper._compute_mask(*fresh)
        return tree.map_structure(
            lambda y: None if y is None else keras.KerasTensor(y.shape, dtype=y.dtype), outputs
        )

    def get_config(self):
        return {"name": self.name, "wrapper": keras.saving.serialize_keras_object(self.wrapper)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["wrapper"] = keras.saving.deserialize_keras_object(config["wrapper"])
        return cls(**config)


def _first_shape(input_shape):
    shapes = []
    tree.map_shape_structure(shapes.append, input_shape)
    return tuple(shapes[0])


def _keep_axes(mask, count):
    """`mask` with its axes after the first `count` reduced by `any`."""
    if len(mask.shape) <= count:
        return mask
    return ops.any(mask, axis=tuple(range(count, len(mask.shape))))


def _combine(outer, inner):
    """`outer AND inner`, with `outer` spread over the trailing axes of `inner`.

    An `outer` with more axes than `inner` (words, for an inner layer whose
    mask is one value per sentence) is first reduced to `inner`'s axes by `any`.
    """
    if outer is None:
        return inner
    outer = _keep_axes(ops.cast(outer, "bool"), len(inner.shape))
    while len(outer.shape) < len(inner.shape):
        outer = ops.expand_dims(outer, -1)
    return ops.logical_and(outer, ops.cast(inner, "bool"))


# A container: the fold rule judges the wrapper by the layers nested in it.
_fold_rule.register_package_class(TimeDistributed, _fold_rule.CONTAINER)
