"""Layers that compute no matrix product: 0 FLOPs by the convention, and the ones that do.

Activations, dropout, reshaping, pooling, padding, element-wise merging,
normalization, embedding lookups and the preprocessing layers (identities in a
forward pass of inference, or element-wise) count 0. `Dot` and the `keras.ops`
products stored in a Functional config (`ops.matmul`) are counted; the other
`keras.ops` products have no formula and are reported as missing.
"""

import dataclasses
import math

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus.params._flops.base import (
    known_sizes,
    no_formula,
    no_products,
    products,
    register,
)
from keras_tdplus.params._formulas.weightless import WEIGHTLESS

__all__ = ["WITHOUT_FLOPS_FORMULA"]

# Layer classes with parameter formulas that get none for FLOPs, and why.
WITHOUT_FLOPS_FORMULA = {
    "MelSpectrogram": "its short-time Fourier transform is not a counted product",
    "STFTSpectrogram": "its short-time Fourier transform is not a counted product",
}

_PRODUCTS = {"Dot", "MelSpectrogram"}

register(
    *(name for name in WEIGHTLESS if name not in _PRODUCTS),
    "Embedding",
    "ReversibleEmbedding",
    "PReLU",
    "LayerNormalization",
    "BatchNormalization",
    "GroupNormalization",
    "RMSNormalization",
    "Normalization",
    "LayerScale",
    "StochasticDepth",
    "CustomScaleLayer",
)(no_products)

register(*WITHOUT_FLOPS_FORMULA)(lambda layer, shape, output, count: no_formula(layer))


@register("Dot")
def _dot(layer, shape, output, count):
    left = shape[0]
    axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
    (contracted,) = known_sizes(layer, left, [axes[0] % len(left)], "contracted")
    values = {
        "outputs": math.prod(known_sizes(layer, output, range(len(output)), "output")),
        "contracted": contracted,
    }
    return products(layer, f"Dot(axes={layer.axes})", [["outputs", "contracted"]], values)


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


@register("OpNode")
def _op_node(layer, shape, output, count):
    name = layer.op_name
    if name == "Matmul" and is_shape_list(shape) and len(shape) == 2:
        left = shape[0]
        values = {
            "outputs": math.prod(known_sizes(layer, output, range(len(output)), "output")),
            "contracted": left[-1],
        }
        return products(layer, "matmul (keras.ops call)", [["outputs", "contracted"]], values)
    explanation = no_formula(layer) if name in _UNCOUNTED_OPS else no_products(layer)
    return dataclasses.replace(
        explanation,
        class_name=name,
        signature=f"{name} (keras.ops call)",
        missing=(f"'{layer.name}' ({name})",) if explanation.missing else (),
    )
