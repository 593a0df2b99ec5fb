"""Sequence-shape checks: every mistake from the article, one clear error each.

The article's data is `seq = [0.0, 0.2, 0.4, 0.6, 0.8]` and its three models
(one_to_one, many_to_one, many_to_many). Each mistake is reproduced first
without keras_tdplus, so these tests fail if Keras starts to explain it itself
or stops failing, then with the check, whose message text is pinned.
"""

import json
import re
import types
import warnings
import zipfile

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from keras import layers

from keras_tdplus import cli
from keras_tdplus.cli._check import main as cli_main
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.layers._time_distributed import TimeDistributed as TdplusTimeDistributed
from keras_tdplus.layers._time_distributed_dense import TimeDistributedDense
from keras_tdplus.validation import (
    Finding,
    ShapeReport,
    check_fit_data,
    check_model,
    check_sequence_input,
    explain_shape_errors,
)

SEQ = np.array([0.0, 0.2, 0.4, 0.6, 0.8])


def one_to_one():
    return keras.Sequential(
        [keras.Input((1, 1)), layers.LSTM(5), layers.Dense(1)], name="one_to_one"
    )


def many_to_one():
    return keras.Sequential(
        [keras.Input((5, 1)), layers.LSTM(5), layers.Dense(5)], name="many_to_one"
    )


def many_to_many(head=None):
    head = head or layers.TimeDistributed(layers.Dense(1))
    return keras.Sequential(
        [keras.Input((5, 1)), layers.LSTM(5, return_sequences=True), head],
        name="many_to_many",
    )


def many_to_many_without_return_sequences(head=None):
    """The article's mistake, unbuilt, so that Keras does not fail first."""
    head = head or layers.TimeDistributed(layers.Dense(1))
    return keras.Sequential([layers.LSTM(5), head], name="many_to_many")


def fix_lines(error):
    """The code of each `Fix:`/`or:` line of an error message."""
    lines = str(error).splitlines()
    return [
        re.sub(r"^\s*(Fix|or): ", "", line) for line in lines if re.match(r"^\s*(Fix|or): ", line)
    ]


def apply_fix(fix, name, value):
    """Runs the fix line as code on `value` bound to `name`; returns the result."""
    scope = {name: value, "np": np, "keras": keras}
    exec(fix.split("  #")[0], scope)
    return scope[name]


# check_sequence_input


def test_sequence_input_is_returned_unchanged():
    x = SEQ.reshape(1, 5, 1)
    assert check_sequence_input(x) is x
    nested = SEQ.reshape(5, 1, 1).tolist()
    assert check_sequence_input(nested) is nested
    tensor = keras.ops.ones((2, 5, 3))
    assert check_sequence_input(tensor, timesteps=5, features=3) is tensor
    symbolic = keras.KerasTensor((None, None, 3))
    assert check_sequence_input(symbolic, timesteps=7, features=3) is symbolic


@pytest.mark.backend_independent
def test_1d_seq_gets_both_reshapes():
    with pytest.raises(SequenceShapeError, match=r"^`X` has rank 1, but a sequence input") as info:
        check_sequence_input(SEQ)
    assert str(info.value) == (
        "`X` has rank 1, but a sequence input needs rank 3: (samples, timesteps, features).\n"
        "  Received: X.shape = (5,)\n"
        "  Expected: (samples, timesteps, features)\n"
        "  Fix: X = X.reshape(1, 5, 1)  # one sequence of 5 steps\n"
        "   or: X = X.reshape(5, 1, 1)  # 5 one-step samples"
    )


@pytest.mark.backend_independent
def test_2d_seq_gets_both_reshapes():
    with pytest.raises(
        SequenceShapeError,
        match=re.escape("Received: X.shape = (5, 1)\n")
        + r".*\n"
        + re.escape("  Fix: X = X.reshape(1, 5, 1)  # one sequence of 5 steps\n")
        + re.escape("   or: X = X.reshape(5, 1, 1)  # 5 one-step samples"),
    ):
        check_sequence_input(SEQ.reshape(5, 1))


@pytest.mark.backend_independent
def test_every_offered_reshape_is_code_that_fixes_the_input():
    cases = [((5,), {}), ((5, 1), {}), ((5, 3), {}), ((2, 3, 4, 5), {}), ((), {})]
    cases.append(((10,), {"timesteps": 5}))
    for shape, kwargs in cases:
        x = np.arange(int(np.prod(shape)), dtype="float32").reshape(shape)
        with pytest.raises(SequenceShapeError) as info:
            check_sequence_input(x, **kwargs)
        fixes = fix_lines(info.value)
        assert fixes, shape
        for fix in fixes:
            fixed = apply_fix(fix, "X", x)
            assert check_sequence_input(fixed, **kwargs) is fixed


