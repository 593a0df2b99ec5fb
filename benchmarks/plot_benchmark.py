"""Draws the benchmark's tables as one chart: time against T, log scale, per backend.

    python benchmarks/plot_benchmark.py [TABLES.md] [--out CHART.png]

Reads the Markdown that `benchmarks/time_distributed.py` prints, one table per
backend each under its `**backend**` line (by default docs/generated/benchmark.md,
where the measured tables are kept), and writes a chart (by default
docs/img/benchmark.png): the first training step (trace and compile included) on
the top row, the steady training step below, one column per backend, one line
per head. Needs matplotlib (`pip install 'keras-tdplus[plot]'`).
"""

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNITS = {"s": 1.0, "ms": 1e-3}
BACKEND_LINE = re.compile(r"^\*\*(\w+)\*\*")
FIGURES = (("first step", "first training step (s)"), ("train step", "steady train step (s)"))
MAX_BYTES = 1 << 20


def _seconds(cell):
    value, unit = cell.split()
    return float(value) * UNITS[unit]


def read_tables(text):
    """`{backend: {head: {column: [(T, seconds), ...]}}}` from the benchmark's Markdown."""
    tables, backend, columns = {}, None, None
    for line in text.splitlines():
        match = BACKEND_LINE.match(line)
        if match:
            backend, columns = match.group(1), None
            continue
        if backend is None or not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "T":
            columns = cells
            continue
        if columns is None:
            continue
        row = dict(zip(columns, cells, strict=True))
        head = tables.setdefault(backend, {}).setdefault(row["head"], {})
        for column, _ in FIGURES:
            if row[column] != "n/a":
                head.setdefault(column, []).append((int(row["T"]), _seconds(row[column])))
    return tables


def plot(tables, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(tables)
    fig, axes = plt.subplots(
        len(FIGURES),
        len(backends),
        figsize=(4.5 * len(backends), 7),
        squeeze=False,
        layout="constrained",
    )
    for column, backend in enumerate(backends):
        for row, (figure, label) in enumerate(FIGURES):
            axis = axes[row][column]
            for head, series in tables[backend].items():
                points = sorted(series.get(figure, []))
                if points:
                    steps, seconds = zip(*points, strict=True)
                    axis.plot(steps, seconds, "o-", label=head)
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("time steps T")
            axis.set_ylabel(label)
            axis.set_title(backend if row == 0 else "")
            axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "tables", nargs="?", default=REPO / "docs" / "generated" / "benchmark.md", type=Path
    )
    parser.add_argument("--out", default=REPO / "docs" / "img" / "benchmark.png", type=Path)
    args = parser.parse_args(argv)
    if args.tables.stat().st_size > MAX_BYTES:
        parser.error(f"{args.tables} is larger than {MAX_BYTES} bytes; expected benchmark tables")
    tables = read_tables(args.tables.read_text(encoding="utf-8"))
    if not tables:
        parser.error(f"{args.tables} holds no benchmark table under a **backend** line")
    plot(tables, args.out)
    print(f"chart of {', '.join(tables)} saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
