"""Parameter counts, FLOPs and memory with their working, computed without building any weights.

Keras counts parameters only after `build` has created the weights, and never
says where the number comes from. `count_params` and `explain_params` derive
the weight shapes of a layer from its configuration and an input shape, the
way the weights would be created, and show the formula: an `LSTM(5)` on one
feature has `4 * ((1 + 1) * 5 + 5^2) = 140` parameters. `param_table` does the
same for every layer of a model, a model config or a `.keras` file, reading
its config and loading no weights.

A layer this module has no formula for raises a `ValueError` that names its
class; `allow_build=True` counts it by building a throwaway copy instead, and
`register_param_formula` teaches the calculator a layer class of your own.

`count_flops` and `explain_flops` count the FLOPs of one forward pass (2 per
multiply-add of the matrix products, convolutions and attention products)
from the same configs, and `param_table(..., flops=True)` adds them per
layer; `register_flops_formula` teaches them a layer class of your own.
`estimate_memory` adds up what training holds: weights, gradients, optimizer
slots and activations.
"""

import contextlib
import dataclasses

import keras
from keras import layers

from keras_tdplus._config.rebuild import rebuild_layer
from keras_tdplus._config.source import is_model_source, read_model_config
from keras_tdplus._messages import worded
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._count import (
    covered_layers,
    explain,
    explain_flops_of,
    has_param_formula,
    layer_view,
    model_table,
    table_explanation,
    table_flops,
)
from keras_tdplus.params._families.base import RankError
from keras_tdplus.params._gradients import (
    batch_for_valid_steps,
    check_training,
    check_valid_steps,
    counting,
    fit_valid_steps,
)
from keras_tdplus.params._memory import MemoryEstimate, memory_of
from keras_tdplus.params._results import (
    FlopExplanation,
    ParamExplanation,
    ParamRow,
    ParamTable,
    WeightSpec,
)
from keras_tdplus.params._shapes import (
    check_batch_size,
    declared_inputs,
    merged_inputs,
    normalize_shape,
    one_batch,
    require_known,
    with_batch,
)
from keras_tdplus.params._user import register_user_flops, register_user_formula

__all__ = [
    "FlopExplanation",
    "MemoryEstimate",
    "ParamExplanation",
    "ParamRow",
    "ParamTable",
    "WeightSpec",
    "count_flops",
    "count_params",
    "covered_layers",
    "estimate_memory",
    "explain_flops",
    "explain_params",
    "param_table",
    "register_flops_formula",
    "register_param_formula",
]


def count_params(layer, input_shape, allow_build=False):
    """Counts a layer's parameters without building it.

    The count is derived from the layer's configuration and `input_shape`,
    exactly as `layer.count_params()` would report it once built. The layer
    stays unbuilt: no weights are created.

    Takes the arguments of `explain_params`, and raises what it raises.

    Returns:
        The number of parameters, an `int`.

    Example:

    >>> count_params(keras.layers.LSTM(5), (None, 1, 1))
    140
    """
    return explain_params(layer, input_shape, allow_build=allow_build).total


def explain_params(layer, input_shape, allow_build=False):
    """Counts a layer's parameters without building it and shows the working.

    Args:
        layer: A `keras.layers.Layer` (built or not), a Sequential or
            Functional model, or a serialized layer config
            (`{"class_name": ..., "config": ...}`).
        input_shape: The input shape including the batch axis, e.g.
            `(None, 5, 1)`; a list of shapes for a merging layer.
        allow_build: For a layer without a formula here, count it by building
            a throwaway copy instead of raising.

    Returns:
        A `ParamExplanation` with `total`, `trainable`, `non_trainable`,
        `formula` and `substituted`.

    Raises:
        ValueError: For a layer class with no formula here (unless
            `allow_build=True`) or an input shape the layer cannot take.
        SequenceShapeError: For an input shape of the wrong rank.

    Example:

    >>> explanation = explain_params(keras.layers.LSTM(5), (None, 1, 1))
    >>> print(explanation)
    LSTM(units=5) on inputs=1: n = 4 * ((1 + 1) * 5 + 5^2) = 140
    >>> explanation.formula
    '4 * ((inputs + 1) * units + units^2)'
    """
    shape = normalize_shape(input_shape, "input_shape")
    with _public_errors():
        if isinstance(layer, dict):
            if is_model_source(layer):
                table = model_table(read_model_config(layer), shape, allow_build)
                return table_explanation(table)
            layer = rebuild_layer(layer)
        elif not isinstance(layer, layers.Layer):
            raise TypeError(
                "Received an invalid value for `layer`, expected a `keras.layers.Layer` or a "
                "serialized layer config. "
                f"Received: layer={layer!r} of type {type(layer).__name__}"
            )
        return layer_view(layer, explain(layer, shape, allow_build))


