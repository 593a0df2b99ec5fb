"""Formulas that users register for their own layer classes: weights and FLOPs.

They go into the registry's entries as formulas of the registry's own
signatures, marked as users'.
"""

import inspect
import numbers

import keras

from keras_tdplus.params._explain import missing_flops, variable_dtype
from keras_tdplus.params._gradients import is_training
from keras_tdplus.params._registry import register_user
from keras_tdplus.params._results import FlopExplanation, ParamExplanation, WeightSpec

__all__ = ["register_user_flops", "register_user_formula"]


def register_user_formula(layer_class, formula):
    _check_formula(layer_class, formula, "formula(layer, input_shape)")
    register_user(
        layer_class, "weights", lambda layer, shape, count: _weights(layer, shape, formula)
    )
    return formula


def register_user_flops(layer_class, formula):
    _check_formula(layer_class, formula, "formula(layer, input_shape, output_shape)")
    register_user(
        layer_class,
        "flops",
        lambda layer, shape, output, count: _flops(layer, shape, output, formula),
    )
    return formula


def _check_formula(layer_class, formula, expected):
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(
            "Received an invalid value for `layer_class`, expected a subclass of "
            f"keras.layers.Layer. Received: layer_class={layer_class!r}"
        )
    if not callable(formula):
        raise TypeError(
            f"Received an invalid value for `formula`, expected a function {expected}. "
            f"Received: formula={formula!r}"
        )


def _weights(layer, shape, formula):
    """The explanation of `layer` from the weights its user formula returns."""
    name = f"Layer '{layer.name}' ({type(layer).__name__})"
    result = formula(layer, shape)
    if isinstance(result, dict):
        result = [WeightSpec(key, tuple(value), True) for key, value in result.items()]
    weights = []
    for spec in result:
        if not isinstance(spec, WeightSpec):
            raise TypeError(
                f"{name}: its registered parameter formula must return a dict "
                "{weight name: shape} or a list of WeightSpec. "
                f"Received: {spec!r} of type {type(spec).__name__}"
            )
        shape_of = tuple(int(d) for d in spec.shape)
        trainable = bool(spec.trainable and layer.trainable)
        weights.append(WeightSpec(spec.name, shape_of, trainable, variable_dtype(layer)))
    formula_text = " + ".join(w.name for w in weights) or "0"
    substituted = " + ".join(" * ".join(map(str, w.shape)) or "1" for w in weights) or "0"
    return ParamExplanation(
        type(layer).__name__,
        layer.name,
        type(layer).__name__,
        {},
        formula_text,
        substituted,
        tuple(weights),
    )


def _flops(layer, shape, output, formula):
    """The FLOPs of `layer` from its user formula: an int, or a dict `{part: FLOPs}`.

    A training step is counted only by a formula that takes `training`: it is
    called with `training=True` and returns the forward and backward FLOPs.
    Any other formula counts a forward pass alone, so its layer is missing.
    """
    training = is_training()
    if training and not _takes_training(formula):
        return missing_flops(layer)
    result = (
        formula(layer, shape, output, training=True) if training else formula(layer, shape, output)
    )
    parts = result if isinstance(result, dict) else {"flops": result}
    for part, value in parts.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}): its registered FLOPs formula "
                "must return a non-negative int or a dict {part name: non-negative int}. "
                f"Received: {part}={value!r} of type {type(value).__name__}"
            )
    name = type(layer).__name__
    return FlopExplanation(
        name,
        layer.name,
        name,
        {},
        " + ".join(parts) or "0",
        " + ".join(str(v) for v in parts.values()) or "0",
        int(sum(parts.values())),
        training=training,
    )


def _takes_training(formula):
    """True when `formula` accepts a `training` keyword."""
    try:
        parameters = inspect.signature(formula).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "training" and p.kind != p.POSITIONAL_ONLY or p.kind == p.VAR_KEYWORD
        for p in parameters
    )
