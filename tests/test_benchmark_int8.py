"""The benchmark's `--int8` rows: quantized TimeDistributedDense beside quantized Dense."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_distributed.py"


def test_int8_rows_are_timed_against_the_int8_dense(capsys):
    spec = importlib.util.spec_from_file_location("time_distributed_benchmark_int8", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(
        ["--timesteps", "3", "--repeats", "1", "--first-repeats", "1", "--skip-stock-above", "2"]
        + ["--int8"]
    )
    rows = {
        row.split(" | ")[1]: row.split(" | ")
        for row in capsys.readouterr().out.splitlines()
        if row.startswith("| 3 |")
    }
    assert list(rows)[-2:] == list(bench.INT8_HEADS)
    # The int8 Dense is the "x Dense" reference of the int8 rows, 1.00 against itself.
    assert [rows[bench.INT8_DENSE][i] for i in (3, 6, 9)] == ["1.00", "1.00", "1.00"]
    assert all(rows[name][4] == "n/a" for name in bench.INT8_HEADS)
