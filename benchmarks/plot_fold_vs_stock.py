"""Draws the fold-vs-stock benchmark: our time over stock's, every cell, per backend.

    python benchmarks/plot_fold_vs_stock.py out/jax.json out/tensorflow.json ... \\
        --out docs/img/fold_vs_stock.png > docs/generated/fold_vs_stock.md

Reads the JSON files `benchmarks/fold_vs_stock.py --json` writes (one per
backend), prints the Markdown the Performance page includes (the worst cell
of each family per backend, then every cell) and draws one panel per backend:
ours / stock for the train and the predict step of every cell, grouped by
family, with the 1.05 line the issue sets. Needs matplotlib
(`pip install 'keras-tdplus[plot]'`).
"""

import argparse
import json
import sys
from pathlib import Path

MAX_BYTES = 1 << 20
STEPS = ("train", "predict")
LIMIT = 1.05


def read_results(paths):
    """`{backend: {"keras": version, "cpus": n, "cells": [cell, ...]}}`, each cell checked."""
    results = {}
    for path in paths:
        path = Path(path)
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: over {MAX_BYTES} bytes, not a benchmark result")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        try:
            cells = [_cell(cell) for cell in data["cells"]]
            if not cells:
                raise ValueError("no cells")
            results[str(data["backend"])] = {
                "keras": data.get("keras"),
                "cpus": data.get("cpus"),
                "cells": cells,
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ValueError(
                f"{path}: expected the JSON that fold_vs_stock.py --json writes"
            ) from None
    return results


def _cell(cell):
    checked = {"family": str(cell["family"]), "batch": int(cell["batch"])}
    checked["steps"] = int(cell["steps"])
    for wrapper in ("stock", "ours"):
        for step in STEPS:
            if not float(cell[wrapper][step]) > 0:
                raise ValueError(f"{wrapper} {step}: not a positive time")
        checked[wrapper] = {step: float(cell[wrapper][step]) for step in STEPS}
    return checked


def ratios(cell):
    """`(train, predict)`: ours over stock."""
    return tuple(cell["ours"][step] / cell["stock"][step] for step in STEPS)


def markdown(results):
    backends = sorted(results)
    lines = [
        "Worst cell of each family (ours / stock, train and predict step; lower is faster):",
        "",
        "| family | " + " | ".join(f"{b}: train / predict" for b in backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    families = list(dict.fromkeys(c["family"] for r in results.values() for c in r["cells"]))
    for family in families:
        cells = []
        for backend in backends:
            found = [ratios(c) for c in results[backend]["cells"] if c["family"] == family]
            if not found:
                cells.append("")
                continue
            cells.append(f"{max(r[0] for r in found):.2f}x / {max(r[1] for r in found):.2f}x")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    for backend in backends:
        result = results[backend]
        cores = {None: "cores not recorded", 1: "1 core"}.get(
            result["cpus"], f"{result['cpus']} cores"
        )
        lines += [
            "",
            f"**{backend}** (keras {result['keras']}, {cores}): every cell",
            "",
            "| family | B | T | stock train | x stock | stock predict | x stock |",
            "|---|---|---|---|---|---|---|",
        ]
        for cell in result["cells"]:
            train, predict = ratios(cell)
            lines.append(
                f"| {cell['family']} | {cell['batch']} | {cell['steps']} "
                f"| {cell['stock']['train'] * 1e3:.2f} ms | {train:.2f} "
                f"| {cell['stock']['predict'] * 1e3:.2f} ms | {predict:.2f} |"
            )
    return "\n".join(lines)


def draw(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = sorted(results)
    figure, axes = plt.subplots(
        len(backends), 1, figsize=(12, 2.8 * len(backends)), squeeze=False, sharey=True
    )
    for axis, backend in zip(axes[:, 0], backends, strict=True):
        cells = results[backend]["cells"]
        positions = range(len(cells))
        for step, marker in zip(STEPS, ("o", "x"), strict=True):
            index = STEPS.index(step)
            axis.scatter(positions, [ratios(c)[index] for c in cells], marker=marker, label=step)
        axis.axhline(1.0, color="k", linewidth=0.8)
        axis.axhline(LIMIT, color="r", linestyle="--", linewidth=0.8, label=f"{LIMIT}x")
        families = list(dict.fromkeys(c["family"] for c in cells))
        starts = [next(i for i, c in enumerate(cells) if c["family"] == f) for f in families]
        axis.set_xticks(starts, families, rotation=0, ha="left")
        for start in starts[1:]:
            axis.axvline(start - 0.5, color="0.8", linewidth=0.8)
        axis.set_ylabel(f"{backend}\nours / stock")
        axis.grid(alpha=0.3, axis="y")
    axes[0, 0].set_title("Time per step, keras_tdplus.TimeDistributed over stock (B x T cells)")
    axes[0, 0].legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="JSON files from fold_vs_stock.py --json")
    parser.add_argument("--out", help="write the chart here (PNG)")
    args = parser.parse_args(argv)
    try:
        results = read_results(args.results)
    except (OSError, ValueError) as error:
        print(f"plot_fold_vs_stock: {error}", file=sys.stderr)
        return 2
    print(markdown(results))
    if args.out:
        draw(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