@pytest.mark.backend_independent
def test_nested_lists_get_np_reshape_and_custom_name():
    with pytest.raises(SequenceShapeError, match=r"Fix: seq = np\.reshape\(seq, \(1, 5, 1\)\)"):
        check_sequence_input(SEQ.tolist(), name="seq")


@pytest.mark.backend_independent
def test_ragged_lists_name_where_and_the_padding_fix_works():
    ragged = [[0.0, 0.2, 0.4], [0.6, 0.8]]
    with pytest.raises(
        SequenceShapeError, match=r"^`X` is ragged: X\[1\] has shape \(2,\)"
    ) as info:
        check_sequence_input(ragged)
    assert fix_lines(info.value) == [
        'X = keras.utils.pad_sequences(X, dtype="float32")  # pad every sequence to one length'
    ]
    padded = apply_fix(fix_lines(info.value)[0], "X", ragged)
    assert padded.shape == (2, 3)
    with pytest.raises(
        SequenceShapeError, match=r"^`X\[0\]` is ragged: X\[0\]\[1\] has shape \(2,\)"
    ):
        check_sequence_input([[[1.0], [2.0, 3.0]]])


@pytest.mark.backend_independent
def test_non_numeric_data_is_named():
    cases = [
        (None, "`X` is None"),
        ("0.0 0.2 0.4", "`X` is a str"),
        ([[[0.0], ["a"]]], r"`X\[0\]\[1\]\[0\]` is a str"),
        ([[[0.0], [None]]], r"`X\[0\]\[1\]\[0\]` is None"),
        ({"x": 1}, "`X` is a dict"),
        (np.array([["a"]]), "`X` has dtype <U1"),
        (np.array([1, None], dtype=object), "`X` has dtype object"),
    ]
    for value, culprit in cases:
        with pytest.raises(SequenceShapeError, match=f"^{culprit}.*a numeric array is expected"):
            check_sequence_input(value)


@pytest.mark.backend_independent
def test_huge_inputs_are_checked_from_the_shape_alone():
    view = np.broadcast_to(np.float32(0.0), (10**9, 10**4, 3))
    assert check_sequence_input(view) is view
    strided = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10**6, 10**6), strides=(0, 0))
    with pytest.raises(SequenceShapeError, match=re.escape("X = X.reshape(1, 1000000, 1000000)")):
        check_sequence_input(strided)
    lazy = types.SimpleNamespace(shape=(10**12, 5))
    with pytest.raises(
        SequenceShapeError,
        match=re.escape("Fix: X = np.reshape(X, (1, 1000000000000, 5))  # one sequence of"),
    ):
        check_sequence_input(lazy)


@pytest.mark.backend_independent
def test_nan_values_pass_because_only_shapes_are_checked():
    x = np.full((1, 5, 1), np.nan)
    assert check_sequence_input(x) is x
    assert check_sequence_input([[[float("nan")]], [[float("inf")]]]) is not None


@pytest.mark.backend_independent
def test_empty_axes_are_errors():
    with pytest.raises(SequenceShapeError, match=r"^`X` is empty: its shape \(0, 5, 1\)"):
        check_sequence_input(np.zeros((0, 5, 1)))
    with pytest.raises(
        SequenceShapeError, match=r"^`X` has rank 1.*\n  Received: X.shape = \(0,\)"
    ):
        check_sequence_input([])


@pytest.mark.backend_independent
def test_timesteps_and_features_are_pinned():
    with pytest.raises(
        SequenceShapeError,
        match=r"^`X` has 3 timesteps, expected 5\.\n.*\n  Expected: \(samples, 5, features\)",
    ) as info:
        check_sequence_input(np.zeros((2, 3, 1)), timesteps=5)
    padded = apply_fix(fix_lines(info.value)[0], "X", np.ones((2, 3, 1), "float32"))
    assert padded.shape == (2, 5, 1)
    with pytest.raises(SequenceShapeError, match=r"^`X` has 2 features per step, expected 1\."):
        check_sequence_input(np.zeros((2, 3, 2)), features=1)
    # One is singular.
    with pytest.raises(
        SequenceShapeError,
        match=r"(?s)^`X` has 1 feature per step, expected 3\."
        r".*# a model input for 1 feature per step$",
    ):
        check_sequence_input(np.zeros((2, 3, 1)), features=3)
    with pytest.raises(SequenceShapeError, match=r"^`X` has 1 timestep, expected 5\."):
        check_sequence_input(np.zeros((2, 1, 1)), timesteps=5)


