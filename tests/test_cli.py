"""The keras-tdplus command line."""

import os
import re
import subprocess
import sys

import pytest

from keras_tdplus.cli import main


def test_echo_prints_summary_params_and_predictions(capsys):
    assert main(["echo", "--experiment", "many_to_many", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "=== many_to_many:" in out
    assert "time_distributed" in out and "(TimeDistributed)" in out
    assert "Total params: 146" in out
    assert "4 * ((1 + 1) * 5 + 5^2) = 140" in out
    predictions = out.split("Predictions:\n")[1].split("max abs error")[0].splitlines()
    assert len(predictions) == 5, predictions
    assert all(re.fullmatch(r"-?\d\.\d", line) for line in predictions), predictions
    assert "max abs error" in out


def test_echo_runs_every_experiment_by_default(capsys):
    assert main(["echo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    for name, total in [
        ("one_to_one", 146),
        ("many_to_one", 170),
        ("many_to_many", 146),
        ("many_to_many_tdplus", 146),
    ]:
        section = out.split(f"=== {name}:")[1].split("===")[0]
        assert f"Total params: {total}" in section
        assert len(section.split("Predictions:\n")[1].splitlines()) >= 5


def test_verbose_2_prints_keras_epoch_lines(capsys):
    assert main(["echo", "--experiment", "one_to_one", "--epochs", "3", "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "loss:" in out


def test_seeds_prints_a_convergence_table(capsys):
    assert main(["echo", "--experiment", "many_to_one", "--seeds", "2", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "| backend | experiment | seeds | echo to 1 d.p." in out
    assert "| many_to_one | 2 |" in out


def test_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "echo.png"
    code = main(["echo", "--experiment", "many_to_one", "--epochs", "2", "--plot", str(path)])
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot saved to {path}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["echo", "--experiment", "two_to_two"], "invalid choice: 'two_to_two'"),
        (["echo", "--epochs", "-3"], "expected an integer >= 0, received '-3'"),
        (["echo", "--seeds", "0"], "expected a positive integer, received '0'"),
        (["echo", "--plot", "out.jpg"], "--plot expects a .png file name"),
        (["echo", "--plot", "/no/such/folder/x.png"], "does not exist"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        ([], "usage: keras-tdplus"),
    ],
)
@pytest.mark.backend_independent
def test_bad_input_exits_non_zero_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err + captured.out
    assert "Traceback" not in captured.err


@pytest.mark.backend_independent
def test_module_entry_point_runs_without_a_traceback():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "keras_tdplus", "echo", "--experiment", "bogus"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr
    assert "Traceback" not in done.stderr


def _plot_targets(tmp_path):
    folder_named_png = tmp_path / "looks_like.png"
    folder_named_png.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    return {
        "folder": (str(folder_named_png), "is a folder; expected a .png file name"),
        "parent is a file": (str(a_file / "x.png"), "is not a folder"),
        "unwritable": ("/proc/echo.png", "cannot write in the folder '/proc'"),
        "missing parent": (str(tmp_path / "no" / "x.png"), "does not exist"),
    }


@pytest.mark.parametrize("case", ["folder", "parent is a file", "unwritable", "missing parent"])
@pytest.mark.backend_independent
def test_a_bad_plot_path_fails_before_training(tmp_path, case, capsys):
    path, message = _plot_targets(tmp_path)[case]
    assert main(["echo", "--experiment", "many_to_one", "--epochs", "1", "--plot", path]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    # Nothing ran: the banner and the experiments print only after the checks.
    assert "backend:" not in captured.out and "===" not in captured.out


def _fake_result():
    import types

    import numpy as np

    return types.SimpleNamespace(
        name="fake",
        backend="jax",
        seed=0,
        loss_history=[1.0, 0.5],
        targets=np.zeros((1, 3, 1)),
        predictions=np.zeros((1, 3, 1)),
    )


@pytest.mark.backend_independent
def test_the_plot_replaces_the_file_at_once(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from keras_tdplus.echo import plot_results

    path = tmp_path / "echo.png"
    path.write_bytes(b"old plot")

    def fail(self, *args, **kwargs):
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Figure, "savefig", fail)
        with pytest.raises(OSError, match="No space left"):
            plot_results([_fake_result()], str(path))
    assert path.read_bytes() == b"old plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo.png"]
    plot_results([_fake_result()], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo.png"]
