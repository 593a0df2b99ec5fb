"""How `count_flops`, `explain_flops`, `param_table(flops=True)` and the CLI's `--flops` behave.

Sizes, batches, layers without a formula, registered formulas and bad input;
the counts themselves are checked against torch in tests/test_flops.py.
"""

import zipfile

import keras
import pytest
from keras import layers

from keras_tdplus import (
    count_flops,
    explain_flops,
    param_table,
    register_flops_formula,
    register_param_formula,
)
from keras_tdplus.cli._params import main as params_main

pytestmark = pytest.mark.backend("jax")


def _lstm_flops(batch, steps, features, units):
    """An LSTM's FLOPs by hand: each step multiplies inputs and state by 4 * units columns."""
    return steps * 2 * batch * (features + units) * 4 * units


def _sequence_model(steps=None, batch=None):
    inputs = keras.Input((steps, 8), batch_size=batch, name="frames")
    return keras.Model(inputs, layers.LSTM(6, name="encoder")(inputs), name="tagger")


def test_an_unknown_time_axis_is_named_and_input_shape_fills_it():
    model = _sequence_model()
    with pytest.raises(ValueError, match=r"input 'frames' has an unknown size on axis 1") as error:
        count_flops(model)
    assert "input_shape=(None, T, 8)" in str(error.value)
    assert count_flops(model, input_shape=(None, 10, 8)) == _lstm_flops(1, 10, 8, 6)
    assert count_flops(model, input_shape=(None, 20, 8)) == _lstm_flops(1, 20, 8, 6)


def test_the_batch_comes_from_batch_size_the_input_shape_or_the_model():
    assert count_flops(_sequence_model(10), batch_size=3) == _lstm_flops(3, 10, 8, 6)
    assert count_flops(_sequence_model(10), input_shape=(4, 10, 8)) == _lstm_flops(4, 10, 8, 6)
    assert count_flops(_sequence_model(10, batch=2)) == _lstm_flops(2, 10, 8, 6)
    with pytest.raises(ValueError, match=r"batch axis is fixed to 2 .* but batch_size=5"):
        count_flops(_sequence_model(10, batch=2), batch_size=5)
    with pytest.raises(ValueError, match=r"expected a positive int. Received: batch_size=0"):
        count_flops(_sequence_model(10), batch_size=0)


def test_an_input_shape_that_contradicts_the_model_is_refused():
    with pytest.raises(ValueError, match=r"input 'frames' takes size 10 on axis 1 .* says 12"):
        count_flops(_sequence_model(10), input_shape=(None, 12, 8))
    with pytest.raises(ValueError, match=r"has 1 input\(s\) \(frames\), but 2 input shape"):
        count_flops(_sequence_model(10), input_shape=[(None, 10, 8), (None, 10, 8)])


def test_a_layer_needs_an_input_shape():
    with pytest.raises(ValueError, match=r"needs the input_shape of layer 'encoder' \(LSTM\)"):
        count_flops(layers.LSTM(6, name="encoder"))
    assert count_flops(layers.LSTM(6), (None, 10, 8)) == _lstm_flops(1, 10, 8, 6)


@keras.saving.register_keras_serializable(package="test_flops_api")
class Scale(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

    def call(self, x):
        return x * self.scale

    def compute_output_shape(self, shape):
        return shape


@keras.saving.register_keras_serializable(package="test_flops_api")
class Gram(layers.Layer):
    def call(self, x):
        return keras.ops.matmul(x, keras.ops.transpose(x, (0, 2, 1)))

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], shape[1])


register_param_formula(Scale, lambda layer, shape: {"scale": (shape[-1],)})
register_param_formula(Gram, lambda layer, shape: {})


def _model_with(layer):
    inputs = keras.Input((5, 3), name="x")
    return keras.Model(inputs, layers.Dense(4, name="head")(layer(inputs)), name="m")


