"""The counting benchmark runs and prints a row per model (a smoke test: no timing is asserted)."""

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "flops_speed.py"

pytestmark = pytest.mark.backend("jax")


def test_the_benchmark_prints_a_row_per_model_and_the_slowest(capsys):
    spec = importlib.util.spec_from_file_location("flops_speed", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--models", "MobileNet", "VGG16", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"\| (MobileNet|VGG16) \| \d+ \|", line)]
    assert len(rows) == 2
    assert re.search(r"^slowest count: (MobileNet|VGG16), \d+\.\d\d s$", out, re.MULTILINE)
