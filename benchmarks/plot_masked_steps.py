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
    """`{backend: {model: {fraction: {wrapper: {"train": s, "predict": s}}}}}`, and
    `{backend: (keras version, CPU count)}` where the files say."""
    results, about = {}, {}
    for path in paths:
        path = Path(path)
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: over {MAX_BYTES} bytes, not a benchmark result")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        try:
            backend = str(data["backend"])
            results[backend] = {
                str(model): {float(f): _timings(row) for f, row in rows.items()}
                for model, rows in data["models"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ValueError(
                f"{path}: expected the JSON that masked_steps.py --json writes"
            ) from None
        about[backend] = (data.get("keras"), data.get("cpus"))
    return results, about


def _timings(row):
    """One fraction's row, checked: the two wrappers compared, in seconds."""
    for wrapper in ("skip", "all steps"):
        for step in ("train", "predict"):
            if not float(row[wrapper][step]) > 0:
                raise ValueError(f"{wrapper} {step}: not a positive time")
    return row


def markdown(results, about=None):
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
    runs = [
        f"{backend} (keras {keras_version}, {cpus} CPUs)"
        for backend, (keras_version, cpus) in sorted((about or {}).items())
        if backend in results and keras_version
    ]
    if runs:
        lines += ["", "Measured one backend after the other: " + ", ".join(runs) + "."]
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
        results, about = read_results(args.results)
    except (OSError, ValueError) as error:
        print(f"plot_masked_steps: {error}", file=sys.stderr)
        return 2
    print(markdown(results, about))
    if args.out:
        draw(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