@pytest.mark.backend_independent
def test_invalid_arguments_are_plain_value_errors():
    for argument in ("timesteps", "features"):
        for value in (0, -1, 2.5, True, "5"):
            with pytest.raises(
                ValueError, match=f"Received an invalid value for `{argument}`"
            ) as info:
                check_sequence_input(np.zeros((1, 5, 1)), **{argument: value})
            assert type(info.value) is ValueError


# check_fit_data


@pytest.mark.backend_independent
def test_the_articles_data_fits_its_models():
    cases = [
        (one_to_one, (5, 1, 1), (5, 1)),
        (many_to_one, (1, 5, 1), (1, 5)),
        (many_to_many, (1, 5, 1), (1, 5, 1)),
    ]
    for build, x_shape, y_shape in cases:
        x, y = SEQ.reshape(x_shape), SEQ.reshape(y_shape)
        result = check_fit_data(build(), x, y)
        assert result[0] is x and result[1] is y


def test_2d_y_for_a_3d_output_keras_trains_on_it_silently_and_the_check_says_why():
    model = many_to_many()
    x, y = SEQ.reshape(1, 5, 1), SEQ.reshape(1, 5)
    # Keras lines up (1, 5) with (1, 5, 1) in its loss without a word.
    model.compile(loss="mse", optimizer="adam")
    assert np.isfinite(model.train_on_batch(x, y))
    with pytest.raises(
        SequenceShapeError, match=r"^`y` has rank 2, but the model's output"
    ) as info:
        check_fit_data(model, x, y)
    assert str(info.value) == (
        "`y` has rank 2, but the model's output has rank 3.\n"
        "  Received: y.shape = (1, 5)\n"
        "  Expected: (samples, 5, 1), from the model's output shape (None, 5, 1)\n"
        "  Fix: y = y.reshape(1, 5, 1)  # one sequence of 5 steps"
    )
    fixed = apply_fix(fix_lines(info.value)[0], "y", y)
    assert check_fit_data(model, x, fixed)[1] is fixed


def test_2d_x_keras_reads_as_five_samples_and_the_check_says_one_sequence():
    model = many_to_many()
    x = SEQ.reshape(5, 1)
    # Keras adds the missing axis at the end: five one-step samples, not one sequence.
    assert model.predict(x, verbose=0).shape == (5, 1, 1)
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "`x` has rank 2, but the model's input has rank 3.\n"
            "  Received: x.shape = (5, 1)\n"
            "  Expected: (samples, 5, 1), from the model's input shape (None, 5, 1)\n"
            "  Fix: x = x.reshape(1, 5, 1)  # one sequence of 5 steps"
        ),
    ):
        check_fit_data(model, x, SEQ.reshape(1, 5, 1))


@pytest.mark.backend_independent
def test_1d_x_and_y_get_reshapes_for_every_model():
    with pytest.raises(
        SequenceShapeError, match=re.escape("Fix: x = x.reshape(5, 1, 1)  # 5 one-step samples")
    ):
        check_fit_data(one_to_one(), SEQ, SEQ.reshape(5, 1))
    with pytest.raises(
        SequenceShapeError, match=re.escape("Fix: y = y.reshape(5, 1)  # 5 samples of shape (1,)")
    ):
        check_fit_data(one_to_one(), SEQ.reshape(5, 1, 1), SEQ)
    with pytest.raises(
        SequenceShapeError, match=re.escape("Fix: y = y.reshape(1, 5)  # one sample of shape (5,)")
    ):
        check_fit_data(many_to_one(), SEQ.reshape(1, 5, 1), SEQ.reshape(1, 5, 1))


@pytest.mark.backend_independent
def test_same_rank_targets_are_reshaped_to_the_sample_count_of_x():
    with pytest.raises(
        SequenceShapeError,
        match=r"^`y` has size 5 on axis 1, but the model's output has 1\.(.|\n)*"
        + re.escape("Fix: y = y.reshape(5, 1)"),
    ):
        check_fit_data(one_to_one(), SEQ.reshape(5, 1, 1), SEQ.reshape(1, 5))


@pytest.mark.backend_independent
def test_timestep_mismatch_suggests_a_model_input():
    with pytest.raises(
        SequenceShapeError,
        match=r"^`x` has 3 timesteps, but the model's input has 5\.(.|\n)*"
        + re.escape("Fix: keras.Input(shape=(3, 1))"),
    ):
        check_fit_data(many_to_many(), np.zeros((2, 3, 1)), None)


@pytest.mark.backend_independent
def test_sample_counts_must_agree():
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "`x` and `y` hold different numbers of samples: 5 and 4.\n"
            "  Received: x.shape = (5, 1, 1), y.shape = (4, 1)\n"
            "  Expected: x.shape[0] == y.shape[0]"
        ),
    ):
        check_fit_data(one_to_one(), SEQ.reshape(5, 1, 1), np.zeros((4, 1)))


