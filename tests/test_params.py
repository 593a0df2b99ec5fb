"""count_params / explain_params / param_table: counts without building, with the working."""

import dataclasses
import doctest
import inspect
import json
import math
import os
import zipfile

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers

import keras_tdplus
from keras_tdplus import SequenceShapeError, TimeDistributedDense, cli, params
from keras_tdplus.cli._params import main as cli_main
from keras_tdplus.params import (
    ParamExplanation,
    ParamTable,
    count_params,
    explain_params,
    param_table,
)


def _evaluate(expression):
    """The value of a formula such as `4 * ((1 + 1) * 5 + 5^2)`."""
    assert set(expression) <= set("0123456789+-*/^() "), expression
    return eval(expression.replace("^", "**"), {"__builtins__": {}})  # noqa: S307


def _weights_of(layer):
    trainable = {id(w) for w in layer.trainable_weights}
    return sorted((tuple(int(d) for d in w.shape), id(w) in trainable) for w in layer.weights)


def _size(weights):
    return int(sum(np.prod(w.shape) for w in weights))


# The article's three models.


def _one_to_one():
    return keras.Sequential([keras.Input((1, 1)), layers.LSTM(5), layers.Dense(1)])


def _many_to_one():
    return keras.Sequential([keras.Input((5, 1)), layers.LSTM(5), layers.Dense(5)])


