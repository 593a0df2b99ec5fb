"""`count_flops(training=True)` and `valid_steps`: which gradients a training step computes,
and what a padded batch costs.

The rules, each against a count by hand: a product adds one product of its
size per operand a gradient reaches (a trainable weight, an activation made
from one), never the model's inputs, nor what frozen or weightless layers
alone compute from them; a recurrent layer's zero initial state gets none.
The counts themselves are checked against torch's `FlopCounterMode` over a
forward pass and `loss.backward()` in tests/test_flops.py (every reference
model) and tests/test_flops_reference.py (measured again).
"""

import keras
import pytest
from keras import layers, ops

import keras_tdplus as tdp
from keras_tdplus import count_flops, explain_flops, param_table, register_flops_formula
from keras_tdplus.cli._params import main as params_main

pytestmark = pytest.mark.backend("jax")


def _dense(batch, rows, inputs, units):
    """One Dense product by hand: 2 FLOPs per multiply-add."""
    return 2 * batch * rows * inputs * units


def _stack(*dense_layers, steps=5, features=3):
    return keras.Sequential([keras.Input((steps, features)), *dense_layers])


def test_the_first_layer_gets_its_kernel_gradient_and_the_next_its_inputs_too():
    model = _stack(layers.Dense(4), layers.Dense(2))
    first, second = _dense(1, 5, 3, 4), _dense(1, 5, 4, 2)
    assert count_flops(model) == first + second
    # The first product differentiates its kernel alone (the input is the model's), the
    # second its kernel and its input.
    assert count_flops(model, training=True) == 2 * first + 3 * second


def test_a_frozen_layer_passes_gradients_on_but_computes_none_for_its_kernel():
    frozen_first = _stack(layers.Dense(4, trainable=False), layers.Dense(2))
    assert count_flops(frozen_first, training=True) == _dense(1, 5, 3, 4) + 2 * _dense(1, 5, 4, 2)
    frozen_last = _stack(layers.Dense(4), layers.Dense(2, trainable=False))
    assert count_flops(frozen_last, training=True) == 2 * _dense(1, 5, 3, 4) + 2 * _dense(
        1, 5, 4, 2
    )


def test_a_frozen_model_trains_nothing_and_a_frozen_inner_model_only_passes_gradients():
    model = _stack(layers.Dense(4), layers.Dense(2))
    model.trainable = False
    assert count_flops(model, training=True) == count_flops(model)
    inner = keras.Sequential([keras.Input((5, 4)), layers.Dense(4)], name="inner")
    inner.trainable = False
    x = keras.Input((5, 3))
    outer = keras.Model(x, inner(layers.Dense(4)(x)))
    assert count_flops(outer, training=True) == 2 * _dense(1, 5, 3, 4) + 2 * _dense(1, 5, 4, 4)


def test_weightless_layers_and_stop_gradient_carry_no_gradient_to_the_products_after():
    """Before `stop_gradient` or an integer output, no backward runs at all."""
    x = keras.Input((5, 3))
    y = layers.Dense(4)(layers.Dropout(0.1)(layers.Activation("relu")(x)))
    assert count_flops(keras.Model(x, y), training=True) == 2 * _dense(1, 5, 3, 4)
    a = keras.Input((5, 3))
    h = ops.stop_gradient(layers.Dense(3)(a))
    stopped = keras.Model(a, layers.Dense(2)(h))
    # No gradient reaches the first Dense: its forward pass alone.
    assert count_flops(stopped, training=True) == _dense(1, 5, 3, 3) + 2 * _dense(1, 5, 3, 2)


def test_an_lstm_differentiates_every_step_but_the_zero_initial_state():
    batch, steps, features, units = 2, 6, 3, 4
    model = keras.Sequential([keras.Input((steps, features)), layers.LSTM(units)])
    step_input = 2 * batch * features * 4 * units
    step_state = 2 * batch * units * 4 * units
    forward = steps * (step_input + step_state)
    backward = steps * (step_input + step_state) + (steps - 1) * step_state
    assert count_flops(model, batch_size=batch) == forward
    assert count_flops(model, batch_size=batch, training=True) == forward + backward


def test_attention_scores_differentiate_both_operands_once_projected():
    model = keras.Sequential([keras.Input((5, 4))])
    x = keras.Input((5, 4))
    model = keras.Model(x, layers.Attention()([x, x]))
    # Weightless attention on the model's inputs: nothing to differentiate.
    assert count_flops(model, training=True) == count_flops(model)
    projected = layers.Dense(4)(x)
    scored = keras.Model(x, layers.Attention()([projected, projected]))
    attention = 2 * 5 * 5 * 4 * 2  # scores and weighted values, (1, 5, 5) by 4 features each
    assert count_flops(scored, training=True) == 2 * _dense(1, 5, 4, 4) + 3 * attention