def two_input_model():
    steps = keras.Input((5, 1), name="steps")
    extra = keras.Input((3,), name="extra")
    merged = layers.Concatenate()([layers.LSTM(4)(steps), extra])
    return keras.Model([steps, extra], layers.Dense(1)(merged), name="two_inputs")


@pytest.mark.backend_independent
def test_several_inputs_are_checked_one_by_one():
    model = two_input_model()
    x = [SEQ.reshape(1, 5, 1), np.zeros((1, 3))]
    assert check_fit_data(model, x, np.zeros((1, 1)))[0] is x
    by_name = {"steps": SEQ.reshape(1, 5, 1), "extra": np.zeros((1, 3))}
    assert check_fit_data(model, by_name)[0] is by_name
    with pytest.raises(SequenceShapeError, match=re.escape("Fix: x[0] = x[0].reshape(1, 5, 1)")):
        check_fit_data(model, [SEQ, np.zeros((1, 3))])
    with pytest.raises(
        SequenceShapeError, match=r"^`x` holds 1 array\(s\), but the model has 2 inputs"
    ):
        check_fit_data(model, SEQ.reshape(1, 5, 1))
    with pytest.raises(SequenceShapeError, match=r"^`x` has no entry for the model input 'extra'"):
        check_fit_data(model, {"steps": SEQ.reshape(1, 5, 1)})


@pytest.mark.backend_independent
def test_an_unbuilt_model_is_a_plain_value_error():
    with pytest.raises(
        ValueError, match=r"^Model 'sequential' has no known input shape yet"
    ) as info:
        check_fit_data(keras.Sequential([layers.LSTM(5)]), SEQ.reshape(1, 5, 1))
    assert type(info.value) is ValueError


# check_model

EXPECTED_MANY_TO_MANY_FINDING = (
    "Layer 'lstm' (LSTM) returns only its last step, but layer '{head}' ({cls}) after it "
    "needs a time axis.\n"
    "  Received: shape (None, 5) at the input of '{head}'\n"
    "  Expected: shape (batch, time, ..., features), rank >= 3\n"
    "  Fix: LSTM(5, return_sequences=True)  # layer 'lstm'"
)


@pytest.mark.parametrize(
    "make_head, head, cls",
    [
        (lambda: layers.TimeDistributed(layers.Dense(1)), "time_distributed", "TimeDistributed"),
        (lambda: TdplusTimeDistributed(layers.Dense(1)), "time_distributed", "TimeDistributed"),
        (lambda: TimeDistributedDense(1), "time_distributed_dense", "TimeDistributedDense"),
    ],
)
@pytest.mark.backend_independent
def test_lstm_without_return_sequences_feeding_a_per_step_layer(make_head, head, cls):
    model = many_to_many_without_return_sequences(make_head())
    expected = EXPECTED_MANY_TO_MANY_FINDING.format(head=head, cls=cls)
    with pytest.raises(SequenceShapeError, match=re.escape(expected)):
        check_model(model, (None, 5, 1))
    report = check_model(model, (None, 5, 1), raise_on_error=False)
    assert not report.ok
    assert report.layers_checked == 2
    assert [(f.layer, f.severity) for f in report.findings] == [("lstm", "error")]
    assert str(report.findings[0]) == expected
    assert str(report) == f"Model 'many_to_many': 2 layers checked, 1 error.\n\nerror: {expected}"
    # Nothing was built: the lint only reads shapes.
    assert not any(layer.built for layer in model.layers)


def test_the_same_mistake_fails_in_keras_with_a_message_that_does_not_say_what_to_do():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
            "dimensions, received: (None, 5)"
        ),
    ) as info:
        many_to_many_without_return_sequences().build((None, 5, 1))
    assert not isinstance(info.value, SequenceShapeError)


@pytest.mark.backend_independent
def test_recurrent_layers_feeding_sequence_layers_even_through_dropout_and_dense():
    cases = [
        (lambda: layers.LSTM(5), layers.GRU, "LSTM(5, return_sequences=True)  # layer 'lstm'"),
        (
            lambda: layers.Bidirectional(layers.GRU(4)),
            layers.SimpleRNN,
            "Bidirectional(GRU(4, return_sequences=True))  # layer 'bidirectional'",
        ),
        (
            lambda: layers.SimpleRNN(4),
            lambda units: layers.Conv1D(units, 3),
            "SimpleRNN(4, return_sequences=True)  # layer 'simple_rnn'",
        ),
        (
            lambda: layers.GRU(6),
            lambda units: layers.MaxPooling1D(),
            "GRU(6, return_sequences=True)  # layer 'gru'",
        ),
    ]
    for first, second, fix in cases:
        keras.backend.clear_session()
        model = keras.Sequential([first(), layers.Dropout(0.1), layers.Dense(4), second(2)])
        with pytest.raises(
            SequenceShapeError, match=r"returns only its last step(.|\n)*" + re.escape(fix)
        ):
            check_model(model, (None, 5, 2))


