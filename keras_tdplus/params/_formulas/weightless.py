"""Layers without weights: activations, dropout, reshaping, pooling, padding, merging.

Also the preprocessing layers without Keras weights: the random augmentations
hold only a seed (not a weight), and the lookup and hashing layers keep their
vocabularies in TensorFlow lookup tables, which `count_params` never counts.
"""

import dataclasses

from keras_tdplus.params._formulas.base import leaf, register, zero

__all__ = ["WEIGHTLESS"]

WEIGHTLESS = (
    "InputLayer",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Masking",
    "Reshape",
    "Flatten",
    "RepeatVector",
    "Permute",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Identity",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
    "UpSampling1D",
    "UpSampling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "ZeroPadding3D",
    "Cropping3D",
    "UpSampling3D",
    "MaxPooling3D",
    "AveragePooling3D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling3D",
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
    "Dot",
    "UnitNormalization",
    # Preprocessing.
    "Rescaling",
    "Resizing",
    "CenterCrop",
    "CategoryEncoding",
    "Discretization",
    "Hashing",
    "HashedCrossing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "MelSpectrogram",
    "MaxNumBoundingBoxes",
    "AutoContrast",
    "Equalization",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "Solarization",
    "AugMix",
    "CutMix",
    "MixUp",
    "Mosaic",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
)

register(*WEIGHTLESS)(zero)


@register("OpNode")
def _op_node(layer, shape, count):
    """A `keras.ops` call in a Functional model (see `_rebuild.OpNode`): no weights."""
    explanation = leaf(layer, f"{layer.op_name} (keras.ops call)", "0", {}, (), [])
    return dataclasses.replace(explanation, class_name=layer.op_name)
