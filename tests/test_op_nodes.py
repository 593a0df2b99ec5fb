"""keras.ops calls in Functional configs (the NotEqual of mask_zero, ops.add, x[:, -1]) count as 0.

Both the parameter calculator and the model lint walk them as weightless layers
whose output shape Keras' own op computes, so the layers after them are
counted and checked.
"""

import subprocess
import sys

import keras
import pytest
from _keras_version import keras_at_least
from keras import layers

from keras_tdplus import check_model, convert_time_distributed, count_flops, param_table
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


def _recorded(model):
    return [type(op).__name__ for op in model.operations]


def test_op_rows_show_the_op_with_its_shape_and_no_parameters():
    model = _masked_model()
    table = param_table(model)
    rows = {row.name: row for row in table.rows}
    assert (rows["add"].class_name, rows["add"].total) == ("Add", 0)
    assert rows["add"].output_shape == (None, 5, 3)
    assert rows["concatenate"].output_shape == (None, 5, 6)
    assert rows["dense"].output_shape == (None, 5, 2)
    # Keras up to 3.15 records the mask of `mask_zero` as a NotEqual op in the graph; 3.16
    # computes masks outside it.
    assert ("NotEqual" in _recorded(model)) == (not keras_at_least(3, 16))
    if "NotEqual" in _recorded(model):
        assert (rows["not_equal"].class_name, rows["not_equal"].total) == ("NotEqual", 0)
        assert rows["not_equal"].output_shape == (None, 5)


@pytest.mark.parametrize("make", [_masked_model, _time_distributed_sub_model])
def test_lint_walks_through_op_nodes(make):
    model = make()
    for source in (model, keras.Model.from_config(model.get_config())):
        report = check_model(source)
        assert report.ok, str(report)
        assert "could not be rebuilt" not in str(report)


def test_lint_checks_every_layer_after_the_op_nodes():
    model = _masked_model()
    report = check_model(model)
    # embedding, (not_equal up to Keras 3.15), lstm, add, concatenate, dense
    checked = 6 if "NotEqual" in _recorded(model) else 5
    assert len(model.operations) - 1 == checked  # all but the input
    assert f"{checked} layers checked" in str(report)


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


def _converted_character_tagger():
    """A tagger whose words are read from their characters, converted: it holds our mask op.

    `Embedding(mask_zero=True)` inside a wrapper computes a mask; where a later layer
    takes it (the `Concatenate` with the word embeddings), the converted model records the
    wrapper's `_MaskOf` op in its graph.
    """
    characters = keras.Input((None, 10), dtype="int32")
    x = layers.TimeDistributed(layers.Embedding(40, 8, mask_zero=True))(characters)
    x = layers.TimeDistributed(layers.LSTM(6))(x)
    words = keras.Input((None,), dtype="int32")
    x = layers.Concatenate()([layers.Embedding(100, 12, mask_zero=True)(words), x])
    x = layers.Bidirectional(layers.LSTM(7, return_sequences=True))(x)
    tags = layers.TimeDistributed(layers.Dense(5, activation="softmax"))(x)
    return convert_time_distributed(keras.Model([words, characters], tags))


def test_the_wrappers_mask_op_counts_and_checks_from_the_model_and_its_file(tmp_path):
    model = _converted_character_tagger()
    ops = [op for op in model.operations if type(op).__name__ == "_MaskOf"]
    # Keras 3.16 records no mask ops in a graph (ours neither): the model is read all the same.
    assert bool(ops) == (not keras_at_least(3, 16)), [type(op).__name__ for op in model.operations]
    path = tmp_path / "tagger.keras"
    model.save(path)
    shapes = [(None, 6), (None, 6, 10)]
    flops = count_flops(model, input_shape=shapes, batch_size=2)
    for source in (model, path):
        table = param_table(source, input_shape=shapes, flops=True)
        assert table.total == model.count_params()
        rows = {row.name: row for row in table.rows}
        assert all((rows[op.name].total, rows[op.name].flops.total) == (0, 0) for op in ops)
        assert count_flops(source, input_shape=shapes, batch_size=2) == flops
    report = check_model(model)
    assert report.ok and not report.findings, str(report)
    assert report.layers_checked == len(model.operations) - 2  # all but the two inputs
    # In a process of its own, as a user runs it: the command imports only what it needs.
    done = subprocess.run(
        [sys.executable, "-m", "keras_tdplus", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-1000:]
    checked = len(model.operations) - 2
    assert f"{checked} layers checked, no sequence-shape problems found" in done.stdout
