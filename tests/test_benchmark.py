"""The benchmark script runs and prints its table (a smoke test: no timing is asserted)."""

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_distributed.py"


def _load():
    spec = importlib.util.spec_from_file_location("time_distributed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_every_head_with_its_ratios(capsys):
    bench = _load()
    bench.main(["--timesteps", "3", "--repeats", "2", "--first-repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3 |")]
    assert [row.split(" | ")[1] for row in rows] == list(bench.HEADS)
    dense = rows[-1].split(" | ")
    # Dense against itself is 1.00 in each "x Dense" column.
    assert [dense[i] for i in (3, 6, 9)] == ["1.00", "1.00", "1.00"]
    for row in rows:
        assert re.fullmatch(r"\| 3 \|.*\|", row)
        assert len(row.split(" | ")) == 11


def test_benchmark_can_leave_out_stock_above_a_length(capsys):
    bench = _load()
    # 0 leaves stock out at every length (it once meant "no limit").
    bench.main(
        ["--timesteps", "3", "--repeats", "1", "--first-repeats", "1", "--skip-stock-above", "0"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3 |")]
    assert not any("stock" in row.split(" | ")[1] for row in rows)
    assert all(row.split(" | ")[4] == "n/a" for row in rows)
    with pytest.raises(SystemExit):
        bench.main(["--skip-stock-above", "-1"])
    assert "expected a length of 0 or more, received -1" in capsys.readouterr().err


def _load_plot():
    path = SCRIPT.with_name("plot_benchmark.py")
    spec = importlib.util.spec_from_file_location("plot_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chart_reads_the_benchmark_tables_and_draws_them(capsys, tmp_path):
    bench = _load()
    bench.main(["--timesteps", "2", "3", "--repeats", "1", "--first-repeats", "1"])
    printed = capsys.readouterr().out
    tables = tmp_path / "tables.md"
    tables.write_text("**jax** (a run)\n\n" + printed)
    chart = _load_plot()
    read = chart.read_tables(tables.read_text())
    assert list(read) == ["jax"]
    assert list(read["jax"]) == list(bench.HEADS)
    for head in read["jax"].values():
        assert [t for t, _ in head["first step"]] == [2, 3]
        assert all(seconds > 0 for _, seconds in head["train step"])
    out = tmp_path / "chart.png"
    assert chart.main([str(tables), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