def param_table(
    source,
    input_shape=None,
    allow_build=False,
    flops=False,
    batch_size=None,
    *,
    training=False,
    valid_steps=None,
):
    """The per-layer parameter counts of a model, with their formulas.

    Works from the model's config: no layer is built and no weights are
    loaded, so a `.keras` file is read for its `config.json` alone. With
    `flops=True` each row also holds its FLOPs (`row.flops`, a
    `FlopExplanation`) at `batch_size`, and the printed table gets a FLOPs
    column and total.

    Args:
        source: A Sequential or Functional model (built or not), its config
            (`keras.saving.serialize_keras_object(model)` or
            `model.get_config()`), or the path to a `.keras` file.
        input_shape: The input shape including the batch axis, for a
            Sequential model that has no `Input` and was never built.
        allow_build: For layers without a formula here, count them by
            building throwaway copies instead of raising.
        flops: Also count each layer's FLOPs (see `count_flops`); then
            `input_shape` only fills the sizes the model leaves unknown.
        batch_size: The batch the FLOPs are counted for; by default the
            model's own batch if its inputs fix one, else 1.
        training: With `flops`, count one training step (see `count_flops`).
        valid_steps: With `flops`, the steps of a padded batch that are
            valid (see `count_flops`): each row holds its effective FLOPs,
            and `row.flops.padded` what it costs with every step valid.

    Returns:
        A `ParamTable`; `print()` it for a `model.summary()`-like table.

    Example:

    >>> model = keras.Sequential(
    ...     [keras.Input((1, 1)), keras.layers.LSTM(5), keras.layers.Dense(1)]
    ... )
    >>> table = param_table(model)
    >>> [(row.substituted, row.total) for row in table.rows]
    [('4 * ((1 + 1) * 5 + 5^2)', 140), ('5 * 1 + 1', 6)]
    >>> table.total
    146
    """
    if flops:
        return _flops_table(source, input_shape, batch_size, allow_build, training, valid_steps)
    config = read_model_config(source)
    shape = None if input_shape is None else normalize_shape(input_shape, "input_shape")
    with _public_errors():
        return model_table(config, shape, allow_build)