@pytest.mark.backend_independent
def test_conv_lstm_needs_its_kernel_size_in_the_fix():
    model = keras.Sequential([layers.ConvLSTM2D(4, 3), layers.ConvLSTM2D(2, (3, 3))])
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "  Expected: shape (batch, time, rows, cols, channels), rank 5\n"
            "  Fix: ConvLSTM2D(4, (3, 3), return_sequences=True)  # layer 'conv_lstm2d'"
        ),
    ):
        check_model(model, (None, 5, 16, 16, 3))


@pytest.mark.backend_independent
def test_a_recurrent_layer_fed_no_time_axis():
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2") as raw:
        keras.Sequential([keras.Input((5,)), layers.LSTM(5)])
    assert not isinstance(raw.value, SequenceShapeError)
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "Layer 'lstm_1' (LSTM) needs a time axis, but its input has rank 2.\n"
            "  Received: shape (None, 5) from 'input'\n"
            "  Expected: shape (batch, time, features), rank 3\n"
            "  Fix: keras.Input(shape=(5, 1))  # 5 steps of 1 feature; reshape the data to match\n"
            "   or: keras.Input(shape=(1, 5))  # 1 step of 5 features; reshape the data to match"
        ),
    ):
        check_model(keras.Sequential([layers.LSTM(5)]), (None, 5))


@pytest.mark.backend_independent
def test_a_per_step_layer_fed_a_2d_tensor_gets_a_reshape_before_it():
    model = keras.Sequential([layers.Dense(8), TimeDistributedDense(1)])
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "  Received: shape (None, 8) from 'dense'\n"
            "  Expected: shape (batch, time, ..., features), rank >= 3\n"
            "  Fix: layers.Reshape((8, 1))  # before 'time_distributed_dense': 8 steps of 1 feature"
        ),
    ):
        check_model(model, (None, 3))


@pytest.mark.backend_independent
def test_other_rank_mistakes_come_from_the_input_spec():
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "Layer 'lstm' (LSTM) expects input of rank 3, but its input has rank 4.\n"
            "  Received: shape (None, 5, 4, 3)\n"
            "  Expected: rank 3\n"
            "  Fix: layers.Reshape((5, 12))  # before 'lstm': merge the trailing axes"
        ),
    ):
        check_model(keras.Sequential([layers.LSTM(8)]), (None, 5, 4, 3))


@pytest.mark.backend_independent
def test_the_articles_models_are_clean():
    for build in (one_to_one, many_to_one, many_to_many):
        report = check_model(build())
        assert report.ok and report.findings == ()
        assert str(report) == (
            f"Model '{build.__name__}': 2 layers checked, no sequence-shape problems found."
        )


@pytest.mark.backend_independent
def test_functional_models_and_nested_models():
    inputs = keras.Input((5, 2))
    hidden = layers.LSTM(4, return_sequences=True)(inputs)
    merged = layers.Concatenate()([layers.LSTM(3)(hidden), layers.GRU(3)(hidden)])
    functional = keras.Model(inputs, layers.Dense(1)(merged), name="functional")
    assert check_model(functional).ok
    with pytest.raises(ValueError, match="`input_shape` applies only to Sequential models"):
        check_model(functional, (None, 5, 2))

    encoder = keras.Sequential([layers.LSTM(5, name="last_step")], name="encoder")
    outer = keras.Sequential([encoder, layers.TimeDistributed(layers.Dense(1))], name="outer")
    report = check_model(outer, (None, 5, 2), raise_on_error=False)
    assert [f.layer for f in report.errors] == ["encoder/last_step"]
    assert "Fix: LSTM(5, return_sequences=True)  # layer 'encoder/last_step'" in str(report)

    # A built Functional model first in a Sequential brings its input shape.
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        keras.Sequential([functional, layers.LSTM(2)])
    stacked = keras.Sequential(name="stacked")
    stacked.add(functional)
    assert check_model(stacked).ok


def test_unknown_output_shapes_stop_the_lint_with_an_info_finding():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    class PassThrough(layers.Layer):
        def call(self, x):
            return x

    model = keras.Sequential([layers.LSTM(5), PassThrough(), TimeDistributedDense(1)])
    with pytest.raises(
        SequenceShapeError, match=r"^Layer 'lstm' \(LSTM\) returns only its last step"
    ):
        check_model(model, (None, 5, 1))
    report = check_model(keras.Sequential([Scale(), layers.LSTM(3)]), (None, 5, 1))
    assert report.ok
    assert [(f.layer, f.severity) for f in report.findings] == [("scale", "info")]
    assert str(report).startswith("Model 'sequential_1': 1 layer checked, 1 info.")


