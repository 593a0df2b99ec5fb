"""Ctrl-C in any `keras-tdplus` command: exit status 130, one line, no traceback.

The interrupt is raised by the command's first line to stdout, which every
command reaches after it has done its work, so the test does not depend on how
a command is split into functions.
"""

import builtins
import sys

import keras
import pytest
from keras import layers

from keras_tdplus import cli


@pytest.fixture
def interrupt_on_output(monkeypatch):
    real_print = builtins.print

    def interrupting(*args, file=None, **kwargs):
        if file is None or file is sys.stdout:
            raise KeyboardInterrupt
        real_print(*args, file=file, **kwargs)

    monkeypatch.setattr(builtins, "print", interrupting)


@pytest.fixture
def saved_model(tmp_path):
    model = keras.Sequential([keras.Input((5, 1)), layers.LSTM(2, return_sequences=True)])
    path = tmp_path / "m.keras"
    model.save(path)
    return str(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["echo", "--experiment", "many_to_many", "--epochs", "1"],
        ["check", "MODEL"],
        ["params", "LSTM", "--units", "5", "--input-shape", "1,1"],
        ["params", "MODEL"],
    ],
)
def test_ctrl_c_exits_130_with_one_line(argv, saved_model, interrupt_on_output, capsys):
    argv = [saved_model if arg == "MODEL" else arg for arg in argv]
    assert cli.main(argv) == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "keras-tdplus: interrupted"
    assert captured.out == ""
