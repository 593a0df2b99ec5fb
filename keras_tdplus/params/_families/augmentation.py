"""The random image augmentations that compute products in a training step: their FLOPs.

Outside training they pass images through (0 FLOPs). In training, Keras
maps every element's `(row, column, channel)` index through the 3x3 affine
transform with one einsum (`RandomRotation`, `RandomShear`,
`RandomTranslation`, `RandomZoom`: 9 multiply-adds per element), and blurs
with a depthwise convolution of each channel (`RandomGaussianBlur` by its
`kernel_size`, `RandomSharpness` by a 3x3 kernel). The kernels and the
transform are constants: a gradient reaching the images flows back through
the convolution, never into them.

`RandAugment` runs every one of its augmentations `num_ops` times and keeps
the drawn one's result: it counts all of them. `AugMix` runs the
augmentations it draws (Python's `random`) each step, and
`RandomElasticTransform` blurs with a kernel sized by its random draw: their
training FLOPs are not fixed, so they are reported as missing.
"""

import math

from keras import layers

from keras_tdplus.params._explain import missing_flops, products, repeated, summed, zero_flops
from keras_tdplus.params._families.base import known_sizes
from keras_tdplus.params._gradients import gradients, is_training
from keras_tdplus.params._registry import flops_formula

__all__ = []


def _elements(layer, shape):
    return math.prod(known_sizes(layer, shape, range(len(shape)), "image"))


@flops_formula(
    layers.RandomRotation, layers.RandomShear, layers.RandomTranslation, layers.RandomZoom
)
def _affine_flops(layer, shape, output, count):
    if not is_training():
        return zero_flops(layer)
    values = {"elements": _elements(layer, shape)}
    signature = f"{type(layer).__name__} (training: its affine transform)"
    return products(layer, signature, [["elements", 3, 3]], values, [[]])


@flops_formula(layers.RandomGaussianBlur, layers.RandomSharpness)
def _blur_flops(layer, shape, output, count):
    if not is_training():
        return zero_flops(layer)
    size = tuple(getattr(layer, "kernel_size", (3, 3)))
    values = {
        "elements": _elements(layer, shape),
        "kernel_height": size[0],
        "kernel_width": size[1],
    }
    flow = gradients(layer)
    signature = f"{type(layer).__name__} (training: a depthwise convolution)"
    grads = [["inputs"] if flow.input else []]
    return products(
        layer, signature, [["elements", "kernel_height", "kernel_width"]], values, grads
    )


@flops_formula(layers.RandAugment)
def _rand_augment_flops(layer, shape, output, count):
    if not is_training():
        return zero_flops(layer)
    # Its augmentations, by the attribute names Keras lists (torch keeps sublayers out of vars).
    names = getattr(type(layer), "_AUGMENT_LAYERS", ())
    augmentations = [getattr(layer, name, None) for name in names]
    augmentations = [a for a in augmentations if isinstance(a, layers.Layer)]
    if not augmentations:
        return missing_flops(layer)
    each = summed(layer, "", [count(augmentation, shape) for augmentation in augmentations])
    signature = f"RandAugment(num_ops={layer.num_ops}) (training: each augmentation each op)"
    return repeated(layer, signature, "num_ops", layer.num_ops, each)


@flops_formula(layers.AugMix, layers.RandomElasticTransform)
def _random_operations_flops(layer, shape, output, count):
    return missing_flops(layer) if is_training() else zero_flops(layer)
