"""One small config and input shape per Keras layer class, shared by the tests that sweep them.

`LAYER_CASES` maps a class name to `(make, input_shape)` cases: `make()` returns
a fresh layer, `input_shape` has the batch axis (None) and is a list for a call
on several inputs. Layers with weights get several cases that reach each option
of their parameter formula.
"""

from keras import layers

__all__ = ["LAYER_CASES", "exported_layer_classes"]


def exported_layer_classes():
    """Keras' exported layer classes by their own `__name__` (aliases folded)."""
    found = {}
    for name in dir(layers):
        cls = getattr(layers, name)
        if isinstance(cls, type) and issubclass(cls, layers.Layer):
            found[cls.__name__] = cls
    return found


_ZERO_INIT = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
_RNN_INIT = {**_ZERO_INIT, "recurrent_initializer": "zeros"}
_IMAGE = (None, 8, 8, 3)
_DEPTHWISE_INIT = {"depthwise_initializer": "zeros", "bias_initializer": "zeros"}
_SEPARABLE_INIT = {**_DEPTHWISE_INIT, "pointwise_initializer": "zeros"}


def _weightless(make, shape=_IMAGE):
    return [(make, shape)]


# At least one case per class with a formula: (make, input_shape). A list of
# shapes is a call on several inputs. Layers with weights get several cases
# that reach each option of their formula.
LAYER_CASES = {
    "AdaptiveAveragePooling1D": _weightless(
        lambda: layers.AdaptiveAveragePooling1D(2), (None, 8, 3)
    ),
    "AdaptiveAveragePooling2D": _weightless(lambda: layers.AdaptiveAveragePooling2D(2)),
    "AdaptiveAveragePooling3D": _weightless(
        lambda: layers.AdaptiveAveragePooling3D(2), (None, 4, 4, 4, 3)
    ),
    "AdaptiveMaxPooling1D": _weightless(lambda: layers.AdaptiveMaxPooling1D(2), (None, 8, 3)),
    "AdaptiveMaxPooling2D": _weightless(lambda: layers.AdaptiveMaxPooling2D(2)),
    "AdaptiveMaxPooling3D": _weightless(lambda: layers.AdaptiveMaxPooling3D(2), (None, 4, 4, 4, 3)),
    "Activation": _weightless(lambda: layers.Activation("relu")),
    "ActivityRegularization": _weightless(lambda: layers.ActivityRegularization(0.1)),
    "Add": _weightless(lambda: layers.Add(), [(None, 3), (None, 3)]),
    "AdditiveAttention": [
        (lambda: layers.AdditiveAttention(), [(None, 4, 3), (None, 5, 3)]),
        (lambda: layers.AdditiveAttention(use_scale=False), [(None, 4, 3), (None, 5, 3)]),
    ],
    "AlphaDropout": _weightless(lambda: layers.AlphaDropout(0.1)),
    "Attention": [
        (lambda: layers.Attention(), [(None, 4, 3), (None, 5, 3)]),
        (
            lambda: layers.Attention(use_scale=True, score_mode="concat"),
            [(None, 4, 3), (None, 5, 3)],
        ),
    ],
    "AugMix": _weightless(lambda: layers.AugMix()),
    "AutoContrast": _weightless(lambda: layers.AutoContrast()),
    "Average": _weightless(lambda: layers.Average(), [(None, 3), (None, 3)]),
    "AveragePooling1D": _weightless(lambda: layers.AveragePooling1D(2), (None, 8, 3)),
    "AveragePooling2D": _weightless(lambda: layers.AveragePooling2D(2)),
    "AveragePooling3D": _weightless(lambda: layers.AveragePooling3D(2), (None, 4, 4, 4, 3)),
    "BatchNormalization": [
        (lambda: layers.BatchNormalization(), (None, 4, 3)),
        (lambda: layers.BatchNormalization(renorm=True, center=False), (None, 4, 3)),
    ],
    "Bidirectional": [(lambda: layers.Bidirectional(layers.GRU(2, **_RNN_INIT)), (None, 4, 3))],
    "CategoryEncoding": _weightless(lambda: layers.CategoryEncoding(4), (None, 3)),
    "CenterCrop": _weightless(lambda: layers.CenterCrop(4, 4)),
    "Concatenate": _weightless(lambda: layers.Concatenate(), [(None, 3), (None, 2)]),
    "ContrastLimitedAdaptiveHistogramEqualization": _weightless(
        lambda: layers.ContrastLimitedAdaptiveHistogramEqualization()
    ),
    "Conv1D": [(lambda: layers.Conv1D(4, 3, **_ZERO_INIT), (None, 8, 2))],
    "Conv1DTranspose": [(lambda: layers.Conv1DTranspose(4, 3, **_ZERO_INIT), (None, 8, 2))],
    "Conv2D": [(lambda: layers.Conv2D(6, 3, groups=3, **_ZERO_INIT), (None, 8, 8, 6))],
    "Conv2DTranspose": [
        (lambda: layers.Conv2DTranspose(4, (3, 2), **_ZERO_INIT), _IMAGE),
        (
            lambda: layers.Conv2DTranspose(
                4, 3, use_bias=False, data_format="channels_first", **_ZERO_INIT
            ),
            (None, 3, 8, 8),
        ),
    ],
    "Conv3D": [(lambda: layers.Conv3D(2, 2, **_ZERO_INIT), (None, 4, 4, 4, 3))],
    "Conv3DTranspose": [(lambda: layers.Conv3DTranspose(2, 2, **_ZERO_INIT), (None, 4, 4, 4, 3))],
    "ConvLSTM1D": [(lambda: layers.ConvLSTM1D(2, 3, **_RNN_INIT), (None, 2, 8, 3))],
    "ConvLSTM2D": [(lambda: layers.ConvLSTM2D(2, 3, **_RNN_INIT), (None, 2, 8, 8, 3))],
    "ConvLSTM3D": [(lambda: layers.ConvLSTM3D(2, 3, **_RNN_INIT), (None, 2, 5, 5, 5, 3))],
    "Cropping1D": _weightless(lambda: layers.Cropping1D(1), (None, 8, 3)),
    "Cropping2D": _weightless(lambda: layers.Cropping2D(1)),
    "Cropping3D": _weightless(lambda: layers.Cropping3D(1), (None, 4, 4, 4, 3)),
    "CutMix": _weightless(lambda: layers.CutMix()),
    "Dense": [(lambda: layers.Dense(3, **_ZERO_INIT), (None, 4))],
    "DepthwiseConv1D": [(lambda: layers.DepthwiseConv1D(3, **_DEPTHWISE_INIT), (None, 8, 3))],
    "DepthwiseConv2D": [
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, **_DEPTHWISE_INIT), _IMAGE),
        (lambda: layers.DepthwiseConv2D((3, 1), use_bias=False, **_DEPTHWISE_INIT), _IMAGE),
    ],
    "Discretization": _weightless(lambda: layers.Discretization([0.0, 1.0]), (None, 3)),
    "Dot": _weightless(lambda: layers.Dot(axes=1), [(None, 3), (None, 3)]),
    "Dropout": _weightless(lambda: layers.Dropout(0.5)),
    "ELU": _weightless(lambda: layers.ELU()),
    "EinsumDense": [
        (lambda: layers.EinsumDense("ab,bc->ac", 4, bias_axes="c", **_ZERO_INIT), (None, 3))
    ],
    "Embedding": [(lambda: layers.Embedding(10, 4), (None, 3))],
    "Equalization": _weightless(lambda: layers.Equalization()),
    "Flatten": _weightless(lambda: layers.Flatten()),
    "GRU": [(lambda: layers.GRU(3, **_RNN_INIT), (None, 4, 2))],
    "GRUCell": [
        (lambda: layers.GRUCell(3, **_RNN_INIT), (None, 2)),
        (lambda: layers.GRUCell(3, reset_after=False, **_RNN_INIT), (None, 2)),
    ],
    "GaussianDropout": _weightless(lambda: layers.GaussianDropout(0.1)),
    "GaussianNoise": _weightless(lambda: layers.GaussianNoise(0.1)),
    "GlobalAveragePooling1D": _weightless(lambda: layers.GlobalAveragePooling1D(), (None, 8, 3)),
    "GlobalAveragePooling2D": _weightless(lambda: layers.GlobalAveragePooling2D()),
    "GlobalAveragePooling3D": _weightless(
        lambda: layers.GlobalAveragePooling3D(), (None, 4, 4, 4, 3)
    ),
    "GlobalMaxPooling1D": _weightless(lambda: layers.GlobalMaxPooling1D(), (None, 8, 3)),
    "GlobalMaxPooling2D": _weightless(lambda: layers.GlobalMaxPooling2D()),
    "GlobalMaxPooling3D": _weightless(lambda: layers.GlobalMaxPooling3D(), (None, 4, 4, 4, 3)),
    "GroupNormalization": [
        (lambda: layers.GroupNormalization(2), (None, 4, 6)),
        (lambda: layers.GroupNormalization(-1, center=False), (None, 4, 6)),
    ],
    "GroupedQueryAttention": [
        (lambda: layers.GroupQueryAttention(4, 4, 2, **_ZERO_INIT), [(None, 4, 6), (None, 5, 6)]),
        (
            lambda: layers.GroupQueryAttention(
                2, 2, 1, use_bias=False, use_gate=True, **_ZERO_INIT
            ),
            [(None, 4, 6), (None, 5, 6), (None, 5, 7)],
        ),
    ],
    "HashedCrossing": _weightless(lambda: layers.HashedCrossing(4), [(None, 1), (None, 1)]),
    "Hashing": _weightless(lambda: layers.Hashing(4), (None, 3)),
    "Identity": _weightless(lambda: layers.Identity()),
    "InputLayer": _weightless(lambda: layers.InputLayer(shape=(3,)), (None, 3)),
    "IntegerLookup": _weightless(lambda: layers.IntegerLookup(vocabulary=[1, 2]), (None, 3)),
    "LSTM": [(lambda: layers.LSTM(3, use_bias=False, **_RNN_INIT), (None, 4, 2))],
    "LSTMCell": [(lambda: layers.LSTMCell(3, **_RNN_INIT), (None, 2))],
    "LayerNormalization": [(lambda: layers.LayerNormalization(), (None, 4, 3))],
    "LeakyReLU": _weightless(lambda: layers.LeakyReLU()),
    "Masking": _weightless(lambda: layers.Masking()),
    "MaxNumBoundingBoxes": _weightless(lambda: layers.MaxNumBoundingBoxes(3)),
    "MaxPooling1D": _weightless(lambda: layers.MaxPooling1D(2), (None, 8, 3)),
    "MaxPooling2D": _weightless(lambda: layers.MaxPooling2D(2)),
    "MaxPooling3D": _weightless(lambda: layers.MaxPooling3D(2), (None, 4, 4, 4, 3)),
    "Maximum": _weightless(lambda: layers.Maximum(), [(None, 3), (None, 3)]),
    "MelSpectrogram": _weightless(lambda: layers.MelSpectrogram(), (None, 4000)),
    "Minimum": _weightless(lambda: layers.Minimum(), [(None, 3), (None, 3)]),
    "MixUp": _weightless(lambda: layers.MixUp()),
    "MultiHeadAttention": [
        (lambda: layers.MultiHeadAttention(2, 4, **_ZERO_INIT), [(None, 4, 3), (None, 5, 6)]),
        (lambda: layers.MultiHeadAttention(2, 4, **_ZERO_INIT), (None, 4, 3)),
        (
            lambda: layers.MultiHeadAttention(
                3,
                2,
                value_dim=5,
                use_bias=False,
                output_shape=(2, 3),
                use_gate=True,
                **_ZERO_INIT,
            ),
            [(None, 4, 3), (None, 5, 6), (None, 5, 7)],
        ),
    ],
    "Multiply": _weightless(lambda: layers.Multiply(), [(None, 3), (None, 3)]),
    "Normalization": [
        (lambda: layers.Normalization(), (None, 4, 3)),
        (lambda: layers.Normalization(axis=(1, 2)), (None, 4, 3)),
        (lambda: layers.Normalization(mean=1.0, variance=2.0), (None, 4, 3)),
    ],
    "PReLU": [
        (lambda: layers.PReLU(), (None, 4, 3)),
        (lambda: layers.PReLU(shared_axes=[1, 2]), _IMAGE),
    ],
    "Permute": _weightless(lambda: layers.Permute((2, 1)), (None, 4, 3)),
    "Pipeline": [
        (lambda: layers.Pipeline([layers.Rescaling(0.5), layers.Normalization()]), (None, 4, 3))
    ],
    "RMSNormalization": [(lambda: layers.RMSNormalization(), (None, 4, 3))],
    "RNN": [
        (lambda: layers.RNN(layers.LSTMCell(3, **_RNN_INIT)), (None, 4, 2)),
        (
            lambda: layers.RNN([layers.LSTMCell(3, **_RNN_INIT), layers.GRUCell(2, **_RNN_INIT)]),
            (None, 4, 2),
        ),
    ],
    "RandAugment": _weightless(lambda: layers.RandAugment()),
    "RandomBrightness": _weightless(lambda: layers.RandomBrightness(0.1)),
    "RandomColorDegeneration": _weightless(lambda: layers.RandomColorDegeneration(0.1)),
    "RandomColorJitter": _weightless(lambda: layers.RandomColorJitter()),
    "RandomContrast": _weightless(lambda: layers.RandomContrast(0.1)),
    "RandomCrop": _weightless(lambda: layers.RandomCrop(4, 4)),
    "RandomElasticTransform": _weightless(lambda: layers.RandomElasticTransform()),
    "RandomErasing": _weightless(lambda: layers.RandomErasing()),
    "RandomFlip": _weightless(lambda: layers.RandomFlip()),
    "RandomGaussianBlur": _weightless(lambda: layers.RandomGaussianBlur()),
    "RandomGrayscale": _weightless(lambda: layers.RandomGrayscale()),
    "RandomHue": _weightless(lambda: layers.RandomHue(0.1)),
    "RandomInvert": _weightless(lambda: layers.RandomInvert()),
    "RandomPerspective": _weightless(lambda: layers.RandomPerspective()),
    "RandomPosterization": _weightless(lambda: layers.RandomPosterization(4)),
    "RandomRotation": _weightless(lambda: layers.RandomRotation(0.1)),
    "RandomSaturation": _weightless(lambda: layers.RandomSaturation(0.1)),
    "RandomSharpness": _weightless(lambda: layers.RandomSharpness(0.1)),
    "RandomShear": _weightless(
        lambda: layers.RandomShear(x_factor=(0.0, 0.1), y_factor=(0.0, 0.1))
    ),
    "RandomTranslation": _weightless(lambda: layers.RandomTranslation(0.1, 0.1)),
    "RandomZoom": _weightless(lambda: layers.RandomZoom(0.1)),
    "ReLU": _weightless(lambda: layers.ReLU()),
    "RepeatVector": _weightless(lambda: layers.RepeatVector(2), (None, 3)),
    "Rescaling": _weightless(lambda: layers.Rescaling(0.5)),
    "Reshape": _weightless(lambda: layers.Reshape((-1,))),
    "Resizing": _weightless(lambda: layers.Resizing(4, 4)),
    "ReversibleEmbedding": [
        (lambda: layers.ReversibleEmbedding(10, 4, embeddings_initializer="zeros"), (None, 3)),
        (
            lambda: layers.ReversibleEmbedding(
                10, 4, tie_weights=False, embeddings_initializer="zeros"
            ),
            (None, 3),
        ),
    ],
    "STFTSpectrogram": [
        (lambda: layers.STFTSpectrogram(frame_length=16), (None, 100, 1)),
        (lambda: layers.STFTSpectrogram(mode="real", frame_length=16), (None, 100, 1)),
    ],
    "SeparableConv1D": [(lambda: layers.SeparableConv1D(4, 3, **_SEPARABLE_INIT), (None, 8, 3))],
    "SeparableConv2D": [
        (lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2, **_SEPARABLE_INIT), _IMAGE),
        (lambda: layers.SeparableConv2D(4, 3, use_bias=False, **_SEPARABLE_INIT), _IMAGE),
    ],
    "SimpleRNN": [(lambda: layers.SimpleRNN(3, **_RNN_INIT), (None, 4, 2))],
    "SimpleRNNCell": [(lambda: layers.SimpleRNNCell(3, use_bias=False, **_RNN_INIT), (None, 2))],
    "Softmax": _weightless(lambda: layers.Softmax()),
    "Solarization": _weightless(lambda: layers.Solarization()),
    "SpatialDropout1D": _weightless(lambda: layers.SpatialDropout1D(0.5), (None, 8, 3)),
    "SpatialDropout2D": _weightless(lambda: layers.SpatialDropout2D(0.5)),
    "SpatialDropout3D": _weightless(lambda: layers.SpatialDropout3D(0.5), (None, 4, 4, 4, 3)),
    "SpectralNormalization": [
        (lambda: layers.SpectralNormalization(layers.Dense(3, **_ZERO_INIT)), (None, 4)),
        (lambda: layers.SpectralNormalization(layers.Conv2D(2, 3, **_ZERO_INIT)), _IMAGE),
    ],
    "StackedRNNCells": [
        (
            lambda: layers.StackedRNNCells(
                [layers.LSTMCell(3, **_RNN_INIT), layers.SimpleRNNCell(2, **_RNN_INIT)]
            ),
            (None, 2),
        )
    ],
    "StringLookup": _weightless(lambda: layers.StringLookup(vocabulary=["a", "b"]), (None, 3)),
    "Subtract": _weightless(lambda: layers.Subtract(), [(None, 3), (None, 3)]),
    "TextVectorization": _weightless(lambda: layers.TextVectorization(), (None,)),
    "TimeDistributed": [(lambda: layers.TimeDistributed(layers.Dense(2)), (None, 4, 3))],
    "UnitNormalization": _weightless(lambda: layers.UnitNormalization()),
    "UpSampling1D": _weightless(lambda: layers.UpSampling1D(2), (None, 8, 3)),
    "UpSampling2D": _weightless(lambda: layers.UpSampling2D(2)),
    "UpSampling3D": _weightless(lambda: layers.UpSampling3D(2), (None, 4, 4, 4, 3)),
    "ZeroPadding1D": _weightless(lambda: layers.ZeroPadding1D(1), (None, 8, 3)),
    "ZeroPadding2D": _weightless(lambda: layers.ZeroPadding2D(1)),
    "ZeroPadding3D": _weightless(lambda: layers.ZeroPadding3D(1), (None, 4, 4, 4, 3)),
}
