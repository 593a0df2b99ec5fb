"""`keras-tdplus check --input-shape` for models saved unbuilt, with fixes in CLI terms."""

import keras
import pytest
from keras import layers

from keras_tdplus import TimeDistributedDense
from keras_tdplus.cli._check import main as check_main

pytestmark = pytest.mark.backend_independent


@pytest.fixture
def unbuilt(tmp_path):
    model = keras.Sequential([layers.LSTM(5, name="enc"), TimeDistributedDense(1, name="head")])
    path = tmp_path / "unbuilt.keras"
    with pytest.warns(UserWarning):
        model.save(path)
    return str(path)


def test_check_without_input_shape_says_which_option_to_pass(unbuilt, capsys):
    assert check_main([unbuilt]) == 2
    err = capsys.readouterr().err
    assert "has no input shape" in err
    fix = "Fix: pass --input-shape, without the batch axis, e.g. --input-shape 5,1"
    assert err.rstrip().endswith(fix)


def test_check_with_input_shape_finds_the_mistake(unbuilt, capsys):
    assert check_main([unbuilt, "--input-shape", "3,1"]) == 1
    out = capsys.readouterr().out
    assert "Fix: LSTM(5, return_sequences=True)  # layer 'enc'" in out


def test_check_rejects_a_bad_input_shape_in_one_line(unbuilt, capsys):
    assert check_main([unbuilt, "--input-shape", "3,x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-tdplus check: Received an invalid value for `--input-shape`")
    assert err.count("\n") == 1
