"""Bad input to every public function and layer gets a clear error naming it."""

import zipfile

import keras
import numpy as np
import pytest
from keras import layers

import keras_tdplus as tdp
from keras_tdplus.cli import main

X3 = np.ones((2, 5, 3), "float32")


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: tdp.TimeDistributedDense(0), ValueError, r"`units`.*Received: units=0"),
        (lambda: tdp.TimeDistributedDense(-2), ValueError, r"`units`.*Received: units=-2"),
        (lambda: tdp.TimeDistributedDense(2, activation="nope"), ValueError, r"activation"),
        (
            lambda: tdp.TimeDistributedDense(2)(np.array([[["a"]]])),
            TypeError,
            r"needs numeric `inputs`\. Received: inputs of dtype <U1",
        ),
        (
            lambda: tdp.TimeDistributedDense(2)(np.float32(1.0)),
            tdp.SequenceShapeError,
            r"needs a time axis, but its input has rank 0",
        ),
        (
            lambda: tdp.TimeDistributed(layers.Dense(2))(np.ones(4, "float32")),
            tdp.SequenceShapeError,
            r"needs a time axis, but its input has rank 1",
        ),
        (
            lambda: tdp.TimeDistributed(layers.Dense(2))(X3, mask=np.ones((2,), bool)),
            tdp.SequenceShapeError,
            r"The `mask` passed to the `TimeDistributed` layer must be at least 2D"
            r"(?s:.*)mask shape \(2,\)",
        ),
        (
            lambda: tdp.TimeDistributed(layers.Dense(2))(X3, mask=np.ones((3, 5), bool)),
            tdp.SequenceShapeError,
            r"Expected: mask shape \(2, 5\)",
        ),
        # A ValueError, as keras.layers.TimeDistributed raises.
        (lambda: tdp.TimeDistributed("Dense"), ValueError, r"`layer`"),
        (lambda: tdp.convert_time_distributed(None), TypeError, r"`model`"),
        (lambda: tdp.count_params(None, (None, 1, 1)), TypeError, r"`layer`"),
        (lambda: tdp.count_params(layers.LSTM(5), "1,1"), ValueError, r"`input_shape`"),
        (lambda: tdp.count_params(layers.Dense(2), (None, -3)), ValueError, r"`input_shape`"),
        (
            lambda: tdp.count_params(layers.LSTM(5), (None, 5)),
            tdp.SequenceShapeError,
            r"LSTM",
        ),
        (lambda: tdp.explain_params(object(), (None, 3)), TypeError, r"`layer`"),
        (lambda: tdp.param_table(3), TypeError, r"`source`"),
        (lambda: tdp.param_table("/no/such/model.keras"), FileNotFoundError, r"model\.keras"),
        (lambda: tdp.check_model("model"), TypeError, r"`model`"),
        (lambda: tdp.check_fit_data(None, X3), TypeError, r"`model`"),
        (
            lambda: tdp.check_sequence_input(X3, timesteps=-1),
            ValueError,
            r"`timesteps`.*Received: timesteps=-1",
        ),
        (lambda: tdp.check_sequence_input("abc"), tdp.SequenceShapeError, r"`X`"),
        (
            lambda: tdp.check_sequence_input(None, name="X_train"),
            tdp.SequenceShapeError,
            r"`X_train`",
        ),
        (lambda: tdp.echo.run(3), ValueError, r"Unknown echo experiment 3"),
        (lambda: tdp.echo.run("many_to_many", seed=-1), ValueError, r"`seed`"),
        (lambda: tdp.testing.check_layer(layers.Dense(2)), TypeError, r"`layer_cls`"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.backend_independent
def test_every_shape_error_is_a_value_error():
    assert issubclass(tdp.SequenceShapeError, ValueError)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model = keras.Sequential(
        [keras.Input((5, 1)), layers.LSTM(5, return_sequences=True), tdp.TimeDistributedDense(1)]
    )
    path = tmp_path_factory.mktemp("saved") / "echo.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("command", ["params", "check"])
@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "no_config", "bad_json", "missing"])
@pytest.mark.backend_independent
def test_cli_reports_a_damaged_keras_file_with_status_2(
    saved_model, tmp_path, command, damage, capsys
):
    path = tmp_path / "damaged.keras"
    data = saved_model.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not_a_zip":
        path.write_bytes(b"this is not a keras file")
    elif damage in ("no_config", "bad_json"):
        with zipfile.ZipFile(saved_model) as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                if item.filename == "config.json":
                    if damage == "bad_json":
                        target.writestr(item, b"{not json")
                else:
                    target.writestr(item, source.read(item))
    assert main([command, str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "damaged.keras" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command, expected",
    [("params", "time_distributed_dense"), ("check", "no sequence-shape problems found")],
)
@pytest.mark.backend_independent
def test_cli_reads_an_intact_file(saved_model, command, expected, capsys):
    assert main([command, str(saved_model)]) == 0
    assert expected in capsys.readouterr().out
