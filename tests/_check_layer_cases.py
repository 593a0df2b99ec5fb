"""How to run `check_layer` on each public `keras.layers` class: arguments, inputs, options.

`CHECK_CASES` maps a class name (the class's own `__name__`) to the
`check_layer` arguments of one small, ordinary use of it; `CANNOT_RUN` maps
the classes `check_layer` cannot run to why. Between them they name every
class `keras.layers` exports, so a Keras release that adds a layer fails
`test_every_keras_layer_has_a_row` until it gets a row here.

Layers with several inputs use `unpack_inputs=True` where Keras' call takes
them as separate arguments (attention's `query, value`, a cell's `inputs,
states`), and a list where it takes one list (`Add`, `Attention`).
"""

import numpy as np
from keras import layers

__all__ = ["CANNOT_RUN", "CHECK_CASES", "NEEDS_TENSORFLOW"]

_IMAGE = (2, 8, 8, 3)
_VOLUME = (2, 4, 4, 4, 3)
_SEQUENCE = (2, 8, 3)
_PAIR = [(2, 3), (2, 3)]
_QUERY_VALUE = [(2, 4, 3), (2, 5, 3)]
_INTEGERS = {"input_dtype": "int32"}
_TEXT = np.array([["a", "b", "c"], ["b b", "a", "z"]])


_BACKENDS = ("jax", "tensorflow", "torch")


def _case(kwargs=None, input_shape=_IMAGE, known_failures=None, wrapped=None, **options):
    """The arguments of one `check_layer` call; `kwargs` are the layer's own.

    `known_failures` maps a check to `(backends, why)`: a bug of Keras' own
    layer that the check rightly reports there, shown in plain Keras by
    `tests/test_check_layer_on_keras.py`. The check must FAIL on those
    backends (so the row is dropped when Keras fixes it) and pass elsewhere.
    `wrapped` is the same for the layer inside `keras_tdplus.TimeDistributed`,
    where it differs.
    """
    known_failures = known_failures or {}
    return {
        "init_kwargs": kwargs or {},
        "input_shape": input_shape,
        "known_failures": known_failures,
        "wrapped_known_failures": known_failures if wrapped is None else wrapped,
        **options,
    }


# These keep their state in TensorFlow resources (lookup tables, tf.data) and
# need TensorFlow to be built at all; they run in the tensorflow env only.
NEEDS_TENSORFLOW = {
    "HashedCrossing",
    "Hashing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
}