@pytest.mark.backend_independent
def test_layers_without_a_config_are_linted_from_the_live_objects():
    class Opaque(layers.Layer):
        """Takes an argument Keras cannot serialize, so its `get_config` fails."""

        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)
            self.table = table

        def call(self, x):
            return x

        def compute_output_shape(self, input_shape):
            return input_shape

    model = keras.Sequential([layers.LSTM(5), Opaque(object()), TimeDistributedDense(1)])
    with pytest.raises(NotImplementedError):
        model.get_config()
    with pytest.raises(
        SequenceShapeError, match=re.escape("Fix: LSTM(5, return_sequences=True)  # layer 'lstm'")
    ):
        check_model(model, (None, 5, 1))


@pytest.mark.backend_independent
def test_subclassed_models_get_an_info_finding():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    report = check_model(Subclassed())
    assert report.ok
    assert report.findings[0].severity == "info"
    assert report.findings[0].message.startswith("Model 'subclassed' is a subclassed model")


@pytest.mark.backend_independent
def test_unbuilt_sequential_without_input_shape_asks_for_one():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Sequential model 'sequential' has no input shape, so its layers cannot be checked.\n"
            "  Fix: check_model(model, input_shape=(None, timesteps, features))"
        ),
    ) as info:
        check_model(keras.Sequential([layers.LSTM(5)]))
    assert type(info.value) is ValueError


@pytest.mark.backend_independent
def test_invalid_input_shape_and_model():
    for bad in [(5, "a"), 5, (), (None, -1), (None, 5, True)]:
        with pytest.raises(ValueError, match="Received an invalid value for `input_shape`"):
            check_model(keras.Sequential([layers.LSTM(5)]), bad)
    with pytest.raises(TypeError, match="expected a `keras.Model`"):
        check_model(layers.LSTM(5))


@pytest.mark.backend_independent
def test_built_sequential_uses_its_input_shape_or_the_given_one():
    model = keras.Sequential([layers.LSTM(5, return_sequences=True), layers.GRU(2)])
    model.build((None, 5, 1))
    assert check_model(model).ok
    with pytest.raises(SequenceShapeError, match=r"Layer 'lstm' \(LSTM\) expects input of rank 3"):
        check_model(model, (None, 5, 1, 1))


@pytest.mark.backend_independent
def test_report_and_finding_formats():
    finding = Finding("lstm", "Layer 'lstm' is wrong.\n  Received: a\n  Expected: b", "fix()")
    assert str(finding) == "Layer 'lstm' is wrong.\n  Received: a\n  Expected: b\n  Fix: fix()"
    info = Finding("x", "note", None, "info")
    report = ShapeReport("m", (finding, info), 3)
    assert report.errors == (finding,) and not report.ok
    assert str(report).splitlines()[0] == "Model 'm': 3 layers checked, 1 error, 1 info."
    assert ShapeReport("m", (info,), 1).ok


# explain_shape_errors


def test_explains_the_missing_return_sequences_and_chains_the_keras_error():
    with pytest.raises(SequenceShapeError) as info:
        with explain_shape_errors():
            keras.Sequential(
                [keras.Input((5, 1)), layers.LSTM(5), layers.TimeDistributed(layers.Dense(1))]
            )
    assert str(info.value) == EXPECTED_MANY_TO_MANY_FINDING.format(
        head="time_distributed", cls="TimeDistributed"
    )
    cause = info.value.__cause__
    assert type(cause) is ValueError
    assert "`TimeDistributed` Layer should be passed an `input_shape`" in str(cause)


def test_explains_a_1d_x_in_predict():
    model = many_to_many()
    with pytest.raises(ValueError, match="incompatible shape") as raw:
        model.predict(SEQ, verbose=0)
    assert not isinstance(raw.value, SequenceShapeError)
    # A fresh model: on jax, a model whose predict failed cannot predict again.
    model = many_to_many()

    @explain_shape_errors
    def predict(x):
        return model.predict(x, verbose=0)

    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "`x` has rank 1, but the model's input has rank 3.\n"
            "  Received: x.shape = (5,)\n"
            "  Expected: (samples, 5, 1), from the model's input shape (None, 5, 1)\n"
            "  Fix: x = x.reshape(1, 5, 1)  # one sequence of 5 steps"
        ),
    ) as info:
        predict(SEQ)
    assert "incompatible shape" in str(info.value.__cause__)