def count_flops(
    source,
    input_shape=None,
    batch_size=None,
    allow_build=False,
    *,
    training=False,
    valid_steps=None,
):
    """The FLOPs of one forward pass (or training step) of a layer or a model, from its config.

    FLOPs are 2 per multiply-add of the matrix products, convolutions (any
    groups, depthwise, separable, transposed, dilated, strided) and attention
    products, the convention of `torch.utils.flop_counter.FlopCounterMode`.
    Element-wise work (activations, biases, normalization, pooling) counts 0.
    A recurrent layer counts each of its `time` steps, a `TimeDistributed`
    layer its inner layer once per step. Nothing is built.

    `training=True` counts one training step: the forward pass in training
    and the backward pass autograd runs for it. Each product adds one product
    of its size for each operand a gradient has to reach: a trainable weight,
    or an activation computed from one. The model's own inputs get no
    gradient, nor does anything computed from them by frozen or weightless
    layers alone, and a recurrent layer's zero initial state gets none. The
    optimizer's update counts 0 (element-wise).

    `valid_steps` counts a padded batch: the layers that run on the valid
    steps alone (`TimeDistributed(..., skip_masked_steps=True)`) count those
    rows, every other layer the padded shape, as a framework runs them.

    Args:
        source: A `keras.layers.Layer`, a Sequential or Functional model, a
            model config, or the path to a `.keras` file.
        input_shape: The input shape including the batch axis (a list for
            several inputs). Required for a layer; for a model it fills the
            sizes the model leaves unknown, e.g. a `None` time axis.
        batch_size: The batch to count for; by default the batch of
            `input_shape` or of the model's inputs if either fixes one, else 1
            (the length of `valid_steps` when it is a list). A batch axis
            fixed to another size is an error.
        allow_build: Count the parameters of layers without a parameter
            formula by building throwaway copies (their FLOPs stay missing).
        training: Count one training step (forward and backward) instead of
            one forward pass.
        valid_steps: The valid steps of each sample (a list of ints, one per
            sample of the batch), or the fraction of the batch's steps that
            are valid (a float in [0, 1]); None: every step is valid.

    Returns:
        The FLOPs, an `int` (the effective FLOPs with `valid_steps`).

    Raises:
        ValueError: When a layer has no FLOPs formula (the message names it;
            `explain_flops` gives the partial count), or when a size the
            FLOPs depend on is unknown (the message names the axis).

    Example:

    >>> count_flops(keras.layers.LSTM(5), (None, 10, 1))
    2400
    >>> count_flops(keras.layers.LSTM(5), (None, 10, 1), training=True)
    6600
    """
    explanation = explain_flops(
        source,
        input_shape,
        batch_size,
        allow_build,
        training=training,
        valid_steps=valid_steps,
    )
    if explanation.missing:
        what = "training step FLOPs formula" if training else "FLOPs formula"
        fix = (
            "register a formula that takes `training` with keras_tdplus.register_flops_formula"
            if training
            else "keras_tdplus.register_flops_formula(LayerClass, formula)"
        )
        raise ValueError(
            f"{explanation.signature}: no {what} for {', '.join(explanation.missing)}, "
            f"so {explanation.total:,} FLOPs is a partial count. Fix: {fix}, or read the "
            "partial count with explain_flops()"
        )
    return explanation.total


def explain_flops(
    source,
    input_shape=None,
    batch_size=None,
    allow_build=False,
    *,
    training=False,
    valid_steps=None,
):
    """The FLOPs of one forward pass (or training step) with their working; see `count_flops`.

    Returns:
        A `FlopExplanation`: `total`, `formula`, `substituted` and, when
        some layer has no FLOPs formula, `missing` naming it (then `total`
        counts the rest and `partial` is True). With `valid_steps`, `total`
        is the effective count and `padded` the count with every step valid.

    Example:

    >>> explanation = explain_flops(keras.layers.LSTM(5), (None, 10, 1))
    >>> print(explanation)  # doctest: +NORMALIZE_WHITESPACE
    LSTM(units=5) on time=10, batch=1, inputs=1, units=5:
    FLOPs = time * (2 * batch * inputs * 4 * units + 2 * batch * units * 4 * units)
    = 10 * (2 * 1 * 1 * 4 * 5 + 2 * 1 * 5 * 4 * 5) = 2,400
    """
    effective, padded = _effective_and_padded(
        lambda batch: _explained_flops(source, input_shape, batch, allow_build),
        batch_size,
        training,
        valid_steps,
    )
    return effective if padded is None else dataclasses.replace(effective, padded=padded.total)


