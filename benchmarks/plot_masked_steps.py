"""Draws the masked-steps benchmark: cost against the fraction of valid steps.

    python benchmarks/plot_masked_steps.py out/jax.json out/tensorflow.json ... \\
        --out docs/img/masked_steps.png

Reads the JSON files `benchmarks/masked_steps.py --json` writes (one per
backend) and draws two panels per model: the train step with
`skip_masked_steps` over the train step without it against the fraction of
valid steps, and the same for the predict step; one line per backend, the
ideal (cost = valid fraction) as a dashed line. Needs matplotlib
(`pip install 'keras-tdplus[plot]'`). Also prints the Markdown table the docs
include.
"""

import argparse
import json
import sys
from pathlib import Path

MAX_BYTES = 1 << 20


def read_results(paths):
    """`{backend: {model: {fraction: {wrapper: {"train": s, "predict": s}}}}}`."""
    results = {}
    for path in paths:
        path = Path(path)
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: over {MAX_BYTES} bytes, not a benchmark result")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise ValueError(f"{path}: expected the JSON that masked_steps.py --json writes")
        results[str(data["backend"])] = {
            model: {float(f): row for f, row in rows.items()}
            for model, rows in data["models"].items()
        }
    return results


def markdown(results):
    """One table: train and predict ratios per model, fraction and backend."""
    backends = sorted(results)
    header = "| model | valid steps | " + " | ".join(f"{b}: train / predict" for b in backends)
    lines = [header + " |", "|---|---|" + "---|" * len(backends)]
    models = next(iter(results.values())).keys()
    for model in models:
        fractions = sorted(results[backends[0]][model], reverse=True)
        for fraction in fractions:
            cells = []
            for backend in backends:
                row = results[backend].get(model, {}).get(fraction)
                if row is None:
                    cells.append("")
                    continue
                train = row["skip"]["train"] / row["all steps"]["train"]
                predict = row["skip"]["predict"] / row["all steps"]["predict"]
                cells.append(f"{train:.2f}x / {predict:.2f}x")
            lines.append(f"| {model} | {fraction:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(next(iter(results.values())))
    steps = ("train", "predict")
    figure, axes = plt.subplots(
        len(steps), len(models), figsize=(4.2 * len(models), 3.4 * len(steps)), squeeze=False
    )
    top = 1.6
    for row, step in enumerate(steps):
        for axis, model in zip(axes[row], models, strict=True):
            axis.plot([0, 1], [0, 1], "k--", linewidth=1, label="ideal")
            for backend, per_model in sorted(results.items()):
                rows = per_model.get(model)
                if not rows:
                    continue
                fractions = sorted(rows)
                ratios = [rows[f]["skip"][step] / rows[f]["all steps"][step] for f in fractions]
                top = max(top, *ratios)
                axis.plot(fractions, ratios, marker="o", label=backend)
            axis.set_title(f"{model}: {step}")
            axis.set_xlabel("valid steps")
            axis.set_xlim(0, 1.05)
            axis.grid(alpha=0.3)
        axes[row][0].set_ylabel(f"{step} step, skip / all steps")
    for axis in axes.ravel():
        axis.set_ylim(0, top * 1.05)
    axes[0][-1].legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="JSON files from masked_steps.py --json")
    parser.add_argument("--out", help="write the chart here (PNG)")
    args = parser.parse_args(argv)
    try:
        results = read_results(args.results)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"plot_masked_steps: {error}", file=sys.stderr)
        return 2
    print(markdown(results))
    if args.out:
        draw(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
