"""keras.ops calls in Functional configs (the NotEqual of mask_zero, ops.add, x[:, -1]) count as 0.

Both the parameter calculator and the model lint walk them as weightless layers
whose output shape Keras' own op computes, so the layers after them are
counted and checked.
"""

import keras
import pytest
from keras import layers

from keras_tdplus import check_model, param_table
from keras_tdplus.cli import main


def _masked_model():
    inputs = keras.Input((5,), dtype="int32")
    x = layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = layers.LSTM(3, return_sequences=True)(x)
    y = keras.ops.add(x, 1.0)
    y = keras.ops.concatenate([y, x], axis=-1)
    return keras.Model(inputs, layers.Dense(2)(y))


def _time_distributed_sub_model():
    steps = keras.Input((5,), dtype="int32")
    inner = keras.Model(steps, layers.LSTM(3)(layers.Embedding(10, 4, mask_zero=True)(steps)))
    sequences = keras.Input((2, 5), dtype="int32")
    x = layers.TimeDistributed(inner)(sequences)
    return keras.Model(sequences, layers.Dense(1)(x))


@pytest.mark.parametrize("make", [_masked_model, _time_distributed_sub_model])
def test_models_with_op_nodes_count_like_keras(make):
    model = make()
    for source in (model, model.get_config(), keras.saving.serialize_keras_object(model)):
        table = param_table(source)
        assert (table.total, table.trainable) == (model.count_params(), model.count_params())


def test_op_rows_show_the_op_with_its_shape_and_no_parameters():
    table = param_table(_masked_model())
    rows = {row.name: row for row in table.rows}
    assert (rows["not_equal"].class_name, rows["not_equal"].total) == ("NotEqual", 0)
    assert rows["not_equal"].output_shape == (None, 5)
    assert rows["concatenate"].output_shape == (None, 5, 6)
    assert rows["dense"].output_shape == (None, 5, 2)


@pytest.mark.parametrize("make", [_masked_model, _time_distributed_sub_model])
def test_lint_walks_through_op_nodes(make):
    model = make()
    for source in (model, keras.Model.from_config(model.get_config())):
        report = check_model(source)
        assert report.ok, str(report)
        assert "could not be rebuilt" not in str(report)


def test_lint_checks_every_layer_after_the_op_nodes():
    report = check_model(_masked_model())
    # embedding, not_equal, lstm, add, concatenate, dense
    assert "6 layers checked" in str(report)


def _indexed(key):
    inputs = keras.Input((10, 8))
    return keras.Model(inputs, layers.Dense(1)(layers.LSTM(8, return_sequences=True)(inputs)[key]))


# The keys Keras stores with values of their own: slices, `...`, `None` for a new axis.
_KEYS = {
    "last step": (slice(None), -1),
    "a range of steps": (slice(None), slice(2, 8)),
    "every other step": (slice(None), slice(None, None, 2)),
    "ellipsis": (Ellipsis, slice(None, 2)),
    "new axis": (slice(None), None, slice(None)),
}


@pytest.mark.parametrize("key", list(_KEYS))
def test_indexing_a_tensor_counts_and_checks_like_keras(key, tmp_path, capsys):
    model = _indexed(_KEYS[key])
    table = param_table(model.get_config())
    assert (table.total, table.output_shape) == (model.count_params(), model.output_shape)
    path = tmp_path / "indexed.keras"
    model.save(path)
    assert param_table(path).output_shape == model.output_shape
    assert main(["check", str(path)]) == 0, capsys.readouterr()