def _many_to_many():
    return keras.Sequential(
        [
            keras.Input((5, 1)),
            layers.LSTM(5, return_sequences=True),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )


ARTICLE = [
    (_one_to_one, 146, [140, 6], ["4 * ((1 + 1) * 5 + 5^2)", "5 * 1 + 1"]),
    (_many_to_one, 170, [140, 30], ["4 * ((1 + 1) * 5 + 5^2)", "5 * 5 + 5"]),
    (_many_to_many, 146, [140, 6], ["4 * ((1 + 1) * 5 + 5^2)", "5 * 1 + 1"]),
]


@pytest.mark.parametrize("make, total, counts, working", ARTICLE)
@pytest.mark.backend_independent
def test_article_models(make, total, counts, working):
    model = make()
    table = param_table(model)
    assert isinstance(table, ParamTable)
    assert [row.total for row in table.rows] == counts
    assert [row.substituted for row in table.rows] == working
    assert (table.total, table.trainable, table.non_trainable) == (total, total, 0)
    assert model.count_params() == total
    for layer, count in zip(model.layers, counts, strict=True):
        assert count_params(layer, (None, *layer.input.shape[1:])) == count


@pytest.mark.backend_independent
def test_article_lstm_explanation():
    explanation = explain_params(layers.LSTM(5), (None, 1, 1))
    assert isinstance(explanation, ParamExplanation)
    assert explanation.formula == "4 * ((inputs + 1) * units + units^2)"
    assert explanation.substituted == "4 * ((1 + 1) * 5 + 5^2)"
    assert (explanation.total, explanation.trainable, explanation.non_trainable) == (140, 140, 0)
    assert str(explanation) == "LSTM(units=5) on inputs=1: n = 4 * ((1 + 1) * 5 + 5^2) = 140"
    assert str(explain_params(layers.Dense(1), (None, 5))) == (
        "Dense(units=1) on inputs=5: n = 5 * 1 + 1 = 6"
    )
    many_to_many_head = layers.TimeDistributed(layers.Dense(1))
    assert str(explain_params(many_to_many_head, (None, 5, 5))) == (
        "TimeDistributed(Dense(units=1)) on inputs=5: n = 5 * 1 + 1 = 6"
    )


@pytest.mark.backend_independent
def test_explanation_repr_and_to_dict():
    explanation = explain_params(layers.LSTM(5, name="lstm"), (None, 1, 1))
    assert repr(explanation) == (
        "ParamExplanation(layer_name='lstm', class_name='LSTM', total=140, trainable=140, "
        "non_trainable=0, formula='4 * ((inputs + 1) * units + units^2)')"
    )
    data = json.loads(json.dumps(explanation.to_dict()))
    assert data["total"] == 140 and data["substituted"] == "4 * ((1 + 1) * 5 + 5^2)"
    assert [(w["name"], w["shape"]) for w in data["weights"]] == [
        ("kernel", [1, 20]),
        ("recurrent_kernel", [5, 20]),
        ("bias", [20]),
    ]


@pytest.mark.backend_independent
def test_table_prints_like_summary_with_a_formula_column():
    model = keras.Sequential(
        [keras.Input((1, 1)), layers.LSTM(5, name="lstm"), layers.Dense(1, name="dense")],
        name="one_to_one",
    )
    lines = str(param_table(model)).splitlines()
    assert lines == [
        'Model: "one_to_one"',
        "┏━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓",
        "┃ Layer (type)  ┃ Output Shape ┃ Formula                 ┃ Param # ┃",
        "┡━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩",
        "│ lstm (LSTM)   │ (None, 5)    │ 4 * ((1 + 1) * 5 + 5^2) │     140 │",
        "├───────────────┼──────────────┼─────────────────────────┼─────────┤",
        "│ dense (Dense) │ (None, 1)    │ 5 * 1 + 1               │       6 │",
        "└───────────────┴──────────────┴─────────────────────────┴─────────┘",
        " Total params: 146",
        " Trainable params: 146",
        " Non-trainable params: 0",
    ]
    assert json.loads(json.dumps(param_table(model).to_dict()))["total"] == 146
    assert repr(param_table(model)).endswith("rows=2, total=146, trainable=146, non_trainable=0)")


def test_docstring_examples():
    result = doctest.testmod(params, extraglobs={"keras": keras}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


# Every covered layer against Keras itself.

_DTYPES = st.sampled_from([None, "float32", "mixed_float16", "mixed_bfloat16"])
_SIZE = st.integers(1, 5)


# Constant initializers: random ones compile per weight shape on JAX, which
# would make this file slow without testing anything more about the counts.
_KERNEL_INIT = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
_RECURRENT_INIT = {**_KERNEL_INIT, "recurrent_initializer": "zeros"}


@st.composite
def _base(draw, init=None):
    return {"trainable": draw(st.booleans()), "dtype": draw(_DTYPES), **(init or {})}


def _shape(draw, rank, size=_SIZE):
    return (None, *(draw(size) for _ in range(rank - 1)))


@st.composite
def _dense(draw, cls=layers.Dense, min_rank=2):
    units, use_bias = draw(st.integers(1, 6)), draw(st.booleans())
    kwargs = draw(_base(_KERNEL_INIT))
    shape = _shape(draw, draw(st.integers(min_rank, min_rank + 2)))
    return (lambda: cls(units, use_bias=use_bias, **kwargs)), shape


@st.composite
def _recurrent(draw, name):
    kwargs = draw(_base(_RECURRENT_INIT))
    kwargs.update(units=draw(st.integers(1, 6)), use_bias=draw(st.booleans()))
    kwargs["return_sequences"] = draw(st.booleans())
    if name == "GRU":
        kwargs["reset_after"] = draw(st.booleans())
    shape = (None, draw(st.sampled_from([None, 1, 3])), draw(_SIZE))
    return (lambda: getattr(layers, name)(**kwargs)), shape


@st.composite
def _conv(draw, rank):
    groups = draw(st.integers(1, 3))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(k + draw(st.integers(0, 2)) for k in kernel)
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    kwargs = draw(_base(_KERNEL_INIT))
    kwargs.update(
        filters=filters,
        kernel_size=kernel[0] if rank == 1 and draw(st.booleans()) else kernel,
        groups=groups,
        use_bias=draw(st.booleans()),
        padding=draw(st.sampled_from(["valid", "same"])),
        data_format=data_format,
    )
    last = data_format == "channels_last"
    shape = (None, *spatial, channels) if last else (None, channels, *spatial)
    return (lambda: getattr(layers, f"Conv{rank}D")(**kwargs)), shape


@st.composite
def _conv_lstm(draw, rank):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(k + draw(st.integers(0, 1)) for k in kernel)
    channels, steps = draw(st.integers(1, 3)), draw(st.sampled_from([None, 2]))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    kwargs = draw(_base(_RECURRENT_INIT))
    kwargs.update(
        filters=draw(st.integers(1, 3)),
        kernel_size=kernel,
        use_bias=draw(st.booleans()),
        data_format=data_format,
        padding=draw(st.sampled_from(["valid", "same"])),
        return_sequences=draw(st.booleans()),
    )
    last = data_format == "channels_last"
    shape = (None, steps, *spatial, channels) if last else (None, steps, channels, *spatial)
    return (lambda: getattr(layers, f"ConvLSTM{rank}D")(**kwargs)), shape


@st.composite
def _embedding(draw):
    kwargs = draw(_base({"embeddings_initializer": "zeros"}))
    kwargs.update(input_dim=draw(st.integers(1, 20)), output_dim=draw(st.integers(1, 6)))
    kwargs["mask_zero"] = draw(st.booleans())
    return (lambda: layers.Embedding(**kwargs)), _shape(draw, draw(st.integers(1, 3)))


@st.composite
def _layer_normalization(draw):
    rank = draw(st.integers(2, 4))
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    axis = draw(st.sampled_from([-1, axes, [a - rank for a in axes]]))
    kwargs = draw(_base())
    kwargs.update(axis=axis, center=draw(st.booleans()), scale=draw(st.booleans()))
    kwargs["rms_scaling"] = draw(st.booleans())
    return (lambda: layers.LayerNormalization(**kwargs)), _shape(draw, rank)


# BatchNormalization has taken `renorm` since keras 3.14 (the floors env runs 3.13).
_HAS_RENORM = "renorm" in inspect.signature(layers.BatchNormalization).parameters


@st.composite
def _batch_normalization(draw):
    rank = draw(st.integers(2, 4))
    kwargs = draw(_base())
    kwargs.update(axis=draw(st.sampled_from([-1, 1])), center=draw(st.booleans()))
    kwargs.update(scale=draw(st.booleans()))
    if _HAS_RENORM:
        kwargs.update(renorm=draw(st.booleans()))
    return (lambda: layers.BatchNormalization(**kwargs)), _shape(draw, rank)


# (equation, input rank, output_shape with U and V for drawn sizes, bias_axes choices)
_EINSUM = [
    ("ab,bc->ac", 2, ("U",), [None, "c"]),
    ("abc,cd->abd", 3, (None, "U"), [None, "d"]),
    ("abc,cde->abde", 3, (None, "U", "V"), [None, "e", "de", "d"]),
    ("abc,bcd->ad", 3, ("U",), [None, "d"]),
    ("abcd,cde->abe", 4, (None, "U"), [None, "e"]),
    ("...b,bc->...c", 2, ("U",), [None, "c"]),
    ("...b,bc->...c", 4, ("U",), [None, "c"]),
    ("...bc,cd->...bd", 3, (None, "U"), ["d", "bd"]),
    ("ab...,bc->ac...", 3, ("U",), [None, "c"]),
    ("ab...,bc->ac...", 4, ("U",), [None, "c"]),
]


@st.composite
def _einsum_dense(draw):
    equation, rank, output, bias_choices = draw(st.sampled_from(_EINSUM))
    shape = _shape(draw, rank)
    sizes = {"U": draw(_SIZE), "V": draw(_SIZE)}
    output_shape = tuple(sizes.get(d, d) for d in output)
    if equation == "...bc,cd->...bd":
        output_shape = (shape[-2], sizes["U"])
    kwargs = draw(_base(_KERNEL_INIT))
    kwargs.update(equation=equation, output_shape=output_shape)
    kwargs["bias_axes"] = draw(st.sampled_from(bias_choices))
    return (lambda: layers.EinsumDense(**kwargs)), shape


def _fixed(make, rank=3, merge=False):
    @st.composite
    def case(draw):
        shape = _shape(draw, rank)
        return make, ([shape, shape] if merge else shape)

    return case()


_ZERO = {
    "InputLayer": _fixed(lambda: layers.InputLayer(shape=(4, 3))),
    "Dropout": _fixed(lambda: layers.Dropout(0.5)),
    "SpatialDropout1D": _fixed(lambda: layers.SpatialDropout1D(0.5)),
    "SpatialDropout2D": _fixed(lambda: layers.SpatialDropout2D(0.5), rank=4),
    "SpatialDropout3D": _fixed(lambda: layers.SpatialDropout3D(0.5), rank=5),
    "GaussianNoise": _fixed(lambda: layers.GaussianNoise(0.1)),
    "GaussianDropout": _fixed(lambda: layers.GaussianDropout(0.1)),
    "AlphaDropout": _fixed(lambda: layers.AlphaDropout(0.1)),
    "ActivityRegularization": _fixed(lambda: layers.ActivityRegularization(l1=0.1)),
    "Masking": _fixed(lambda: layers.Masking(0.0)),
    "Reshape": _fixed(lambda: layers.Reshape((-1,))),
    "Flatten": _fixed(lambda: layers.Flatten()),
    "RepeatVector": _fixed(lambda: layers.RepeatVector(3), rank=2),
    "Permute": _fixed(lambda: layers.Permute((2, 1))),
    "Activation": _fixed(lambda: layers.Activation("relu")),
    "ReLU": _fixed(lambda: layers.ReLU()),
    "LeakyReLU": _fixed(lambda: layers.LeakyReLU()),
    "ELU": _fixed(lambda: layers.ELU()),
    "Softmax": _fixed(lambda: layers.Softmax()),
    "Identity": _fixed(lambda: layers.Identity()),
    "ZeroPadding1D": _fixed(lambda: layers.ZeroPadding1D(1)),
    "ZeroPadding2D": _fixed(lambda: layers.ZeroPadding2D(1), rank=4),
    "Cropping1D": _fixed(lambda: layers.Cropping1D((0, 0))),
    "Cropping2D": _fixed(lambda: layers.Cropping2D(0), rank=4),
    "UpSampling1D": _fixed(lambda: layers.UpSampling1D(2)),
    "UpSampling2D": _fixed(lambda: layers.UpSampling2D(2), rank=4),
    "MaxPooling1D": _fixed(lambda: layers.MaxPooling1D(1)),
    "MaxPooling2D": _fixed(lambda: layers.MaxPooling2D(1), rank=4),
    "AveragePooling1D": _fixed(lambda: layers.AveragePooling1D(1)),
    "AveragePooling2D": _fixed(lambda: layers.AveragePooling2D(1), rank=4),
    "GlobalMaxPooling1D": _fixed(lambda: layers.GlobalMaxPooling1D()),
    "GlobalMaxPooling2D": _fixed(lambda: layers.GlobalMaxPooling2D(), rank=4),
    "GlobalAveragePooling1D": _fixed(lambda: layers.GlobalAveragePooling1D()),
    "GlobalAveragePooling2D": _fixed(lambda: layers.GlobalAveragePooling2D(), rank=4),
    "Add": _fixed(lambda: layers.Add(), merge=True),
    "Subtract": _fixed(lambda: layers.Subtract(), merge=True),
    "Multiply": _fixed(lambda: layers.Multiply(), merge=True),
    "Average": _fixed(lambda: layers.Average(), merge=True),
    "Maximum": _fixed(lambda: layers.Maximum(), merge=True),
    "Minimum": _fixed(lambda: layers.Minimum(), merge=True),
    "Concatenate": _fixed(lambda: layers.Concatenate(), merge=True),
}

_LEAVES = {
    "Dense": _dense(),
    "TimeDistributedDense": _dense(TimeDistributedDense, min_rank=3),
    "EinsumDense": _einsum_dense(),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
    "SimpleRNN": _recurrent("SimpleRNN"),
    "Embedding": _embedding(),
    "Conv1D": _conv(1),
    "Conv2D": _conv(2),
    "Conv3D": _conv(3),
    "ConvLSTM1D": _conv_lstm(1),
    "ConvLSTM2D": _conv_lstm(2),
    "LayerNormalization": _layer_normalization(),
    "BatchNormalization": _batch_normalization(),
}
_RNNS = ["LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D"]


@st.composite
def _bidirectional(draw):
    make_inner, shape = draw(st.sampled_from(_RNNS).flatmap(lambda n: _LEAVES[n]))
    merge_mode = draw(st.sampled_from(["concat", "sum", "mul", "ave", None]))
    other_backward = draw(st.booleans())
    kwargs = draw(_base())

    def make():
        inner = make_inner()
        backward = None
        if other_backward:
            config = inner.get_config()
            size = "units" if "units" in config else "filters"
            config.update({size: config[size] + 1, "go_backwards": True, "name": "backward"})
            backward = type(inner).from_config(config)
        return layers.Bidirectional(inner, merge_mode=merge_mode, backward_layer=backward, **kwargs)

    return make, shape


@st.composite
def _time_distributed(draw, cls):
    inner_names = [*_LEAVES, "Bidirectional", "Dropout", "Flatten", "Activation"]
    name = draw(st.sampled_from(inner_names))
    make_inner, inner_shape = draw(_STRATEGIES[name])
    if len(inner_shape) < 2:
        inner_shape = (*inner_shape, draw(_SIZE))
    steps = draw(st.sampled_from([None, 1, 3]))
    return (lambda: cls(make_inner())), (inner_shape[0], steps, *inner_shape[1:])


_STRATEGIES = {**_LEAVES, **_ZERO, "Bidirectional": _bidirectional()}
_STRATEGIES["TimeDistributed"] = st.one_of(
    _time_distributed(layers.TimeDistributed), _time_distributed(keras_tdplus.TimeDistributed)
)
# Layers with a formula are drawn four times as often as those with none.
_NAMES = sorted(_STRATEGIES) + [n for n in sorted(_STRATEGIES) if n not in _ZERO] * 3


@pytest.mark.backend_independent
def test_strategies_cover_every_covered_layer():
    # The families added since are drawn in test_formulas_families.py, which checks the union.
    assert set(_STRATEGIES) <= set(params.covered_layers()) - {"Sequential", "Functional"}


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(_NAMES).flatmap(lambda name: _STRATEGIES[name]))
def test_counts_match_keras_for_drawn_layers(case):
    make, shape = case
    layer = make()
    built = layer.built  # True from the start for layers with nothing to build
    explanation = explain_params(layer, shape)
    assert layer.built == built and layer.weights == []
    config = keras.saving.serialize_keras_object(layer)
    assert count_params(config, shape) == explanation.total
    assert _evaluate(explanation.substituted) == explanation.total

    layer.build(shape)
    assert explanation.total == layer.count_params()
    assert explanation.trainable == _size(layer.trainable_weights)
    assert explanation.non_trainable == _size(layer.non_trainable_weights)
    assert sorted((w.shape, w.trainable) for w in explanation.weights) == _weights_of(layer)


# Layers in detail.


_FORMULAS = [
    (
        layers.GRU(5),
        (None, 3, 1),
        "3 * ((inputs + 2) * units + units^2)",
        "3 * ((1 + 2) * 5 + 5^2)",
        120,
    ),
    (
        layers.GRU(5, reset_after=False),
        (None, 3, 1),
        "3 * ((inputs + 1) * units + units^2)",
        "3 * ((1 + 1) * 5 + 5^2)",
        105,
    ),
    (
        layers.SimpleRNN(5, use_bias=False),
        (None, 3, 2),
        "inputs * units + units^2",
        "2 * 5 + 5^2",
        35,
    ),
    (
        layers.Conv2D(8, 3, groups=2),
        (None, 9, 9, 4),
        "k1 * k2 * (channels / groups) * filters + filters",
        "3 * 3 * (4 / 2) * 8 + 8",
        152,
    ),
    (layers.Conv1D(4, 3, use_bias=False), (None, 9, 2), "k1 * channels * filters", "3 * 2 * 4", 24),
    (
        layers.ConvLSTM2D(3, (3, 2)),
        (None, 4, 9, 9, 2),
        "4 * (k1 * k2 * (channels + filters) * filters + filters)",
        "4 * (3 * 2 * (2 + 3) * 3 + 3)",
        372,
    ),
    (layers.Embedding(10, 4), (None, 7), "input_dim * output_dim", "10 * 4", 40),
    (
        layers.EinsumDense("abc,cde->abde", (None, 4, 3), bias_axes="de"),
        (None, 5, 8),
        "c * d * e + d * e",
        "8 * 4 * 3 + 4 * 3",
        108,
    ),
    (layers.BatchNormalization(), (None, 8), "2 * features + 2 * features", "2 * 8 + 2 * 8", 32),
    (layers.LayerNormalization(center=False), (None, 2, 8), "features", "8", 8),
    (
        layers.Bidirectional(layers.LSTM(5)),
        (None, 3, 1),
        "2 * (4 * ((inputs + 1) * units + units^2))",
        "2 * (4 * ((1 + 1) * 5 + 5^2))",
        280,
    ),
    (layers.Dropout(0.5), (None, 3), "0", "0", 0),
]


@pytest.mark.parametrize("layer, shape, formula, substituted, total", _FORMULAS)
@pytest.mark.backend_independent
def test_formulas(layer, shape, formula, substituted, total):
    explanation = explain_params(layer, shape)
    assert (explanation.formula, explanation.substituted) == (formula, substituted)
    assert explanation.total == total
    layer.build(shape)
    assert layer.count_params() == total


@pytest.mark.backend_independent
def test_batch_normalization_split_and_frozen_layers():
    explanation = explain_params(layers.BatchNormalization(), (None, 8))
    assert (explanation.trainable, explanation.non_trainable) == (16, 16)
    assert str(explanation) == (
        "BatchNormalization on features=8: n = 2 * 8 + 2 * 8 = 32 (16 trainable, 16 non-trainable)"
    )
    frozen = explain_params(layers.Dense(3, trainable=False), (None, 2))
    assert (frozen.trainable, frozen.non_trainable) == (0, 9)


@pytest.mark.backend_independent
def test_bidirectional_with_its_own_backward_layer_adds_both():
    backward = layers.LSTM(3, go_backwards=True)
    layer = layers.Bidirectional(layers.LSTM(2), backward_layer=backward, merge_mode=None)
    explanation = explain_params(layer, (None, 4, 1))
    assert explanation.substituted == "(4 * ((1 + 1) * 2 + 2^2)) + (4 * ((1 + 1) * 3 + 3^2))"
    assert explanation.total == 32 + 60
    assert str(explanation).startswith(
        "Bidirectional(LSTM(units=2), backward_layer=LSTM(units=3), merge_mode=None)"
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_does_not_change_counts(policy):
    keras.config.set_dtype_policy(policy)
    for layer, shape in [
        (layers.LSTM(5), (None, 1, 1)),
        (layers.LayerNormalization(), (None, 4)),
        (layers.BatchNormalization(), (None, 2, 4)),
    ]:
        total = count_params(layer, shape)
        layer.build(shape)
        assert total == layer.count_params()
    assert param_table(_many_to_one()).total == 170


@pytest.mark.backend_independent
def test_counting_leaves_the_layer_unbuilt():
    layer = layers.Bidirectional(layers.LSTM(4))
    wrapped = keras_tdplus.TimeDistributed(layers.Conv2D(2, 3))
    assert count_params(layer, (None, 3, 2)) == 2 * 4 * ((2 + 1) * 4 + 16)
    assert count_params(wrapped, (None, 3, 5, 5, 2)) == 3 * 3 * 2 * 2 + 2
    for unbuilt in (layer, layer.forward_layer, wrapped, wrapped.layer):
        assert not unbuilt.built and unbuilt.weights == []


@pytest.mark.backend_independent
def test_built_layers_are_counted_too():
    layer = layers.GRU(3)
    layer.build((None, 2, 4))
    assert count_params(layer, (None, 2, 4)) == layer.count_params() == 3 * ((4 + 2) * 3 + 9)


@pytest.mark.backend_independent
def test_config_dicts_are_counted():
    config = keras.saving.serialize_keras_object(TimeDistributedDense(3))
    assert config["registered_name"] == "keras_tdplus>TimeDistributedDense"
    assert count_params(config, (None, 5, 2)) == 9
    assert count_params({"class_name": "Dense", "config": {"units": 2}}, (None, 3)) == 8


# Errors.


class _Scale(layers.Layer):
    """A user's layer: one weight per feature, unknown to the calculator."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

    def call(self, x):
        return x * self.scale


def test_unknown_layer_names_its_class_and_suggests_allow_build():
    layer = _Scale(name="scale")
    with pytest.raises(
        ValueError,
        match=r"^Layer 'scale' \(_Scale\) has no parameter formula in keras_tdplus\. "
        r"Fix: pass allow_build=True to count it by building a throwaway copy, or register one "
        r"with keras_tdplus\.register_param_formula$",
    ):
        count_params(layer, (None, 3))
    explanation = explain_params(layer, (None, 3), allow_build=True)
    assert explanation.total == 3 and not layer.built
    assert str(explanation) == "_Scale (counted on a built copy): n = 3"


@keras.saving.register_keras_serializable(package="test_params")
class _CountingInitializer(keras.initializers.Initializer):
    """Counts the values it is asked for: each would be a weight allocated."""

    calls = 0

    def __call__(self, shape, dtype=None):
        type(self).calls += 1
        return keras.ops.zeros(shape, dtype=dtype)


@keras.saving.register_keras_serializable(package="test_params")
class _Opaque(layers.Layer):
    """A user's layer with one weight, unknown to the calculator and the lint."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), initializer=_CountingInitializer())

    def call(self, x):
        return x @ self.w


def test_a_throwaway_copy_is_never_given_values_later(tmp_path, capsys):
    # Keras gives the variables made in StatelessScope(initialize_variables=False) their
    # values when the next outermost stateless scope closes: the copies a count or a
    # check builds must not be among them, or a user's next step allocates their weights.
    model = keras.Sequential([keras.Input((5, 3)), _Opaque(name="opaque")])
    config = model.get_config()
    model.save(tmp_path / "opaque.keras")
    assert count_params(_Opaque(), (None, 5, 3), allow_build=True) == 12
    assert param_table(config, allow_build=True).total == 12
    assert cli.main(["check", str(tmp_path / "opaque.keras")]) == 0, capsys.readouterr()
    # (Tracing the copies' calls asked the initializer for placeholders, never allocated.)
    _CountingInitializer.calls = 0
    with keras.StatelessScope():
        pass
    assert _CountingInitializer.calls == 0


def test_subclasses_are_not_mistaken_for_their_parent():
    class DenseWithScale(layers.Dense):
        def build(self, input_shape):
            super().build(input_shape)
            self.scale = self.add_weight(shape=(), name="scale")

    layer = DenseWithScale(2, name="scaled")
    with pytest.raises(ValueError, match=r"^Layer 'scaled' \(DenseWithScale\) has no parameter"):
        count_params(layer, (None, 3))
    assert count_params(layer, (None, 3), allow_build=True) == 3 * 2 + 2 + 1


def test_lora_is_not_counted_silently():
    layer = layers.Dense(4, lora_rank=2, name="lora")
    with pytest.raises(ValueError, match=r"^Layer 'lora' \(Dense\) uses LoRA \(`lora_rank=2`\)"):
        count_params(layer, (None, 3))
    explanation = explain_params(layer, (None, 3), allow_build=True)
    layer.build((None, 3))
    assert (explanation.total, explanation.trainable) == (
        layer.count_params(),
        _size(layer.trainable_weights),
    )


@pytest.mark.backend_independent
def test_wrong_rank_raises_sequence_shape_error_with_the_fix():
    with pytest.raises(SequenceShapeError) as info:
        count_params(layers.LSTM(5, name="lstm"), (None, 1))
    assert str(info.value) == (
        "Layer 'lstm' (LSTM) needs an input of rank 3, but input_shape has rank 2.\n"
        "  Received: input_shape=(None, 1)\n"
        "  Expected: input_shape=(batch, time, features), rank 3\n"
        "  Fix: input_shape=(None, 1, 1)  # one time step"
    )
    with pytest.raises(SequenceShapeError, match=r"Fix: input_shape=\(None, 5, 1\)  # input_sh"):
        count_params(layers.LSTM(5), (5, 1))
    with pytest.raises(SequenceShapeError, match=r"(?s)'forward_lstm'.*Inside: layer 'bi'"):
        count_params(layers.Bidirectional(layers.LSTM(5, name="lstm"), name="bi"), (None, 1))
    with pytest.raises(SequenceShapeError, match=r"\(TimeDistributedDense\) needs an input of"):
        count_params(TimeDistributedDense(2), (None, 4))


@pytest.mark.backend_independent
def test_a_wrong_step_rank_inside_time_distributed_is_told_in_the_wrappers_shapes():
    frames = layers.TimeDistributed(layers.Conv2D(8, 3, name="conv"), name="frames")
    with pytest.raises(SequenceShapeError) as info:
        count_params(frames, (None, 10, 28, 28))
    assert str(info.value) == (
        "Layer 'frames' (TimeDistributed) calls 'conv' (Conv2D) on each time step, so it needs "
        "an input of rank 5, but input_shape has rank 4.\n"
        "  Received: input_shape=(None, 10, 28, 28); each step is (None, 28, 28)\n"
        "  Expected: input_shape=(batch, time, d1, d2, channels), rank 5\n"
        "  Fix: input_shape=(None, 10, 28, 28, 1)  # add a channels axis"
    )
    # The suggested shape really is one the wrapper counts.
    assert count_params(frames, (None, 10, 28, 28, 1)) == 3 * 3 * 1 * 8 + 8
    with pytest.raises(
        SequenceShapeError,
        match=r"(?s)Fix: input_shape=\(8, 10, 28, 28, 1\).*"
        r"or: input_shape=\(None, 8, 10, 28, 28\)",
    ):
        count_params(frames, (8, 10, 28, 28))
    steps = layers.TimeDistributed(layers.LSTM(3, name="lstm"), name="steps")
    with pytest.raises(SequenceShapeError, match=r"inner_time, features\), rank 4"):
        count_params(steps, (None, 10, 28))


_BAD_SHAPES = [
    (
        layers.Dense(2, name="d"),
        (None, None),
        r"^Layer 'd' \(Dense\) needs a known `inputs` size \(axis -1\)",
    ),
    (
        layers.Conv1D(4, 3, groups=2, name="c"),
        (None, 9, 3),
        r"^Layer 'c' \(Conv1D\) needs input channels divisible by `groups`\. "
        r"Received: groups=2, channels=3",
    ),
    (
        layers.EinsumDense("ab,bc->ac", 4, name="e"),
        (None, 2, 3),
        r"^Layer 'e' \(EinsumDense\) needs an input of rank 2",
    ),
    (
        layers.Dense(2),
        (None, -1),
        r"^Received an invalid value for `input_shape`, expected a tuple of non-negative ints "
        r"or None .*Received: input_shape=\(None, -1\)$",
    ),
    (layers.Dense(2), "5,1", r"Received: input_shape='5,1'$"),
    (layers.Dense(2), (None, 2.5), r"Received: input_shape=\(None, 2\.5\)$"),
]


@pytest.mark.parametrize("layer, shape, message", _BAD_SHAPES)
@pytest.mark.backend_independent
def test_bad_shapes(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        count_params(layer, shape)


@pytest.mark.backend_independent
def test_bad_layer_argument():
    with pytest.raises(TypeError, match=r"^Received an invalid value for `layer`"):
        count_params("LSTM", (None, 1, 1))
    with pytest.raises(ValueError, match=r"^Could not rebuild layer class 'NoSuchLayer'"):
        count_params({"class_name": "NoSuchLayer", "config": {}}, (None, 1))


# Models: configs, functional graphs, .keras files.


def _functional():
    inputs = keras.Input((6, 3), name="x")
    shared = layers.Dense(4, name="shared")
    a = layers.LSTM(4, return_sequences=True, name="lstm")(inputs)
    a = shared(layers.TimeDistributed(layers.Dense(4), name="td")(a))
    b = shared(keras.Sequential([layers.Dense(4), layers.Dense(4)], name="inner")(inputs))
    merged = layers.BatchNormalization(name="bn")(layers.Concatenate(name="cat")([a, b]))
    outputs = layers.Bidirectional(layers.GRU(2), name="bi")(merged)
    return keras.Model(inputs, [outputs, b], name="graph")


@pytest.mark.backend_independent
def test_functional_model_and_its_configs():
    model = _functional()
    expected = (
        model.count_params(),
        _size(model.trainable_weights),
        _size(model.non_trainable_weights),
    )
    for source in (model, model.get_config(), keras.saving.serialize_keras_object(model)):
        table = param_table(source)
        assert (table.total, table.trainable, table.non_trainable) == expected
    rows = {row.name: row for row in table.rows}
    assert list(rows) == [layer.name for layer in model.layers]
    assert list(rows) == ["x", "lstm", "td", "inner", "shared", "cat", "bn", "bi"]
    assert rows["inner"].substituted == "16 + 20"
    assert rows["bi"].substituted == "2 * (3 * ((8 + 2) * 2 + 2^2))"
    assert rows["shared"].output_shape == "multiple"
    assert rows["cat"].output_shape == (None, 6, 8)
    assert table.output_shape == [(None, 4), (None, 6, 4)]
    assert "│ shared (Dense)          │ multiple     │ 4 * 4 + 4 " in str(table)


def _attention_calls():
    """Functional calls of layers that take query, value and key as separate arguments."""
    query, value, key = keras.Input((4, 8)), keras.Input((6, 16)), keras.Input((6, 12))
    image, memory = keras.Input((3, 4, 8)), keras.Input((3, 5, 16))
    states = [keras.Input((7,)), keras.Input((7,))]
    mask = keras.Input((4, 6), dtype="bool")
    calls = {
        "value positional": lambda: layers.MultiHeadAttention(2, 3)(query, value),
        "value keyword": lambda: layers.MultiHeadAttention(2, 3)(query, value=value),
        "key positional": lambda: layers.MultiHeadAttention(2, 3)(query, value, key),
        "all keywords": lambda: layers.MultiHeadAttention(2, 3, value_dim=5)(
            key=key, query=query, value=value
        ),
        "self attention": lambda: layers.MultiHeadAttention(2, 3)(query, query),
        "attention mask": lambda: layers.MultiHeadAttention(2, 3)(
            query, value, attention_mask=mask
        ),
        "attention axes": lambda: layers.MultiHeadAttention(2, 3, attention_axes=(2,))(
            image, memory
        ),
        "grouped": lambda: layers.GroupQueryAttention(2, 4, 2)(query, query, query),
        # A second tensor argument that is not an input of the count: the initial state.
        "initial state": lambda: layers.LSTM(7)(value, initial_state=states),
    }
    return [query, value, key, image, memory, *states, mask], calls


@pytest.mark.parametrize("case", list(_attention_calls()[1]))
def test_a_layer_called_on_query_value_and_key_counts_on_all_three(case, tmp_path, capsys):
    inputs, calls = _attention_calls()
    outputs = calls[case]()
    model = keras.Model(inputs, layers.Dense(2)(outputs))
    expected = (model.count_params(), model.output_shape)
    table = param_table(model.get_config())
    assert (table.total, table.output_shape) == expected
    assert param_table(model.get_config(), allow_build=True).total == expected[0]
    path = tmp_path / "attention.keras"
    model.save(path)
    assert cli_main([str(path)]) == 0
    assert f"Total params: {expected[0]:,}" in capsys.readouterr().out
    assert cli.main(["check", str(path)]) == 0, capsys.readouterr()


def test_a_call_that_also_returns_the_attention_scores_gives_both_outputs(tmp_path, capsys):
    query, value = keras.Input((10, 16)), keras.Input((30, 24))
    scored, scores = layers.MultiHeadAttention(2, 8)(query, value, return_attention_scores=True)
    model = keras.Model([query, value], [layers.Dense(3)(scored), scores])
    table = param_table(model.get_config())
    assert table.total == model.count_params()
    assert table.output_shape == [tuple(shape) for shape in model.output_shape]
    path = tmp_path / "scores.keras"
    model.save(path)
    assert cli.main(["check", str(path)]) == 0, capsys.readouterr()


@pytest.mark.backend_independent
def test_models_count_as_layers_and_subclassed_models_are_refused():
    inner = keras.Sequential([layers.Dense(3), layers.Dense(2)], name="inner")
    explanation = explain_params(inner, (None, 4))
    assert (str(explanation), explanation.total) == ("Sequential('inner'): n = 15 + 8 = 23", 23)
    assert count_params(layers.TimeDistributed(inner), (None, 5, 4)) == 23
    assert not inner.built

    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Subclassed(name="sub")
    with pytest.raises(ValueError, match=r"^param_table\(\) reads Sequential and Functional"):
        param_table(model)
    with pytest.raises(ValueError, match=r"^Layer 'sub' \(Subclassed\) has no parameter formula"):
        count_params(model, (None, 3))


@pytest.mark.backend_independent
def test_unbuilt_and_frozen_sequential_models():
    model = keras.Sequential([layers.Dense(3), layers.Dense(2)], name="plain")
    with pytest.raises(ValueError, match=r"^Model 'plain' \(Sequential\) has no input shape"):
        param_table(model)
    assert param_table(model, input_shape=(None, 7)).total == 7 * 3 + 3 + 3 * 2 + 2
    assert not model.built
    model.build((None, 4))
    model.trainable = False
    table = param_table(model)
    assert (table.total, table.trainable, table.non_trainable) == (23, 0, 23)


def _save(tmp_path, model=None):
    path = tmp_path / "model.keras"
    (model or _many_to_many()).save(path)
    return path


def _rewrite_weights(path, data):
    """Replaces the weights entry of a .keras archive, keeping the config intact."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    assert "model.weights.h5" in entries
    broken = path.with_name("no_weights.keras")
    with zipfile.ZipFile(broken, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, data if name == "model.weights.h5" else content)
    return broken


def test_keras_file_is_read_without_its_weights(tmp_path):
    path = _save(tmp_path)
    assert param_table(path).total == param_table(str(path)).total == 146
    broken = _rewrite_weights(path, b"not an HDF5 file")
    with pytest.raises(Exception):  # noqa: B017 - Keras itself cannot load these weights
        keras.saving.load_model(broken)
    table = param_table(broken)
    assert [row.total for row in table.rows] == [140, 6]
    assert [row.output_shape for row in table.rows] == [(None, 5, 5), (None, 5, 1)]


def test_keras_file_with_keras_tdplus_layers_states_and_two_inputs(tmp_path):
    x, y = keras.Input((5, 2)), keras.Input((5, 3))
    sequence, h, c = layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(x)
    state = layers.Add()([layers.Dense(4)(h), c])
    steps = TimeDistributedDense(3)(sequence)
    steps = keras_tdplus.TimeDistributed(layers.Dense(2))(layers.Concatenate()([steps, y]))
    model = keras.Model([x, y], [state, steps])
    path = _rewrite_weights(_save(tmp_path, model), b"")
    table = param_table(path)
    assert (table.total, table.trainable) == (model.count_params(), 112 + 15 + 20 + 14)
    assert table.output_shape == [(None, 4), (None, 5, 2)]
    rows = {row.class_name: row for row in table.rows}
    assert rows["LSTM"].output_shape == [(None, 5, 4), (None, 4), (None, 4)]
    assert rows["TimeDistributedDense"].substituted == "4 * 3 + 3"
    assert rows["TimeDistributed"].substituted == "6 * 2 + 2"


@pytest.mark.backend_independent
def test_unreadable_keras_files(tmp_path):
    missing = tmp_path / "missing.keras"
    with pytest.raises(FileNotFoundError, match=r"^cannot read '.*missing\.keras': no such file$"):
        param_table(missing)
    text = tmp_path / "text.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"^cannot read '.*text\.keras': not a \.keras file"):
        param_table(text)
    data = _save(tmp_path).read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"not a \.keras file \(not a zip archive, or truncated\)"):
        param_table(truncated)
    empty = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match=r"it has no config\.json, so it is not a Keras 3"):
        param_table(empty)


# The command line.


@pytest.mark.backend_independent
def test_cli_explains_a_layer(capsys):
    assert cli_main(["LSTM", "--units", "5", "--input-shape", "1,1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "LSTM(units=5) on inputs=1: n = 4 * ((1 + 1) * 5 + 5^2) = 140"
    assert out[1] == "  formula: n = 4 * ((inputs + 1) * units + units^2)"
    assert out[2] == "  weights: kernel (1, 20), recurrent_kernel (5, 20), bias (20,)"


_CLI_LAYERS = [
    (
        "GRU --units 2 --reset-after false --return-sequences --input-shape 4,3",
        "GRU(units=2, reset_after=False) on inputs=3: n = 3 * ((3 + 1) * 2 + 2^2) = 36",
    ),
    (
        "Conv2D --filters 8 --kernel-size 3,3 --groups=2 --input-shape 9,9,4",
        "Conv2D(filters=8, kernel_size=(3, 3), groups=2) on channels=4: "
        "n = 3 * 3 * (4 / 2) * 8 + 8 = 152",
    ),
    (
        "Bidirectional --layer SimpleRNN --units 2 --merge-mode sum --input-shape None,1",
        "Bidirectional(SimpleRNN(units=2), merge_mode='sum') on inputs=1: "
        "n = 2 * ((1 + 1) * 2 + 2^2) = 16",
    ),
    (
        "TimeDistributedDense --units 1 --input-shape 5,5",
        "TimeDistributedDense(units=1) on inputs=5: n = 5 * 1 + 1 = 6",
    ),
    ("PReLU --input-shape 3", "PReLU on d1=3: n = 3"),
    (
        "EinsumDense --equation ab,bc->ac --output-shape 4 --bias-axes c --input-shape 3",
        "EinsumDense(equation='ab,bc->ac', output_shape=(4,), bias_axes='c') on b=3: "
        "n = 3 * 4 + 4 = 16",
    ),
]


@pytest.mark.parametrize("argv, first_line", _CLI_LAYERS)
@pytest.mark.backend_independent
def test_cli_layer_arguments(capsys, argv, first_line):
    assert cli_main(argv.split()) == 0
    assert capsys.readouterr().out.splitlines()[0] == first_line


@pytest.mark.backend_independent
def test_cli_prints_the_table_of_a_keras_file(tmp_path, capsys):
    path = _rewrite_weights(_save(tmp_path), b"")
    assert cli_main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "│ 4 * ((1 + 1) * 5 + 5^2) │     140 │" in out
    assert out.splitlines()[-3] == " Total params: 146"
    assert cli.main(["params", str(path)]) == 0
    assert capsys.readouterr().out == out


_CLI_ERRORS = [
    (
        "NoSuchLayer --input-shape 1",
        "unknown layer class 'NoSuchLayer'; expected a keras.layers class name",
    ),
    (
        "LSTM --units 5 --input-shape 1,x",
        "Received an invalid value for `--input-shape`, expected comma-separated non-negative "
        "integers (or None) without the batch axis, e.g. 5,1. Received: --input-shape=1,x",
    ),
    ("LSTM --units 5", "LSTM needs --input-shape, without the batch axis, e.g. --input-shape 5,1"),
    (
        "LSTM --units 5 --input-shape 3",
        "Layer 'lstm' (LSTM) needs an input of rank 3, but input_shape has rank 2. "
        "Received: --input-shape 3; Expected: input_shape=(batch, time, features), rank 3; "
        "Fix: --input-shape 1,3  # one time step",
    ),
    ("LSTM --unitz 5 --input-shape 1,1", "could not create LSTM(unitz=5)"),
    (
        "LSTM --units five --input-shape 1,1",
        "could not create LSTM(units='five'): an argument has the wrong type. Received: "
        "--units five. Expected: a number",
    ),
    ("NotALayer", "unknown layer class 'NotALayer'"),
    ("Layer --input-shape 3", "Fix: pass --allow-build to count it by building a throwaway copy"),
    ("missing.keras", "cannot read 'missing.keras': no such file"),
]


@pytest.mark.parametrize("argv, message", _CLI_ERRORS)
@pytest.mark.backend_independent
def test_cli_errors_are_one_line_with_status_2(capsys, argv, message):
    assert cli_main(argv.split()) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("keras-tdplus params: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


@pytest.mark.backend_independent
def test_cli_rejects_a_corrupt_keras_file(tmp_path, capsys):
    data = _save(tmp_path).read_bytes()
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(data[:100])
    assert cli_main([str(truncated)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"keras-tdplus params: cannot read '{truncated}': not a .keras file")
    assert os.path.exists(truncated) and err.count("\n") == 1


@pytest.mark.backend_independent
def test_explanations_are_frozen_dataclasses():
    explanation = explain_params(layers.Dense(2), (None, 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        explanation.formula = "x"
    assert math.prod(explanation.weights[0].shape) == explanation.weights[0].size == 6