def test_a_layer_without_a_flops_formula_is_named_and_never_counted_as_zero():
    model = _model_with(Scale(name="scale"))
    with pytest.raises(ValueError, match=r"no FLOPs formula for 'scale' \(Scale\)"):
        count_flops(model)
    explanation = explain_flops(model)
    assert explanation.partial and explanation.missing == ("'scale' (Scale)",)
    assert explanation.total == 2 * 5 * 3 * 4  # the Dense after it
    text = str(param_table(model, flops=True))
    assert " Total FLOPs: at least 120 (partial: no FLOPs formula for 'scale' (Scale))" in text
    assert "│     ? │" in text


def test_a_keras_op_without_a_formula_is_named_too():
    a, b = keras.Input((5, 3), name="a"), keras.Input((3, 4), name="b")
    model = keras.Model([a, b], keras.ops.einsum("btf,bfu->btu", a, b))
    explanation = explain_flops(model)
    assert explanation.partial and "(Einsum)" in explanation.missing[0]
    matmul = keras.Model([a, b], keras.ops.matmul(a, b))
    assert count_flops(matmul) == 2 * 5 * 3 * 4


def test_a_registered_flops_formula_counts_in_models_and_files(tmp_path):
    @register_flops_formula(Gram)
    def gram_flops(layer, input_shape, output_shape):
        batch, steps, features = input_shape
        assert output_shape == (batch, steps, steps)
        return {"scores": 2 * batch * steps * steps * features}

    model = _model_with(Gram(name="gram"))
    expected = 2 * 5 * 5 * 3 + 2 * 5 * 5 * 4
    path = tmp_path / "gram.keras"
    model.save(path)
    assert count_flops(model) == count_flops(str(path)) == expected
    assert str(explain_flops(Gram(), (None, 5, 3))).endswith("FLOPs = scores = 150")


def test_a_registered_formula_must_return_a_count():
    register_flops_formula(Scale, lambda layer, input_shape, output_shape: 1.5)
    try:
        with pytest.raises(
            TypeError, match=r"must return a non-negative int .* Received: flops=1.5"
        ):
            count_flops(Scale(), (None, 5, 3))
    finally:
        from keras_tdplus.params._registry import REGISTRY

        REGISTRY[Scale].flops = None
    with pytest.raises(TypeError, match=r"expected a subclass of keras.layers.Layer"):
        register_flops_formula(int, lambda *args: 0)


def test_the_explanation_shows_the_formula_per_step():
    layer = keras.layers.TimeDistributed(layers.Dense(4), name="head")
    explanation = explain_flops(layer, (None, 7, 3), batch_size=2)
    assert explanation.formula == "time * (2 * rows * inputs * units)"
    assert explanation.substituted == "7 * (2 * 2 * 3 * 4)"
    assert explanation.total == 7 * 2 * 2 * 3 * 4
    assert str(explanation).startswith("TimeDistributed(Dense(units=4)) on time=7")


def test_a_layer_called_twice_counts_both_calls():
    dense = layers.Dense(4, name="shared")
    a, b = keras.Input((5, 3)), keras.Input((7, 3))
    model = keras.Model([a, b], [dense(a), dense(b)])
    row = next(r for r in param_table(model, flops=True).rows if r.name == "shared")
    assert row.flops.total == 2 * 5 * 3 * 4 + 2 * 7 * 3 * 4
    assert row.flops.substituted == "(2 * 5 * 3 * 4) + (2 * 7 * 3 * 4)"


def test_the_table_gets_a_flops_column_only_when_asked():
    model = _sequence_model(10)
    assert "FLOPs" not in str(param_table(model))
    table = param_table(model, flops=True, batch_size=2)
    assert table.flops == _lstm_flops(2, 10, 8, 6)
    assert f" Total FLOPs: {_lstm_flops(2, 10, 8, 6):,}" in str(table)
    assert table.to_dict()["flops"] == table.flops


@pytest.fixture
def saved_model(tmp_path):
    path = tmp_path / "tagger.keras"
    _sequence_model().save(path)
    return str(path)


def test_cli_counts_flops_and_memory(saved_model, capsys):
    assert params_main([saved_model, "--flops", "--input-shape", "10,8", "--memory"]) == 0
    out = capsys.readouterr().out
    assert f" Total FLOPs: {_lstm_flops(1, 10, 8, 6):,}" in out
    assert " Optimizer (adam):" in out and " Activations (batch 1):" in out


