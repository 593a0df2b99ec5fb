"""Layers without weights: activations, dropout, reshaping, pooling, padding, merging, the
preprocessing layers without Keras weights, and the `keras.ops` calls of a Functional model.

The random augmentations hold only a seed (not a weight), and the lookup and
hashing layers keep their vocabularies in TensorFlow lookup tables, which
`count_params` never counts. None computes a matrix product but `Dot` and
the `keras.ops` products stored in a Functional config (`ops.matmul`), which
are counted; the other `keras.ops` products have no FLOPs formula and are
reported as missing.
"""

import dataclasses
import math

from keras import layers

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus._config.op_node import OpNode
from keras_tdplus.params._explain import leaf, missing_flops, products, zero_flops, zero_weights
from keras_tdplus.params._families.base import known_sizes
from keras_tdplus.params._gradients import gradients, operands
from keras_tdplus.params._registry import flops_formula, weights_formula

__all__ = []

# A None is a class this Keras does not have (every release from the floor, 3.13, is supported).
WEIGHTLESS = (
    layers.InputLayer,
    layers.Dropout,
    layers.SpatialDropout1D,
    layers.SpatialDropout2D,
    layers.SpatialDropout3D,
    layers.GaussianNoise,
    layers.GaussianDropout,
    layers.AlphaDropout,
    layers.ActivityRegularization,
    layers.Masking,
    layers.Reshape,
    layers.Flatten,
    layers.RepeatVector,
    layers.Permute,
    layers.Activation,
    layers.ReLU,
    layers.LeakyReLU,
    layers.ELU,
    layers.Softmax,
    layers.Identity,
    layers.ZeroPadding1D,
    layers.ZeroPadding2D,
    layers.Cropping1D,
    layers.Cropping2D,
    layers.UpSampling1D,
    layers.UpSampling2D,
    layers.MaxPooling1D,
    layers.MaxPooling2D,
    layers.AveragePooling1D,
    layers.AveragePooling2D,
    layers.GlobalMaxPooling1D,
    layers.GlobalMaxPooling2D,
    layers.GlobalAveragePooling1D,
    layers.GlobalAveragePooling2D,
    layers.Add,
    layers.Subtract,
    layers.Multiply,
    layers.Average,
    layers.Maximum,
    layers.Minimum,
    layers.Concatenate,
    layers.ZeroPadding3D,
    layers.Cropping3D,
    layers.UpSampling3D,
    layers.MaxPooling3D,
    layers.AveragePooling3D,
    layers.GlobalMaxPooling3D,
    layers.GlobalAveragePooling3D,
    layers.AdaptiveAveragePooling1D,
    layers.AdaptiveAveragePooling2D,
    layers.AdaptiveAveragePooling3D,
    layers.AdaptiveMaxPooling1D,
    layers.AdaptiveMaxPooling2D,
    layers.AdaptiveMaxPooling3D,
    layers.Dot,
    layers.UnitNormalization,
    # Preprocessing.
    layers.Rescaling,
    layers.Resizing,
    layers.CenterCrop,
    layers.CategoryEncoding,
    layers.Discretization,
    layers.Hashing,
    layers.HashedCrossing,
    layers.IntegerLookup,
    layers.StringLookup,
    layers.TextVectorization,
    layers.MaxNumBoundingBoxes,
    layers.AutoContrast,
    layers.Equalization,
    getattr(layers, "ContrastLimitedAdaptiveHistogramEqualization", None),  # not in Keras 3.13
    layers.Solarization,
    layers.AugMix,
    layers.CutMix,
    layers.MixUp,
    getattr(layers, "Mosaic", None),  # Keras 3.16
    layers.RandAugment,
    layers.RandomBrightness,
    layers.RandomColorDegeneration,
    layers.RandomColorJitter,
    layers.RandomContrast,
    layers.RandomCrop,
    layers.RandomElasticTransform,
    layers.RandomErasing,
    layers.RandomFlip,
    layers.RandomGaussianBlur,
    layers.RandomGrayscale,
    layers.RandomHue,
    layers.RandomInvert,
    layers.RandomPerspective,
    layers.RandomPosterization,
    layers.RandomRotation,
    layers.RandomSaturation,
    layers.RandomSharpness,
    layers.RandomShear,
    layers.RandomTranslation,
    layers.RandomZoom,
)

# The random augmentations that compute products in training have a formula of their own
# (`augmentation.py`).
_OWN_FLOPS = (
    layers.Dot,
    layers.AugMix,
    layers.RandAugment,
    layers.RandomElasticTransform,
    layers.RandomGaussianBlur,
    layers.RandomRotation,
    layers.RandomSharpness,
    layers.RandomShear,
    layers.RandomTranslation,
    layers.RandomZoom,
)

weights_formula(*WEIGHTLESS)(zero_weights)
flops_formula(*(c for c in WEIGHTLESS if c not in _OWN_FLOPS))(zero_flops)


@weights_formula(OpNode)
def _op_node(layer, shape, count):
    """A `keras.ops` call in a Functional model (see `keras_tdplus._config.op_node`): no weights."""
    explanation = leaf(layer, f"{layer.op_name} (keras.ops call)", "0", {}, (), [])
    return dataclasses.replace(explanation, class_name=layer.op_name)


@flops_formula(layers.Dot)
def _dot_flops(layer, shape, output, count):
    left = shape[0]
    axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
    (contracted,) = known_sizes(layer, left, [axes[0] % len(left)], "contracted")
    values = {
        "outputs": math.prod(known_sizes(layer, output, range(len(output)), "output")),
        "contracted": contracted,
    }
    grads = _both(layer)
    return products(layer, f"Dot(axes={layer.axes})", [["outputs", "contracted"]], values, grads)


def _both(layer):
    """The gradients of a product of a layer's two inputs, or None for a forward pass."""
    flow = gradients(layer)
    return None if flow is None else operands(*(list(flow.inputs) + [False, False])[:2])


# `keras.ops` calls that multiply matrices and have no formula here.
_UNCOUNTED_OPS = {
    "Einsum",
    "Dot",
    "Tensordot",
    "Inner",
    "Vdot",
    "Conv",
    "ConvTranspose",
    "DepthwiseConv",
    "SeparableConv",
    "DotProductAttention",
    "Stft",
    "Istft",
    "Fft",
    "Fft2",
    "Rfft",
    "Irfft",
    "Solve",
    "Lstsq",
    "Inv",
    "Svd",
    "Qr",
    "Eig",
    "Eigh",
    "Cholesky",
    "Det",
    "Kron",
    "Correlate",
    "Convolve",
}


@flops_formula(OpNode)
def _op_node_flops(layer, shape, output, count):
    name = layer.op_name
    if name == "Matmul" and is_shape_list(shape) and len(shape) == 2:
        left = shape[0]
        values = {
            "outputs": math.prod(known_sizes(layer, output, range(len(output)), "output")),
            "contracted": left[-1],
        }
        terms = [["outputs", "contracted"]]
        return products(layer, "matmul (keras.ops call)", terms, values, _both(layer))
    explanation = missing_flops(layer) if name in _UNCOUNTED_OPS else zero_flops(layer)
    return dataclasses.replace(
        explanation,
        class_name=name,
        signature=f"{name} (keras.ops call)",
        missing=(f"'{layer.name}' ({name})",) if explanation.missing else (),
    )
