"""Formulas of the layers that keras.applications models define for themselves.

They are not exported by `keras.layers`; the calculator knows them by class
name and by their module under Keras' applications (see `KERAS_APPLICATION_LAYERS`).
"""

from keras_tdplus.params._formulas.base import leaf, register, zero

__all__ = ["KERAS_APPLICATION_LAYERS", "OUTPUT_SHAPES"]

# Class name: the keras.applications module that defines it.
KERAS_APPLICATION_LAYERS = {
    "LayerScale": "convnext",
    "StochasticDepth": "convnext",
    "CustomScaleLayer": "inception_resnet_v2",
}


@register("LayerScale")
def _layer_scale(layer, shape, count):
    features = layer.projection_dim
    values = {"projection_dim": features}
    signature = f"LayerScale(projection_dim={features})"
    weights = [("gamma", (features,), True)]
    return leaf(layer, signature, "{projection_dim}", values, (), weights)


register("StochasticDepth", "CustomScaleLayer")(zero)

# LayerScale has no compute_output_shape and its call needs its weight: it
# keeps the shape of its input. CustomScaleLayer adds its two inputs, scaled:
# Keras would trace its call to learn that (a JAX trace per layer, seconds).
OUTPUT_SHAPES = {
    "LayerScale": lambda layer, shape: shape,
    "CustomScaleLayer": lambda layer, shape: shape[0],
}