def test_explains_a_2d_y_with_the_wrong_sample_count():
    model = many_to_many()
    model.compile(loss="mse", optimizer="adam")
    x, y = SEQ.reshape(1, 5, 1), SEQ.reshape(5, 1)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.fit(x, y, verbose=0)

    @explain_shape_errors()
    def train():
        model.fit(x, y, verbose=0)

    with pytest.raises(SequenceShapeError, match=re.escape("Fix: y = y.reshape(1, 5, 1)")) as info:
        train()
    assert "Data cardinality is ambiguous" in str(info.value.__cause__)


def test_explains_from_the_message_when_no_model_is_in_sight():
    with pytest.raises(
        SequenceShapeError,
        match=re.escape(
            "Layer 'lstm' needs input of rank 3, but received rank 2.\n"
            "  Received: shape (None, 5)\n"
            "  Expected: shape (batch, time, features), rank 3\n"
            "  Fix: layers.Reshape((5, 1))  # before 'lstm': 5 steps of 1 feature"
        ),
    ):
        with explain_shape_errors():
            layers.LSTM(5)(keras.Input((5,)))
    with pytest.raises(
        SequenceShapeError,
        match=re.escape("  Fix: x = x.reshape(1, 5, 1)  # one sequence of 5 steps\n"),
    ):
        with explain_shape_errors():
            layers.LSTM(5)(SEQ.reshape(5, 1))


@pytest.mark.backend_independent
def test_other_errors_pass_through_unchanged():
    original = ValueError("Could not interpret optimizer identifier: 'adamm'")
    with pytest.raises(ValueError) as info:
        with explain_shape_errors():
            raise original
    assert info.value is original
    ours = SequenceShapeError("already clear")
    with pytest.raises(SequenceShapeError) as info:
        with explain_shape_errors():
            raise ours
    assert info.value is ours and info.value.__cause__ is None
    with pytest.raises(TypeError, match="shape"):
        with explain_shape_errors():
            raise TypeError("bad shape type")
    with pytest.raises(TypeError, match="expected a callable or None"):
        explain_shape_errors(5)


# keras-tdplus check


