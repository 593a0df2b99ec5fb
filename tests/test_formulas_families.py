"""Drawn layers of every family added since test_params, counted and checked against Keras.

Derandomized with a bounded number of examples, so every run draws the same
layers; test_params.py draws Dense, the recurrent layers, Conv, ConvLSTM,
Embedding, the normalizations, the wrappers and the weightless layers.
"""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers
from test_params import _STRATEGIES as _OLDER

from keras_tdplus import params
from keras_tdplus.params import count_params, explain_params

_ZERO = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
_RNN = {**_ZERO, "recurrent_initializer": "zeros"}
_SIZE = st.integers(1, 5)
_ATTENTION = ("MultiHeadAttention", "GroupedQueryAttention")


def _spatial(draw, rank, channels_first=False):
    dims = [draw(st.integers(3, 6)) for _ in range(rank)]
    channels = draw(_SIZE)
    return (None, channels, *dims) if channels_first else (None, *dims, channels)


@st.composite
def _conv_transpose(draw):
    rank = draw(st.integers(1, 3))
    cls = [layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose][rank - 1]
    kwargs = {"use_bias": draw(st.booleans()), "trainable": draw(st.booleans()), **_ZERO}
    filters, kernel = draw(_SIZE), draw(st.integers(1, 3))
    return (lambda: cls(filters, kernel, **kwargs)), _spatial(draw, rank)


@st.composite
def _depthwise(draw, separable=False):
    rank = draw(st.integers(1, 2))
    first = draw(st.booleans()) and keras.config.backend() != "tensorflow"
    kwargs = {
        "use_bias": draw(st.booleans()),
        "depth_multiplier": draw(st.integers(1, 3)),
        "data_format": "channels_first" if first else "channels_last",
        "depthwise_initializer": "zeros",
        "bias_initializer": "zeros",
    }
    if separable:
        cls = [layers.SeparableConv1D, layers.SeparableConv2D][rank - 1]
        filters = draw(_SIZE)
        kwargs["pointwise_initializer"] = "zeros"
        return (lambda: cls(filters, 2, **kwargs)), _spatial(draw, rank, first)
    cls = [layers.DepthwiseConv1D, layers.DepthwiseConv2D][rank - 1]
    return (lambda: cls(2, **kwargs)), _spatial(draw, rank, first)


@st.composite
def _multi_head(draw):
    heads, key_dim = draw(st.integers(1, 3)), draw(_SIZE)
    kwargs = {
        "value_dim": draw(st.one_of(st.none(), _SIZE)),
        "use_bias": draw(st.booleans()),
        "output_shape": draw(st.one_of(st.none(), _SIZE, st.tuples(_SIZE, _SIZE))),
        **_ZERO,
    }
    shapes = [(None, draw(_SIZE), draw(_SIZE)) for _ in range(draw(st.integers(1, 3)))]
    if len(shapes) == 3:
        shapes[2] = (None, shapes[1][1], shapes[2][2])
    return (lambda: layers.MultiHeadAttention(heads, key_dim, **kwargs)), (
        shapes if len(shapes) > 1 else shapes[0]
    )


@st.composite
def _grouped_query(draw):
    kv_heads = draw(st.integers(1, 2))
    heads = kv_heads * draw(st.integers(1, 2))
    head_dim, features = draw(_SIZE), draw(_SIZE)
    kwargs = {"use_bias": draw(st.booleans()), "use_gate": draw(st.booleans()), **_ZERO}
    shapes = [(None, draw(_SIZE), features), (None, draw(_SIZE), features)]
    return (lambda: layers.GroupQueryAttention(head_dim, heads, kv_heads, **kwargs)), shapes


@st.composite
def _attention(draw):
    features = draw(_SIZE)
    shapes = [(None, draw(_SIZE), features), (None, draw(_SIZE), features)]
    if draw(st.booleans()):
        use_scale = draw(st.booleans())
        return (lambda: layers.AdditiveAttention(use_scale=use_scale)), shapes
    use_scale, mode = draw(st.booleans()), draw(st.sampled_from(["dot", "concat"]))
    return (lambda: layers.Attention(use_scale=use_scale, score_mode=mode)), shapes


def _cell(draw):
    cls = draw(st.sampled_from([layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell]))
    kwargs = {"use_bias": draw(st.booleans()), **_RNN}
    if cls is layers.GRUCell:
        kwargs["reset_after"] = draw(st.booleans())
    units = draw(_SIZE)
    return lambda: cls(units, **kwargs)


@st.composite
def _cells(draw):
    make = _cell(draw)
    return make, (None, draw(_SIZE))


@st.composite
def _rnn(draw):
    makers = [_cell(draw) for _ in range(draw(st.integers(1, 3)))]
    shape = (None, draw(st.sampled_from([None, 2])), draw(_SIZE))
    if len(makers) == 1:
        return (lambda: layers.RNN(makers[0]())), shape
    return (lambda: layers.RNN([make() for make in makers])), shape


@st.composite
def _stacked(draw):
    makers = [_cell(draw) for _ in range(draw(st.integers(1, 3)))]
    return (lambda: layers.StackedRNNCells([make() for make in makers])), (None, draw(_SIZE))


@st.composite
def _group_norm(draw):
    groups = draw(st.integers(1, 3))
    channels = groups * draw(_SIZE)
    kwargs = {"center": draw(st.booleans()), "scale": draw(st.booleans())}
    shape = (None, draw(_SIZE), channels)
    return (lambda: layers.GroupNormalization(groups, **kwargs)), shape


