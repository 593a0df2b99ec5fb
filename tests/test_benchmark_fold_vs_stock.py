"""The fold-vs-stock benchmark and its chart run (smoke tests: no timing is asserted)."""

import json
import re

import keras
import pytest
from test_benchmark_masked_steps import _load


def test_benchmark_prints_a_row_per_cell_and_writes_json(capsys, tmp_path):
    bench = _load("fold_vs_stock")
    out = tmp_path / "result.json"
    argv = ["--families", "dense", "conv1d", "--batches", "2", "--steps", "1", "3"]
    assert bench.main([*argv, "--rounds", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = [line for line in printed if re.match(r"\| \w+ \| 2 ", line)]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| dense", "2", "1"],
        ["| dense", "2", "3"],
        ["| conv1d", "2", "1"],
        ["| conv1d", "2", "3"],
    ]
    data = json.loads(out.read_text())
    assert data["backend"] == keras.backend.backend()
    dense, _, conv, _ = data["cells"]
    assert set(dense) - {"family", "batch", "steps"} == {"stock", "ours", "TimeDistributedDense"}
    assert set(conv) - {"family", "batch", "steps"} == {"stock", "ours"}
    assert all(f[step] > 0 for f in (dense["ours"], conv["stock"]) for step in ("train", "predict"))


@pytest.mark.backend_independent
def test_benchmark_models_share_their_weights():
    bench = _load("fold_vs_stock")
    stock = bench._model("stock", "conv2d", 3)
    ours = bench._model("ours", "conv2d", 3)
    assert [w.shape for w in stock.get_weights()] == [w.shape for w in ours.get_weights()]


def _result(backend, train_ratio):
    cell = {
        "family": "conv2d",
        "batch": 16,
        "steps": 4,
        "stock": {"train": 0.01, "predict": 0.004},
        "ours": {"train": 0.01 * train_ratio, "predict": 0.002},
    }
    return {"backend": backend, "keras": "3.99", "cpus": 2, "cells": [cell]}


@pytest.mark.backend_independent
def test_chart_reads_results_prints_the_tables_and_draws(capsys, tmp_path):
    plot = _load("plot_fold_vs_stock")
    paths = []
    for backend, ratio in (("jax", 1.5), ("torch", 0.5)):
        paths.append(tmp_path / f"{backend}.json")
        paths[-1].write_text(json.dumps(_result(backend, ratio)))
    chart = tmp_path / "chart.png"
    assert plot.main([*map(str, paths), "--out", str(chart)]) == 0
    printed = capsys.readouterr().out
    assert "| conv2d | 1.50x / 0.50x | 0.50x / 0.50x |" in printed
    assert "**jax** (keras 3.99, 2 cores): every cell" in printed
    assert "| conv2d | 16 | 4 | 10.00 ms | 1.50 | 4.00 ms | 0.50 |" in printed
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '{"backend": "jax", "cells": []}',
        '{"backend": "jax", "cells": [{"family": "d", "batch": 2, "steps": 2}]}',
        '{"backend": "jax", "cells": [{"family": "d", "batch": 2, "steps": 2, '
        '"stock": {"train": 1, "predict": 1}, "ours": {"train": 0, "predict": 1}}]}',
    ],
    ids=["a list", "no cells", "a wrapper missing", "a zero time"],
)
@pytest.mark.backend_independent
def test_chart_refuses_a_file_that_is_not_a_result(capsys, tmp_path, text):
    plot = _load("plot_fold_vs_stock")
    path = tmp_path / "other.json"
    path.write_text(text)
    assert plot.main([str(path)]) == 2
    error = capsys.readouterr().err
    expected = f"{path}: expected the JSON that fold_vs_stock.py --json writes"
    assert error == f"plot_fold_vs_stock: {expected}\n"