CHECK_CASES = {
    "Activation": _case({"activation": "relu"}),
    "ActivityRegularization": _case({"l1": 0.1}, expected_num_losses=1),
    "AdaptiveAveragePooling1D": _case({"output_size": 2}, _SEQUENCE),
    "AdaptiveAveragePooling2D": _case({"output_size": 2}),
    "AdaptiveAveragePooling3D": _case({"output_size": 2}, _VOLUME),
    "AdaptiveMaxPooling1D": _case({"output_size": 2}, _SEQUENCE),
    "AdaptiveMaxPooling2D": _case({"output_size": 2}),
    "AdaptiveMaxPooling3D": _case({"output_size": 2}, _VOLUME),
    "Add": _case({}, _PAIR),
    "AdditiveAttention": _case({}, _QUERY_VALUE),
    "AlphaDropout": _case({"rate": 0.1}),
    "Attention": _case({"use_scale": True}, _QUERY_VALUE),
    "AugMix": _case(),
    "AutoContrast": _case(),
    "Average": _case({}, _PAIR),
    "AveragePooling1D": _case({"pool_size": 2}, _SEQUENCE),
    "AveragePooling2D": _case({"pool_size": 2}),
    "AveragePooling3D": _case({"pool_size": 2}, _VOLUME),
    "BatchNormalization": _case({}, (2, 4, 3), expected_num_non_trainable_weights=2),
    "Bidirectional": _case({"layer": layers.GRU(2)}, (2, 4, 3)),
    "CategoryEncoding": _case(
        {"num_tokens": 10},
        (2, 3),
        known_failures={
            check: (_BACKENDS, "a model declares the policy's float16 output, predicts float32")
            for check in ("mixed_float16", "bfloat16")
        },
        **_INTEGERS,
    ),
    "CenterCrop": _case({"height": 4, "width": 4}, expected_output_shape=(2, 4, 4, 3)),
    "Concatenate": _case({}, [(2, 3), (2, 2)], expected_output_shape=(2, 5)),
    "ContrastLimitedAdaptiveHistogramEqualization": _case(),
    "Conv1D": _case({"filters": 4, "kernel_size": 3}, _SEQUENCE),
    "Conv1DTranspose": _case({"filters": 4, "kernel_size": 3}, _SEQUENCE),
    "Conv2D": _case({"filters": 6, "kernel_size": 3, "groups": 3}, (2, 8, 8, 6)),
    "Conv2DTranspose": _case({"filters": 4, "kernel_size": (3, 2), "strides": 2}),
    "Conv3D": _case({"filters": 2, "kernel_size": 2}, _VOLUME),
    "Conv3DTranspose": _case({"filters": 2, "kernel_size": 2}, _VOLUME),
    "ConvLSTM1D": _case({"filters": 2, "kernel_size": 3}, (2, 2, 8, 3)),
    "ConvLSTM2D": _case({"filters": 2, "kernel_size": 3}, (2, 2, 6, 6, 3)),
    "ConvLSTM3D": _case({"filters": 2, "kernel_size": 3}, (2, 2, 4, 4, 4, 3)),
    "Cropping1D": _case({"cropping": 1}, _SEQUENCE),
    "Cropping2D": _case({"cropping": 1}),
    "Cropping3D": _case({"cropping": 1}, _VOLUME),
    "CutMix": _case(
        known_failures={
            "bfloat16": (("tensorflow",), "its mixing weight stays float32 on bfloat16 images")
        }
    ),
    "Dense": _case({"units": 3}, (2, 4)),
    "DepthwiseConv1D": _case({"kernel_size": 3}, _SEQUENCE),
    "DepthwiseConv2D": _case({"kernel_size": 3, "depth_multiplier": 2}),
    "Discretization": _case({"bin_boundaries": [0.0, 0.5]}, (2, 3)),
    "Dot": _case({"axes": 1}, _PAIR),
    "Dropout": _case({"rate": 0.5}),
    "ELU": _case(),
    # The example: `None` in output_shape is a size inferred from the input.
    "EinsumDense": _case(
        {"equation": "abc,cd->abd", "output_shape": (None, 4), "bias_axes": "d"}, (2, 3, 5)
    ),
    "Embedding": _case({"input_dim": 10, "output_dim": 4}, (2, 3), **_INTEGERS),
    "Equalization": _case(
        known_failures={
            check: (_BACKENDS, "at inference it returns its input tensor itself: no model holds it")
            for check in ("eager_call", "training_step", "jit_compile", "keras_file_round_trip")
        },
        wrapped={},  # the wrapper returns a new tensor, so a model holds it
    ),
    "Flatten": _case(),
    "GRU": _case({"units": 3}, (2, 4, 2)),
    "GRUCell": _case({"units": 3}, [(2, 2), (2, 3)], unpack_inputs=True),
    "GaussianDropout": _case({"rate": 0.1}),
    "GaussianNoise": _case({"stddev": 0.1}),
    "GlobalAveragePooling1D": _case({}, _SEQUENCE),
    "GlobalAveragePooling2D": _case(),
    "GlobalAveragePooling3D": _case({}, _VOLUME),
    "GlobalMaxPooling1D": _case({}, _SEQUENCE),
    "GlobalMaxPooling2D": _case(),
    "GlobalMaxPooling3D": _case({}, _VOLUME),
    "GroupNormalization": _case({"groups": 2}, (2, 4, 6)),
    "GroupedQueryAttention": _case(
        {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
        [(2, 4, 6), (2, 5, 6)],
        unpack_inputs=True,
    ),
    "HashedCrossing": _case({"num_bins": 4}, [(2, 1), (2, 1)], **_INTEGERS),
    "Hashing": _case({"num_bins": 4}, (2, 3), **_INTEGERS),
    "Identity": _case(),
    "IntegerLookup": _case({"vocabulary": [1, 2, 3]}, (2, 3), **_INTEGERS),
    "LSTM": _case({"units": 3}, (2, 4, 2)),
    "LSTMCell": _case({"units": 3}, [(2, 2), [(2, 3), (2, 3)]], unpack_inputs=True),
    "LayerNormalization": _case({}, (2, 4, 3)),
    "LeakyReLU": _case(),
    "Masking": _case({"mask_value": 0.0}, (2, 4, 3), supports_masking=True),
    "MaxNumBoundingBoxes": _case({"max_number": 3}),
    "MaxPooling1D": _case({"pool_size": 2}, _SEQUENCE),
    "MaxPooling2D": _case({"pool_size": 2}),
    "MaxPooling3D": _case({"pool_size": 2}, _VOLUME),
    "Maximum": _case({}, _PAIR),
    "MelSpectrogram": _case({"fft_length": 64, "sequence_stride": 32, "num_mel_bins": 8}, (2, 256)),
    "Minimum": _case({}, _PAIR),
    "MixUp": _case(
        known_failures={
            "jit_compile": (("tensorflow",), "XLA cannot compile the gamma draw of its weights")
        }
    ),
    "Mosaic": _case(),
    "MultiHeadAttention": _case(
        {"num_heads": 2, "key_dim": 4}, [(2, 4, 3), (2, 5, 6)], unpack_inputs=True
    ),
    "Multiply": _case({}, _PAIR),
    "Normalization": _case({"mean": 0.5, "variance": 2.0}, (2, 4, 3)),
    "PReLU": _case({}, (2, 4, 3)),
    "Permute": _case({"dims": (2, 1)}, (2, 4, 3), expected_output_shape=(2, 3, 4)),
    "Pipeline": _case({"layers": [layers.Rescaling(0.5), layers.Dense(2)]}, (2, 4, 3)),
    "RMSNormalization": _case({}, (2, 4, 3)),
    "RNN": _case({"cell": layers.LSTMCell(3)}, (2, 4, 2)),
    "RandAugment": _case(),
    "RandomBrightness": _case({"factor": 0.1}),
    "RandomColorDegeneration": _case({"factor": 0.1}),
    "RandomColorJitter": _case(),
    "RandomContrast": _case({"factor": 0.1}),
    "RandomCrop": _case(
        {"height": 4, "width": 4},
        known_failures={
            check: (_BACKENDS, "at inference it returns the uncropped image, not (4, 4)")
            for check in ("training_step", "jit_compile", "time_distributed")
        },
    ),
    "RandomElasticTransform": _case(
        known_failures={"training_step": (("jax",), "model.fit fails on jax")}
    ),
    "RandomErasing": _case(),
    "RandomFlip": _case(),
    "RandomGaussianBlur": _case(),
    "RandomGrayscale": _case(),
    "RandomHue": _case({"factor": 0.1}),
    "RandomInvert": _case(),
    "RandomPerspective": _case(),
    "RandomPosterization": _case({"factor": 4}),
    "RandomRotation": _case({"factor": 0.1}),
    "RandomSaturation": _case({"factor": 0.1}),
    "RandomSharpness": _case({"factor": 0.1}),
    "RandomShear": _case({"x_factor": (0.0, 0.1), "y_factor": (0.0, 0.1)}),
    "RandomTranslation": _case({"height_factor": 0.1, "width_factor": 0.1}),
    "RandomZoom": _case({"height_factor": 0.1}),
    "ReLU": _case(),
    "RepeatVector": _case({"n": 2}, (2, 3), expected_output_shape=(2, 2, 3)),
    "Rescaling": _case({"scale": 0.5}),
    "Reshape": _case({"target_shape": (-1,)}, expected_output_shape=(2, 192)),
    "Resizing": _case({"height": 4, "width": 4}),
    "ReversibleEmbedding": _case({"input_dim": 10, "output_dim": 4}, (2, 3), **_INTEGERS),
    "STFTSpectrogram": _case(
        {"frame_length": 16},
        (2, 100, 1),
        known_failures={"bfloat16": (_BACKENDS, "refuses bfloat16 input, by design")},
    ),
    "SeparableConv1D": _case({"filters": 4, "kernel_size": 3}, _SEQUENCE),
    "SeparableConv2D": _case({"filters": 4, "kernel_size": 3, "depth_multiplier": 2}),
    "SimpleRNN": _case({"units": 3}, (2, 4, 2)),
    "SimpleRNNCell": _case({"units": 3}, [(2, 2), (2, 3)], unpack_inputs=True),
    "Softmax": _case(),
    "Solarization": _case(),
    "SpatialDropout1D": _case({"rate": 0.5}, _SEQUENCE),
    "SpatialDropout2D": _case({"rate": 0.5}),
    "SpatialDropout3D": _case({"rate": 0.5}, _VOLUME),
    "SpectralNormalization": _case({"layer": layers.Dense(3)}, (2, 4)),
    "StackedRNNCells": _case(
        {"cells": [layers.LSTMCell(3), layers.SimpleRNNCell(2)]},
        [(2, 2), [[(2, 3), (2, 3)], [(2, 2)]]],
        unpack_inputs=True,
    ),
    "StringLookup": _case({"vocabulary": ["a", "b"]}, None, input_data=_TEXT),
    "Subtract": _case({}, _PAIR),
    "TernaryDense": _case({"units": 3}, (2, 4)),
    "TextVectorization": _case(
        {"vocabulary": ["a", "b"], "output_sequence_length": 4}, None, input_data=_TEXT[:, :1]
    ),
    "TimeDistributed": _case({"layer": layers.Dense(2)}, (2, 4, 3)),
    "UnitNormalization": _case(),
    "UpSampling1D": _case({"size": 2}, _SEQUENCE),
    "UpSampling2D": _case({"size": 2}),
    "UpSampling3D": _case({"size": 2}, _VOLUME),
    "ZeroPadding1D": _case({"padding": 1}, _SEQUENCE),
    "ZeroPadding2D": _case({"padding": 1}),
    "ZeroPadding3D": _case({"padding": 1}, _VOLUME),
}

CANNOT_RUN = {
    "Layer": "the abstract base class: its call() is not implemented",
    "Wrapper": "the abstract base of wrappers: it has no call() of its own",
    "InputLayer": "not called on tensors: it makes a model's symbolic input",
    "FlaxLayer": "wraps a Flax module: needs flax and the jax backend",
    "JaxLayer": "wraps a JAX function: runs on the jax backend only",
    "TFSMLayer": "wraps a TensorFlow SavedModel from disk: needs an exported model",
    "TorchModuleWrapper": "wraps a torch.nn.Module: runs on the torch backend only",
    "Lambda": "wraps arbitrary Python code: a lambda's config holds bytecode, "
    "which a .keras file does not reload in safe mode",
}
