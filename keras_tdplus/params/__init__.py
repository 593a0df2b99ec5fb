"""Parameter counts with their working, computed without building any weights.

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
"""

import contextlib

import keras  # noqa: F401  (the examples below use it)
from keras import layers

from keras_tdplus._config.rebuild import rebuild_layer
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._count import (
    covered_layers,
    explain,
    is_model_source,
    layer_view,
    model_table,
    normalize_shape,
    read_model_config,
    table_explanation,
)
from keras_tdplus.params._formulas.base import RankError
from keras_tdplus.params._formulas.user import register_user_formula
from keras_tdplus.params._results import ParamExplanation, ParamRow, ParamTable, WeightSpec

__all__ = [
    "ParamExplanation",
    "ParamRow",
    "ParamTable",
    "WeightSpec",
    "count_params",
    "covered_layers",
    "explain_params",
    "param_table",
    "register_param_formula",
]


def count_params(layer, input_shape, allow_build=False):
    """Counts a layer's parameters without building it.

    The count is derived from the layer's configuration and `input_shape`,
    exactly as `layer.count_params()` would report it once built. The layer
    stays unbuilt: no weights are created.

    Args:
        layer: A `keras.layers.Layer` (built or not), a Sequential or
            Functional model, or a serialized layer config
            (`{"class_name": ..., "config": ...}`).
        input_shape: The input shape including the batch axis, e.g.
            `(None, 5, 1)`; a list of shapes for a merging layer.
        allow_build: For a layer without a formula here, count it by building
            a throwaway copy instead of raising.

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


def param_table(source, input_shape=None, allow_build=False):
    """The per-layer parameter counts of a model, with their formulas.

    Works from the model's config: no layer is built and no weights are
    loaded, so a `.keras` file is read for its `config.json` alone.

    Args:
        source: A Sequential or Functional model (built or not), its config
            (`keras.saving.serialize_keras_object(model)` or
            `model.get_config()`), or the path to a `.keras` file.
        input_shape: The input shape including the batch axis, for a
            Sequential model that has no `Input` and was never built.
        allow_build: For layers without a formula here, count them by
            building throwaway copies instead of raising.

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
    config = read_model_config(source)
    shape = None if input_shape is None else normalize_shape(input_shape, "input_shape")
    with _public_errors():
        return model_table(config, shape, allow_build)


@contextlib.contextmanager
def _public_errors():
    """The calculator's private error kinds reach users as the public `SequenceShapeError`."""
    try:
        yield
    except RankError as error:
        raise SequenceShapeError(str(error)) from None


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