def test_valid_steps_count_the_skipped_layer_on_its_valid_rows_and_the_rest_padded():
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.Masking(),
            tdp.TimeDistributed(layers.Dense(4), skip_masked_steps=True),
            layers.LSTM(2),
        ]
    )
    lstm = 5 * 2 * 2 * (4 + 2) * 4 * 2  # every padded step of the batch of 2
    explanation = explain_flops(model, valid_steps=[2, 5])
    assert explanation.total == _dense(1, 7, 3, 4) + lstm
    assert explanation.padded == _dense(2, 5, 3, 4) + lstm
    assert count_flops(model, valid_steps=0.4, batch_size=2) == _dense(1, 4, 3, 4) + lstm
    # With no valid step the layer still runs on one row.
    assert count_flops(model, valid_steps=[0, 0]) == _dense(1, 1, 3, 4) + lstm
    table = param_table(model, flops=True, valid_steps=[2, 5], training=True)
    skipped = table.rows[1].flops
    assert (skipped.total, skipped.padded) == (2 * _dense(1, 7, 3, 4), 2 * _dense(2, 5, 3, 4))
    assert "Padded FLOPs" in str(table)
    # Stock TimeDistributed runs every step, masked or not.
    stock = keras.Sequential(
        [keras.Input((5, 3)), layers.Masking(), layers.TimeDistributed(layers.Dense(4))]
    )
    assert count_flops(stock, valid_steps=[2, 5]) == count_flops(stock, batch_size=2)


def test_no_backward_runs_where_only_integer_outputs_or_stopped_values_lead():
    x = keras.Input((5, 3))
    h = layers.Dense(4)(x)
    ids = ops.argmax(layers.Dense(3)(h), axis=-1)
    model = keras.Model(x, [ids, h])
    # The second Dense reaches the loss only through argmax: forward alone.
    assert count_flops(model, training=True) == 2 * _dense(1, 5, 3, 4) + _dense(1, 5, 4, 3)


def test_stacked_cells_differentiate_each_cells_input_from_the_cell_before():
    cells = [layers.SimpleRNNCell(4), layers.SimpleRNNCell(3)]
    stacked = keras.Sequential([keras.Input((6, 3)), layers.RNN(cells)])
    layered = keras.Sequential(
        [keras.Input((6, 3)), layers.SimpleRNN(4, return_sequences=True), layers.SimpleRNN(3)]
    )
    assert count_flops(stacked, training=True) == count_flops(layered, training=True)


def test_valid_steps_must_fit_a_fixed_batch():
    x = keras.Input((5, 3), batch_size=2)
    y = tdp.TimeDistributed(layers.Dense(4), skip_masked_steps=True)(layers.Masking()(x))
    with pytest.raises(ValueError, match="valid_steps lists 3 samples, but the batch axis"):
        count_flops(keras.Model(x, y), valid_steps=[1, 2, 3])


@pytest.mark.parametrize(
    ("valid_steps", "match"),
    [
        ([1, 2, 3], "valid_steps lists 3 samples but batch_size is 2"),
        ([2, 9], "gives a sample 9 valid steps, but the input of .* has 5 steps"),
        ([-1, 2], "expected a list of step counts"),
        (1.5, "expected a list of step counts"),
        (2, "expected a list of step counts"),
        ("2,3", "expected a list of step counts"),
        ([True, 2], "expected a list of step counts"),
        ([], "expected a list of step counts"),
    ],
)
def test_bad_valid_steps_are_refused_by_name(valid_steps, match):
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.Masking(),
            tdp.TimeDistributed(layers.Dense(4), skip_masked_steps=True),
        ]
    )
    with pytest.raises(ValueError, match=match):
        count_flops(model, batch_size=2, valid_steps=valid_steps)


def test_training_must_be_a_bool():
    with pytest.raises(ValueError, match="invalid value for `training`"):
        count_flops(layers.Dense(2), (None, 3), training="yes")


@keras.saving.register_keras_serializable(package="test_flops_training")
class _Gram(layers.Layer):
    def call(self, x):
        return ops.matmul(x, ops.transpose(x, (0, 2, 1)))


@keras.saving.register_keras_serializable(package="test_flops_training")
class _GramWithBackward(_Gram):
    pass


def test_a_users_formula_counts_training_only_when_it_takes_training():
    register_flops_formula(_Gram, lambda layer, shape, output: 2 * shape[0] * shape[1] ** 2 * 3)

    @register_flops_formula(_GramWithBackward)
    def gram(layer, shape, output, training=False):
        forward = 2 * shape[0] * shape[1] ** 2 * shape[2]
        return {"forward": forward, "backward": 2 * forward} if training else forward

    assert count_flops(_GramWithBackward(), (None, 4, 3), training=True) == 3 * 96
    assert explain_flops(_Gram(), (None, 4, 3), training=True).missing
    with pytest.raises(ValueError, match="no training step FLOPs formula for '.*' \\(_Gram\\)"):
        count_flops(_Gram(), (None, 4, 3), training=True)


def test_the_cli_counts_a_training_step_on_valid_steps(tmp_path, capsys):
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.Masking(),
            tdp.TimeDistributed(layers.Dense(4), skip_masked_steps=True),
        ]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    assert params_main([str(path), "--training", "--valid-steps", "2,5"]) == 0
    out = capsys.readouterr().out
    assert (
        f"on the valid steps (padded: {2 * _dense(2, 5, 3, 4):,}): {2 * _dense(1, 7, 3, 4)}" in out
    )
    assert params_main([str(path), "--valid-steps", "a,b"]) == 2
    assert "--valid-steps: expected step counts" in capsys.readouterr().err
