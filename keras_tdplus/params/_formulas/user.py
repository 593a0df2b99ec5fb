"""Formulas that users register for their own layer classes."""

import keras

from keras_tdplus.params._results import ParamExplanation, WeightSpec

__all__ = ["USER_FORMULAS", "explain_user", "register_user_formula"]

USER_FORMULAS = {}


def register_user_formula(layer_class, formula):
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(
            "Received an invalid value for `layer_class`, expected a subclass of "
            f"keras.layers.Layer. Received: layer_class={layer_class!r}"
        )
    if not callable(formula):
        raise TypeError(
            "Received an invalid value for `formula`, expected a function "
            f"formula(layer, input_shape). Received: formula={formula!r}"
        )
    USER_FORMULAS[layer_class] = formula
    return formula


def explain_user(layer, shape, formula):
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
        weights.append(WeightSpec(spec.name, shape_of, bool(spec.trainable and layer.trainable)))
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
