"""The masked-steps benchmark and its chart run (smoke tests: no timing is asserted)."""

import importlib.util
import json
import re
from pathlib import Path

import keras
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_a_row_per_fraction_and_writes_json(capsys, tmp_path):
    bench = _load("masked_steps")
    out = tmp_path / "result.json"
    code = bench.main(
        ["--models", "tagger head", "--repeats", "1", "--no-stock", "--json", str(out)]
    )
    assert code == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\| \d+% \|", line)]
    assert [row.split(" | ")[0] for row in rows] == ["| 100%", "| 75%", "| 50%", "| 25%", "| 10%"]
    for row in rows:
        assert re.fullmatch(r"\| \d+% \| [\d.]+x \| [\d.]+x \|  \| [\d.]+, [\d.]+ \|", row)
    data = json.loads(out.read_text())
    assert data["backend"] == keras.backend.backend()
    row = data["models"]["tagger head"]["0.25"]
    assert set(row) == {"skip", "all steps", "TimeDistributedDense"}
    assert all(figure["train"] > 0 and figure["predict"] > 0 for figure in row.values())


@pytest.mark.backend_independent
def test_benchmark_valid_steps_are_the_fraction_asked_for():
    bench = _load("masked_steps")
    assert [bench._valid_steps(64, f) for f in bench.FRACTIONS] == [64, 48, 32, 16, 6]
    assert bench._valid_steps(4, 0.1) == 1


@pytest.mark.backend_independent
def test_chart_reads_results_prints_the_table_and_draws(capsys, tmp_path):
    plot = _load("plot_masked_steps")
    figures = {"skip": {"train": 1.0, "predict": 2.0}, "all steps": {"train": 4.0, "predict": 4.0}}
    result = {
        "backend": "jax",
        "keras": "3.99",
        "cpus": 2,
        "models": {"frame encoder": {"0.25": figures, "1.0": figures}},
    }
    path = tmp_path / "jax.json"
    path.write_text(json.dumps(result))
    chart = tmp_path / "chart.png"
    assert plot.main([str(path), "--out", str(chart)]) == 0
    printed = capsys.readouterr().out
    assert "| frame encoder | 25% | 0.25x / 0.50x |" in printed
    assert printed.index("| 100% |") < printed.index("| 25% |")
    assert "jax (keras 3.99, 2 CPUs)" in printed
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '{"backend": "jax", "models": {"m": [1, 2]}}',
        '{"backend": "jax", "models": {"m": {"0.5": {"skip": {"train": 1}}}}}',
        '{"backend": "jax", "models": {"m": {"0.5": {"skip": {"train": -1, "predict": 1},'
        ' "all steps": {"train": 1, "predict": 1}}}}}',
    ],
    ids=["a list", "rows a list", "a wrapper missing", "a negative time"],
)
@pytest.mark.backend_independent
def test_chart_refuses_a_file_that_is_not_a_result(capsys, tmp_path, text):
    plot = _load("plot_masked_steps")
    path = tmp_path / "other.json"
    path.write_text(text)
    assert plot.main([str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"{path}: expected the JSON that masked_steps.py --json writes" in error


@pytest.mark.backend_independent
def test_chart_refuses_a_file_that_is_not_json(capsys, tmp_path):
    plot = _load("plot_masked_steps")
    path = tmp_path / "broken.json"
    path.write_bytes(b"\xff{")
    assert plot.main([str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"plot_masked_steps: {path}: not JSON") and error.count("\n") == 1