def _explained_flops(source, input_shape, batch_size, allow_build):
    with _public_errors():
        if isinstance(source, layers.Layer) and not _is_model(source):
            if input_shape is None:
                raise ValueError(
                    f"explain_flops() needs the input_shape of layer '{source.name}' "
                    f"({type(source).__name__}), e.g. (None, 10, 8). Received: input_shape=None"
                )
            shape = normalize_shape(input_shape, "input_shape")
            first = shape[0] if isinstance(shape, list) else shape
            batch_size = fit_valid_steps(
                source.name, (batch_size or first[0], *first[1:]), batch_size
            )
            if isinstance(shape, list):  # a layer called on several inputs: one batch for all
                batch_size = one_batch(source.name, shape, batch_size)
                shape = [with_batch(s, batch_size) for s in shape]
            else:
                shape = with_batch(shape, batch_size)
            if has_param_formula(source):
                explain(source, shape, allow_build)  # the same shape checks as count_params
            return explain_flops_of(source, shape)
        if isinstance(source, dict) and not is_model_source(source):
            layer = rebuild_layer(source)
            return _explained_flops(layer, input_shape, batch_size, allow_build)
        return table_flops(_costs_table(source, input_shape, batch_size, allow_build)[0])


def estimate_memory(source, batch_size=None, optimizer="adam", input_shape=None, allow_build=False):
    """What training a model holds in memory, in bytes, from its config alone.

    Weights, gradients and optimizer slots are exact: they equal the bytes of
    the variables Keras creates (`model.weights`, one gradient per trainable
    weight, `optimizer.variables` once built). Activations are the sum of
    every layer call's output at `batch_size` in the layer's compute dtype:
    an upper bound on what a forward pass keeps for the backward one (a
    framework frees or fuses some). Mixed precision halves activations, not
    weights.

    Args:
        source: A Sequential or Functional model, its config, or a `.keras` path.
        batch_size: The training batch; by default the model's own batch if
            its inputs fix one, else 1.
        optimizer: A name (`"adam"`, `"sgd"`, ...) or an unbuilt
            `keras.optimizers.Optimizer` (its momentum, `amsgrad`, `use_ema`
            are read); None for inference (no gradients, no slots).
        input_shape: Fills the sizes the model leaves unknown (batch axis
            included), as for `count_flops`.
        allow_build: As for `param_table`.

    Returns:
        A `MemoryEstimate`; `print()` it for a breakdown.

    Example:

    >>> model = keras.Sequential([keras.Input((10, 4)), keras.layers.LSTM(8)])
    >>> memory = estimate_memory(model, batch_size=32, optimizer="adam")
    >>> memory.weights, memory.gradients, memory.optimizer, memory.activations
    (1664, 1664, 3336, 1024)
    """
    table, batch = _costs_table(source, input_shape, batch_size, allow_build)
    return memory_of(table, batch, optimizer)


def _flops_table(source, input_shape, batch_size, allow_build, training, valid_steps):
    """The model's table with the FLOPs of a forward pass or training step on `valid_steps`."""
    table, padded = _effective_and_padded(
        lambda batch: _costs_table(source, input_shape, batch, allow_build)[0],
        batch_size,
        training,
        valid_steps,
    )
    if padded is None:
        return table
    rows = tuple(
        dataclasses.replace(row, flops=dataclasses.replace(row.flops, padded=full.flops.total))
        for row, full in zip(table.rows, padded.rows, strict=True)
    )
    return dataclasses.replace(table, rows=rows)


def _effective_and_padded(count, batch_size, training, valid_steps):
    """`(count(batch) on valid_steps, count(batch) with every step valid or None)`.

    The arguments are checked first; a list of step counts sets the padded
    count's batch when `batch_size` does not (the effective count finds it
    against the model's inputs).
    """
    check_batch_size(batch_size)
    check_training(training)
    valid = check_valid_steps(valid_steps)
    batch_size = batch_for_valid_steps(batch_size, valid)
    with counting(training, valid):
        effective = count(batch_size)
    if valid is None:
        return effective, None
    if batch_size is None and isinstance(valid, tuple):
        batch_size = len(valid)
    with counting(training):
        return effective, count(batch_size)


