"""Loss curves and predictions of echo runs, drawn with matplotlib."""

import os
import tempfile

__all__ = ["plot_results"]


def plot_results(results, path):
    """Saves one column per `EchoResult`: its loss curve above, predictions below.

    Args:
        results: A list of `keras_tdplus.echo.EchoResult`.
        path: The `.png` file to write; it is replaced at once, never left
            half written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("Received no results to plot; expected at least one `EchoResult`.")
    # 450x800 pixels a column (1800x800 for the four experiments), readable on a page.
    fig, axes = plt.subplots(
        2, len(results), figsize=(4.5 * len(results), 8), squeeze=False, layout="constrained"
    )
    for column, result in enumerate(results):
        loss_axis, prediction_axis = axes[0][column], axes[1][column]
        loss_axis.semilogy(result.loss_history or [float("nan")])
        loss_axis.set_title(f"{result.name}\n({result.backend}, seed {result.seed})", fontsize=11)
        loss_axis.set_xlabel("epoch")
        loss_axis.set_ylabel("training loss (MSE)")
        steps = range(result.targets.size)
        prediction_axis.plot(steps, result.targets.ravel(), "o-", label="target")
        prediction_axis.plot(steps, result.predictions.ravel(), "x--", label="prediction")
        prediction_axis.set_xlabel("position in sequence")
        prediction_axis.set_ylabel("value")
        prediction_axis.set_ylim(-0.1, 0.9)
        prediction_axis.legend(loc="upper left", fontsize=10)
    # Written next to `path`, then renamed over it: a reader never sees half a PNG.
    handle, partial = tempfile.mkstemp(
        dir=os.path.dirname(os.path.abspath(path)), prefix=".plot-", suffix=".png"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            fig.savefig(file, dpi=100, format="png")
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
    finally:
        plt.close(fig)
