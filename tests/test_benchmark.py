"""The benchmark script runs and prints its table (a smoke test: no timing is asserted)."""

import importlib.util
import re
from pathlib import Path

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
    bench.main(
        ["--timesteps", "3", "--repeats", "1", "--first-repeats", "1", "--skip-stock-above", "2"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3 |")]
    assert not any("stock" in row.split(" | ")[1] for row in rows)
    assert all(row.split(" | ")[4] == "n/a" for row in rows)