def _costs_table(source, input_shape, batch_size, allow_build):
    """`(table, batch)`: the model's table with FLOPs and activations, every input size known."""
    check_batch_size(batch_size)
    config = read_model_config(source)
    given = None
    if input_shape is not None:
        shape = normalize_shape(input_shape, "input_shape")
        shapes = shape if isinstance(shape, list) else [shape]
        given = [s if batch_size is None else with_batch(s, batch_size) for s in shapes]
    declared = declared_inputs(config)
    name = config[1].get("name", config[0].lower())
    with _public_errors():
        merged = merged_inputs(name, declared, given)
        if merged and merged[0] is not None:
            fixed = one_batch(name, [s for s in merged if s is not None], batch_size)
            batch_size = fit_valid_steps(name, (fixed, *merged[0][1:]), batch_size)
        for (input_name, _), shape in zip(declared, merged, strict=True):
            require_known(name, input_name, shape, batch_size)
        batch_size = one_batch(name, merged, batch_size)
        merged = [with_batch(s, batch_size) for s in merged]
        return model_table(config, merged, allow_build, costs=True), merged[0][0]


def _is_model(layer):
    return isinstance(layer, keras.Model)


def register_flops_formula(layer_class, formula=None):
    """Teaches `count_flops` the FLOPs of a layer class of your own.

    Registered beside its parameter formula (`register_param_formula`): every
    layer of exactly `layer_class` is then counted in models, model configs
    and `.keras` files alike. A layer class without one is reported as
    missing, never counted as 0.

    Args:
        layer_class: A subclass of `keras.layers.Layer`.
        formula: A function `formula(layer, input_shape, output_shape)` that
            returns the FLOPs of one forward pass of the unbuilt `layer` (the
            shapes have the batch axis): an `int`, or a dict `{part: int}`
            shown as its sum. Omit it to use `register_flops_formula(layer_class)`
            as a decorator.

    Returns:
        `formula`, so the function can be used as a decorator.

    Example:

    >>> @keras.saving.register_keras_serializable(package="docs")
    ... class Gram(keras.layers.Layer):
    ...     def call(self, x):
    ...         return keras.ops.matmul(x, keras.ops.transpose(x, (0, 2, 1)))
    >>> @register_flops_formula(Gram)
    ... def gram_flops(layer, input_shape, output_shape):
    ...     batch, steps, features = input_shape
    ...     return 2 * batch * steps * steps * features
    >>> count_flops(Gram(), (None, 4, 3))
    96
    """
    if formula is None:
        return lambda function: register_user_flops(layer_class, function)
    return register_user_flops(layer_class, formula)


@contextlib.contextmanager
def _public_errors():
    """The calculator's private error kinds reach users as the public `SequenceShapeError`."""
    try:
        yield
    except RankError as error:
        raise worded(SequenceShapeError, error.parts) from None


def register_param_formula(layer_class, formula=None):
    """Teaches the calculator the weights of a layer class of your own.

    Once registered, `count_params`, `explain_params` and `param_table`
    count every layer of exactly `layer_class` (not its subclasses) without
    building it, in models, model configs and `.keras` files alike (the class
    must be registered with `keras.saving.register_keras_serializable` for a
    config to be rebuilt).

    Args:
        layer_class: A subclass of `keras.layers.Layer`.
        formula: A function `formula(layer, input_shape)` that returns the
            weights the unbuilt `layer` would create on `input_shape` (a
            tuple with the batch axis, or a list of tuples for several
            inputs): a dict `{weight name: shape}` of trainable weights, or a
            list of `WeightSpec(name, shape, trainable)`. Omit it to use
            `register_param_formula(layer_class)` as a decorator.

    Returns:
        `formula`, so the function can be used as a decorator.

    Example:

    >>> @keras.saving.register_keras_serializable(package="docs")
    ... class Scale(keras.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")
    ...     def call(self, x):
    ...         return x * self.scale
    >>> @register_param_formula(Scale)
    ... def scale_weights(layer, input_shape):
    ...     return {"scale": (input_shape[-1],)}
    >>> explanation = explain_params(Scale(), (None, 5, 3))
    >>> explanation.formula, explanation.substituted, explanation.total
    ('scale', '3', 3)
    """
    if formula is None:
        return lambda function: register_user_formula(layer_class, function)
    return register_user_formula(layer_class, formula)