def test_cli_says_which_axis_to_fill_in_its_own_terms(saved_model, capsys):
    assert params_main([saved_model, "--flops"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown size on axis 1" in err and "Fix: pass --input-shape T,8" in err


def test_cli_says_when_the_flops_are_partial(tmp_path, capsys):
    path = tmp_path / "scaled.keras"
    _model_with(Scale(name="scale")).save(path)
    assert params_main([str(path), "--flops"]) == 2
    captured = capsys.readouterr()
    assert "Total FLOPs: at least 120" in captured.out
    assert captured.err.count("\n") == 1
    assert "the FLOPs are partial: no FLOPs formula for 'scale' (Scale)" in captured.err


def test_cli_memory_is_for_model_files_and_bad_files_get_one_line(tmp_path, capsys):
    assert params_main(["LSTM", "--units", "5", "--input-shape", "10,1", "--memory"]) == 2
    assert "--memory needs a model file" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(corrupt, "w") as archive:
        archive.writestr("config.json", "{not json")
    assert params_main([str(corrupt), "--flops", "--memory"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("equation", "output_shape", "expected"),
    [
        ("abc,cd->abd", (5, 4), 2 * 2 * 5 * 3 * 4),  # summed over c: a matrix product
        ("abc,cd->abcd", (5, 3, 4), 0),  # nothing summed: an outer product, element-wise
        ("abc,bd->abd", (5, 4), 0),  # c is summed before, alone: element-wise
    ],
)
def test_an_einsum_without_a_summed_axis_is_element_wise(equation, output_shape, expected):
    layer = layers.EinsumDense(equation, output_shape=output_shape)
    assert count_flops(layer, (2, 5, 3)) == expected


def test_a_nested_model_built_on_folded_steps_counts_at_the_outer_batch():
    # tdp.TimeDistributed builds its inner Sequential on (batch * time, ...): the inner
    # model's config keeps that batch (12), which is not a constraint on the count.
    from keras_tdplus import TimeDistributed

    inner = keras.Sequential([layers.Conv2D(3, 2), layers.Flatten(), layers.Dense(1)])
    inputs = keras.Input((4, 5, 5, 1), batch_size=3)
    model = keras.Model(inputs, TimeDistributed(inner)(inputs))
    convolution = 2 * 3 * 4 * (4 * 4) * (2 * 2 * 1) * 3
    assert count_flops(model) == convolution + 2 * 3 * 4 * 48 * 1
    free_input = keras.Input((4, 5, 5, 1))
    free = keras.Model(free_input, TimeDistributed(inner)(free_input))
    assert count_flops(free, batch_size=6) == 2 * count_flops(model)


def test_a_layer_on_several_inputs_counts_them_at_one_batch():
    import numpy as np

    shapes = [(None, 5, 8), (None, 6, 8)]
    projections = 2 * 5 * 8 * 8 + 2 * (2 * 6 * 8 * 8) + 2 * 5 * 8 * 8
    attention = 2 * (2 * 2 * 5 * 6 * 4)
    assert count_flops(layers.MultiHeadAttention(2, 4), shapes) == projections + attention
    assert count_flops(layers.Dot(axes=(2, 2)), shapes, batch_size=np.int64(3)) == 3 * 2 * 5 * 6 * 8
    with pytest.raises(ValueError, match=r"batch axes are fixed to different sizes \(2, 3\)"):
        count_flops(layers.Dot(axes=(2, 2)), [(2, 5, 8), (3, 6, 8)])
    a, b = keras.Input((5, 3), batch_size=2), keras.Input((6, 4), batch_size=3)
    with pytest.raises(ValueError, match=r"batch axes are fixed to different sizes \(2, 3\)"):
        count_flops(keras.Model([a, b], [layers.Dense(2)(a), layers.Dense(2)(b)]))


def test_a_kernel_larger_than_its_input_is_keras_own_clear_error():
    with pytest.raises(ValueError, match=r"Computed output size would be zero or negative"):
        count_flops(layers.Conv2D(2, 3), (None, 2, 2, 1))