def edit_keras_file(source, target, edit):
    """Copies a .keras file, passing its config through `edit`."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config)
            dst.writestr(item, data)


def drop_return_sequences(config):
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "LSTM":
            layer["config"]["return_sequences"] = False


@pytest.mark.backend_independent
def test_cli_reports_a_clean_saved_model(tmp_path, capsys):
    path = tmp_path / "many_to_many.keras"
    many_to_many().save(path)
    assert cli_main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == "Model 'many_to_many': 2 layers checked, no sequence-shape problems found.\n"
    assert err == ""
    assert cli.main(["check", str(path)]) == 0


@pytest.mark.parametrize("functional", [False, True])
def test_cli_lints_a_saved_config_keras_cannot_build(tmp_path, capsys, functional):
    model = many_to_many(TimeDistributedDense(1))
    if functional:
        model = keras.Model(model.inputs, model.outputs, name="many_to_many")
    path, broken = tmp_path / "good.keras", tmp_path / "broken.keras"
    model.save(path)
    edit_keras_file(path, broken, drop_return_sequences)
    with pytest.raises(ValueError):
        keras.saving.load_model(broken, compile=False)
    assert cli_main([str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("Model '")
    assert (
        "\nerror: "
        + EXPECTED_MANY_TO_MANY_FINDING.format(
            head="time_distributed_dense", cls="TimeDistributedDense"
        )
        in out
    )


@pytest.mark.backend_independent
def test_cli_unreadable_files_exit_2_with_one_line(tmp_path, capsys):
    good = tmp_path / "good.keras"
    many_to_many().save(good)
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"\x00not a zip archive" * 64)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    no_config = tmp_path / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", "{}")
    bad_json = tmp_path / "bad_json.keras"
    with zipfile.ZipFile(bad_json, "w") as archive:
        archive.writestr("config.json", "{not json")
    expected = {
        corrupt: "not a .keras file (not a zip archive, or truncated)",
        truncated: "not a .keras file (not a zip archive, or truncated)",
        tmp_path / "missing.keras": "no such file",
        tmp_path: "it is a folder, not a .keras file",
        no_config: "it has no config.json",
        bad_json: "its config.json is not valid JSON",
    }
    for path, reason in expected.items():
        assert cli_main([str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"keras-tdplus check: cannot read {str(path)!r}: {reason}")
        assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.backend_independent
def test_cli_unbuilt_model_and_usage(tmp_path, capsys):
    path = tmp_path / "unbuilt.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that the model is not built.
        keras.Sequential([layers.LSTM(3)], name="unbuilt").save(path)
    assert cli_main([str(path)]) == 2
    assert capsys.readouterr().err == (
        f"keras-tdplus check: cannot check {str(path)!r}: Sequential model 'unbuilt' has no "
        "input shape, so its layers cannot be checked. Fix: pass --input-shape, without the "
        "batch axis, e.g. --input-shape 5,1\n"
    )
    assert cli_main([]) == 2
    assert "the following arguments are required: MODEL.keras" in capsys.readouterr().err


# Property tests: any input either passes or raises SequenceShapeError.

HUGE = st.integers(0, 10**15)
SMALL = st.integers(0, 3)


def arrays():
    return st.builds(
        lambda shape, dtype, fill: np.full(shape, fill if dtype == "float32" else 0, dtype=dtype),
        st.lists(SMALL, min_size=0, max_size=5).map(tuple),
        st.sampled_from(["float32", "int64", "bool", "U1", "object"]),
        st.sampled_from([0.0, np.nan, np.inf]),
    )


def lazy_shapes():
    dims = st.one_of(HUGE, st.none())
    return st.lists(dims, max_size=5).map(lambda s: types.SimpleNamespace(shape=tuple(s)))


def broadcast_views():
    return st.lists(st.integers(0, 3000), max_size=5).map(
        lambda s: np.broadcast_to(np.float32(np.nan), tuple(s))
    )


def nested_lists():
    leaves = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**20), 10**20),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    )
    ragged = st.recursive(leaves, lambda kids: st.lists(kids, max_size=4), max_leaves=40)
    regular = arrays().filter(lambda a: a.dtype.kind in "fib").map(lambda a: a.tolist())
    return st.one_of(ragged, regular)


def backend_tensors():
    return st.lists(SMALL, max_size=4).map(lambda s: keras.ops.zeros(tuple(s)))


def symbolic_tensors():
    return st.lists(st.one_of(st.none(), st.integers(1, 10**9)), max_size=5).map(
        lambda s: keras.KerasTensor(tuple(s))
    )


DATA = st.one_of(
    arrays(),
    lazy_shapes(),
    broadcast_views(),
    nested_lists(),
    backend_tensors(),
    symbolic_tensors(),
    st.none(),
    st.text(max_size=5),
    st.floats(allow_nan=True),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_well_formed(error):
    text = str(error)
    assert "\n  Received: " in text and "\n  Expected: " in text and "\n  Fix: " in text


@PROPERTY_SETTINGS
@given(data=DATA)
@example(data=np.zeros(()))
@example(data=np.zeros((5,)))
@example(data=np.zeros((1, 5, 1)))
@example(data=np.zeros((0, 5, 1)))
@example(data=np.zeros((1, 5, 1, 1, 1)))
@example(data=[[[0.0], [0.2]], [[0.4]]])
@example(data=[[["a"]]])
@example(data=None)
@example(data=np.full((1, 5, 1), np.nan))
@example(data=types.SimpleNamespace(shape=(10**12, 5)))
@example(data=types.SimpleNamespace(shape=(10**12, -5, 1)))
@example(data=types.SimpleNamespace(shape=5))
def test_check_sequence_input_passes_or_raises_sequence_shape_error(data):
    try:
        result = check_sequence_input(data, name="X")
    except SequenceShapeError as error:
        assert_well_formed(error)
    else:
        assert result is data
        shape = tuple(data.shape) if hasattr(data, "shape") else np.shape(data)
        assert len(shape) == 3 and 0 not in shape


@pytest.fixture(scope="module")
def article_models():
    """Built once: the property test reads only their shapes."""
    dynamic = keras.Sequential(
        [keras.Input((None, 1)), layers.LSTM(5, return_sequences=True), layers.Dense(1)]
    )
    return [one_to_one(), many_to_one(), many_to_many(), dynamic, two_input_model()]


@PROPERTY_SETTINGS
@given(index=st.integers(0, 4), x=DATA, y=st.one_of(DATA, st.none()))
@example(index=2, x=SEQ.reshape(1, 5, 1), y=SEQ.reshape(1, 5))
@example(index=2, x=SEQ.reshape(5, 1), y=SEQ.reshape(1, 5, 1))
@example(index=3, x=SEQ, y=SEQ)
@example(index=0, x=types.SimpleNamespace(shape=(10**12, 1, 1)), y=np.zeros((3, 1)))
@example(index=4, x=[np.zeros((1, 5, 1)), None], y=None)
def test_check_fit_data_passes_or_raises_sequence_shape_error(article_models, index, x, y):
    model = article_models[index]
    try:
        result = check_fit_data(model, x, y)
    except SequenceShapeError as error:
        assert_well_formed(error)
    else:
        assert result[0] is x and result[1] is y
        if index != 4:  # one input: data that passes has its rank and known sizes
            shape, expected = tuple(getattr(x, "shape", None) or np.shape(x)), model.input_shape
            assert len(shape) == len(expected)
            known = zip(shape[1:], expected[1:], strict=True)
            assert all(e is None or s in (None, e) for s, e in known)
