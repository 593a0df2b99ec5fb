"""The layers that keras.applications models define for themselves: their weights, FLOPs
and output shapes.

`keras.layers` does not export them: they are keyed by their class name and
the applications module that defines them (`ApplicationClass`).
"""

from keras_tdplus.params._explain import leaf, zero_flops, zero_weights
from keras_tdplus.params._registry import (
    ApplicationClass,
    flops_formula,
    output_shape_rule,
    weights_formula,
)

__all__ = []

LAYER_SCALE = ApplicationClass("convnext", "LayerScale")
STOCHASTIC_DEPTH = ApplicationClass("convnext", "StochasticDepth")
CUSTOM_SCALE = ApplicationClass("inception_resnet_v2", "CustomScaleLayer")


@weights_formula(LAYER_SCALE)
def _layer_scale(layer, shape, count):
    features = layer.projection_dim
    values = {"projection_dim": features}
    signature = f"LayerScale(projection_dim={features})"
    weights = [("gamma", (features,), True)]
    return leaf(layer, signature, "{projection_dim}", values, (), weights)


weights_formula(STOCHASTIC_DEPTH, CUSTOM_SCALE)(zero_weights)
# Each scales, drops or adds element by element: 0 FLOPs.
flops_formula(LAYER_SCALE, STOCHASTIC_DEPTH, CUSTOM_SCALE)(zero_flops)


# LayerScale has no compute_output_shape and its call needs its weight: it
# keeps the shape of its input. CustomScaleLayer adds its two inputs, scaled:
# Keras would trace its call to learn that (a JAX trace per layer, seconds).
@output_shape_rule(LAYER_SCALE)
def _layer_scale_output(layer, shape, from_keras):
    return shape


@output_shape_rule(CUSTOM_SCALE)
def _custom_scale_output(layer, shape, from_keras):
    return shape[0]