@st.composite
def _rms_norm(draw):
    axis = draw(st.sampled_from([-1, 1, [1, 2]]))
    return (lambda: layers.RMSNormalization(axis=axis)), (None, draw(_SIZE), draw(_SIZE))


@st.composite
def _normalization(draw):
    axis = draw(st.sampled_from([-1, 1, (1, 2), None]))
    given = draw(st.booleans())
    kwargs = {"mean": 0.0, "variance": 1.0} if given else {}
    return (lambda: layers.Normalization(axis=axis, **kwargs)), (None, draw(_SIZE), draw(_SIZE))


@st.composite
def _prelu(draw):
    shape = (None, draw(_SIZE), draw(_SIZE))
    shared = draw(st.sampled_from([None, [1], [2], [1, 2]]))
    return (lambda: layers.PReLU(shared_axes=shared)), shape


@st.composite
def _reversible(draw):
    tie = draw(st.booleans())
    dims = (draw(st.integers(2, 20)), draw(_SIZE))
    kwargs = {"tie_weights": tie, "embeddings_initializer": "zeros"}
    return (lambda: layers.ReversibleEmbedding(*dims, **kwargs)), (None, draw(_SIZE))


@st.composite
def _spectral(draw):
    units = draw(_SIZE)
    if draw(st.booleans()):
        return (lambda: layers.SpectralNormalization(layers.Dense(units, **_ZERO))), (
            None,
            draw(_SIZE),
        )
    make = lambda: layers.SpectralNormalization(layers.Conv1D(units, 2, **_ZERO))  # noqa: E731
    return make, (None, 4, draw(_SIZE))


@st.composite
def _pipeline(draw):
    return (
        lambda: layers.Pipeline([layers.Rescaling(0.5), layers.Normalization()]),
        (None, draw(_SIZE), draw(_SIZE)),
    )


@st.composite
def _ternary_dense(draw):
    units, use_bias = draw(_SIZE), draw(st.booleans())
    return (lambda: layers.TernaryDense(units, use_bias=use_bias)), (None, draw(_SIZE))


_STRATEGIES = {
    "Conv1DTranspose": _conv_transpose(),
    "DepthwiseConv2D": _depthwise(),
    "SeparableConv2D": _depthwise(separable=True),
    "MultiHeadAttention": _multi_head(),
    "GroupedQueryAttention": _grouped_query(),
    "Attention": _attention(),
    "LSTMCell": _cells(),
    "RNN": _rnn(),
    "StackedRNNCells": _stacked(),
    "GroupNormalization": _group_norm(),
    "RMSNormalization": _rms_norm(),
    "Normalization": _normalization(),
    "PReLU": _prelu(),
    "ReversibleEmbedding": _reversible(),
    "SpectralNormalization": _spectral(),
    "Pipeline": _pipeline(),
}
# Classes newer than the pinned Keras (3.15.1) are drawn where the installed Keras has them
# (the keras-nightly env).
_NEWER = {"TernaryDense": _ternary_dense()}
_STRATEGIES.update({name: drawn for name, drawn in _NEWER.items() if hasattr(layers, name)})
# Formulas a strategy above reaches under another name.
_ALSO = {
    "Conv2DTranspose": "Conv1DTranspose",
    "Conv3DTranspose": "Conv1DTranspose",
    "DepthwiseConv1D": "DepthwiseConv2D",
    "SeparableConv1D": "SeparableConv2D",
    "AdditiveAttention": "Attention",
    "GRUCell": "LSTMCell",
    "SimpleRNNCell": "LSTMCell",
}
# Checked once each in test_formulas_coverage.py: their weights do not vary
# with options worth drawing, or Keras builds them slowly.
_FIXED = {"ConvLSTM3D", "STFTSpectrogram", "LayerScale", "OpNode"}


@pytest.mark.backend_independent
def test_every_formula_is_drawn_here_or_in_test_params():
    from keras_tdplus.params._explain import zero_weights
    from keras_tdplus.params._registry import REGISTRY

    weightless = {cls.__name__ for cls, entry in REGISTRY.items() if entry.weights is zero_weights}
    drawn = set(_STRATEGIES) | set(_ALSO) | set(_OLDER) | _FIXED | weightless | set(_NEWER)
    assert drawn >= set(params.covered_layers()) - {"Sequential", "Functional"}


def _size(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def _build(layer, shape):
    if isinstance(shape, list):
        tensors = [keras.KerasTensor(s) for s in shape]
        if type(layer).__name__ in _ATTENTION:
            layer(*tensors[:2], key=tensors[2] if len(tensors) > 2 else None)
        else:
            layer(tensors)
    elif type(layer).__name__ in _ATTENTION:
        layer(keras.KerasTensor(shape), keras.KerasTensor(shape))
    elif isinstance(layer, layers.Pipeline):
        layer(keras.KerasTensor(shape))
    else:
        layer.build(shape)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(sorted(_STRATEGIES)).flatmap(lambda name: _STRATEGIES[name]))
def test_drawn_layers_count_like_keras(case):
    make, shape = case
    layer = make()
    explanation = explain_params(layer, shape)
    assert not layer.weights
    assert count_params(keras.saving.serialize_keras_object(layer), shape) == explanation.total
    _build(layer, shape)
    assert explanation.total == layer.count_params()
    assert explanation.trainable == _size(layer.trainable_weights)
    assert explanation.non_trainable == _size(layer.non_trainable_weights)
    expected = sorted((tuple(int(d) for d in w.shape), bool(w.trainable)) for w in layer.weights)
    assert sorted((w.shape, w.trainable) for w in explanation.weights) == expected
