"""Export our layers and stock's through every path Keras offers, and run what comes out.

    python docs/scripts/export_matrix.py                 # each backend installed, one process each
    KERAS_BACKEND=torch python docs/scripts/export_matrix.py --this-backend --json torch.json

For each backend, each export path Keras offers on it, each layer in `LAYERS`
and each signature, the model is built twice, with `keras_tdplus` and with
stock `keras.layers.TimeDistributed`, with the same weights; it is exported,
loaded back in the path's own runtime (TensorFlow, ONNX Runtime, the LiteRT
interpreter, `torch.export`) and run at two batch sizes and, where the
signature leaves the time axis free, two numbers of steps. Each cell is "ok"
(every output equals `model(x)` within 1e-4), "wrong" (an output of the wrong
shape or values), "export fails" or "run fails", with the first line of the
error. The ONNX files are also counted, node by node, at several fixed `T`.

Without `--this-backend` it starts one process per backend (the backend is
fixed when Keras is imported), then writes docs/generated/deploying/matrix.md,
graph_size.md and results.json. tests/test_export.py runs the same cells and
checks each against results.json, so every claim on the Deploying page is a
test. Needs the exporters pinned in ci/constraints.txt (`tox -e export` has
them).
"""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

import keras_tdplus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "generated" / "deploying"
BACKENDS = ("tensorflow", "jax", "torch")
IMPLEMENTATIONS = ("keras_tdplus", "stock")
STEPS = 5
"""The time axis of a fixed-T signature."""
GRAPH_SIZE_STEPS = (4, 16, 64)


def _dense_head(td, steps):
    inputs = keras.Input((steps, 8))
    if td is keras_tdplus.TimeDistributed:
        return inputs, keras_tdplus.TimeDistributedDense(4)(inputs)
    return inputs, td(layers.Dense(4))(inputs)


def _wrapped_dense(td, steps):
    inputs = keras.Input((steps, 8))
    return inputs, td(layers.Dense(4, activation="tanh"))(inputs)


def _conv_pooling(td, steps):
    inputs = keras.Input((steps, 12, 12, 3))
    x = td(layers.Conv2D(4, 3, activation="relu"))(inputs)
    x = td(layers.AveragePooling2D(2))(x)
    return inputs, td(layers.GlobalAveragePooling2D())(x)


def _skip_masked_steps(td, steps):
    inputs = keras.Input((steps, 8))
    x = layers.Masking()(inputs)
    # A bias, so a masked step (all zeros) would not give zeros by chance.
    dense = layers.Dense(4, activation="tanh", bias_initializer="random_normal")
    if td is keras_tdplus.TimeDistributed:
        return inputs, td(dense, skip_masked_steps=True)(x)
    return inputs, td(dense)(x)


def _recurrent(td, steps):
    inputs = keras.Input((steps, 6, 8))
    return inputs, td(layers.Bidirectional(layers.LSTM(4)))(inputs)


LAYERS = {
    "TimeDistributedDense": _dense_head,
    "TimeDistributed(Dense)": _wrapped_dense,
    "TimeDistributed(Conv2D) + pooling": _conv_pooling,
    "TimeDistributed(Bidirectional(LSTM))": _recurrent,
    "Masking + TimeDistributed(Dense), skip_masked_steps": _skip_masked_steps,
}
"""Each builds `(inputs, outputs)` from a wrapper class (`keras_tdplus.TimeDistributed`
or stock's) and a time axis (`None` or a size). On the stock side the first is
stock's `TimeDistributed(Dense)`, and the last the stock wrapper with no
`skip_masked_steps` (it has none)."""

ENGINE_LIMITS = {
    ("tensorflow", "LiteRT", "TimeDistributed(Bidirectional(LSTM))"): (
        "LiteRT: Keras' LSTM loop on TensorFlow converts to Select TF ops, which need the Flex "
        "delegate that the ai-edge-litert interpreter does not link, and a WHILE loop that "
        "cannot be resized"
    ),
    ("jax", "ONNX", "TimeDistributed(Bidirectional(LSTM))"): (
        "jax2onnx: a reverse scan (the backward LSTM) is not supported"
    ),
}
"""(backend, path, layer) that fail for the layer alone, whatever wraps it, and why.
tests/test_export.py holds each as a strict xfail and shows the unwrapped layer failing too."""

OUR_LIMITS = {
    (
        "tensorflow",
        "LiteRT",
        "Masking + TimeDistributed(Dense), skip_masked_steps",
        f"static (2, {STEPS})",
    ): (
        "a fully static signature fixes the number of folded rows, and the packing's row "
        "indices are built from it as constants: the file runs at its own batch, not resized "
        "(leave the batch free, as in the T=5 row)"
    ),
}
"""(backend, path, layer, signature) cells where ours fails and stock does not, and why.
tests/test_export.py holds each as a strict xfail."""

UNWRAPPED = {
    "TimeDistributed(Bidirectional(LSTM))": lambda: layers.Bidirectional(layers.LSTM(4)),
}
"""The layer of an `ENGINE_LIMITS` row alone, over a `(batch, time, features)` input."""

SIGNATURES = {
    "T=None": (None, None),
    f"T={STEPS}": (None, STEPS),
    f"static (2, {STEPS})": (2, STEPS),
}
"""The batch and time axes of the exported signature."""

PATHS = {
    "tensorflow": ("SavedModel", "TFSMLayer", "ONNX", "LiteRT"),
    "jax": ("SavedModel", "ONNX"),
    "torch": ("ONNX", "torch.export"),
}
"""What Keras 3 exports on each backend. LiteRT on torch goes through the `litert-torch`
package, which cannot share an env with jax2onnx (its xdsl needs `typing-extensions` < 4.13,
jax2onnx's chex >= 4.15): not covered."""


def signatures(path):
    """The signatures a path is checked with: a fully static one only where a
    runtime can resize it (the LiteRT interpreter)."""
    return [name for name in SIGNATURES if path == "LiteRT" or not name.startswith("static")]


def build(layer, implementation, signature):
    """The model for a cell, with weights from a pinned seed, already called once."""
    keras.utils.set_random_seed(7)
    td = (
        keras_tdplus.TimeDistributed if implementation == "keras_tdplus" else layers.TimeDistributed
    )
    inputs, outputs = LAYERS[layer](td, SIGNATURES[signature][1])
    model = keras.Model(inputs, outputs)
    model(sample(model, 2, STEPS))
    return model


def sample(model, batch, steps):
    """A pinned random input for `model`: `batch` samples of `steps` steps, the
    first sample's second half zeros (padding, for the models with a mask)."""
    inner = tuple(model.inputs[0].shape[2:])
    rng = np.random.default_rng(batch * 100 + steps)
    x = rng.normal(size=(batch, steps, *inner)).astype("float32")
    x[0, steps // 2 :] = 0.0  # padding, for the models with a mask
    return x


def probes(signature):
    """The (batch, steps) inputs a cell runs: two batch sizes, and two step counts
    where the signature leaves the time axis free."""
    batch, steps = SIGNATURES[signature]
    if steps is None:
        return [(2, STEPS), (3, STEPS), (2, 7), (3, 3)]
    return [(2, steps), (3, steps)]


def export(model, path, signature, folder):
    """Export `model` through `path` under `folder`; returns a function running the artifact."""
    batch, steps = SIGNATURES[signature]
    inner = tuple(model.inputs[0].shape[2:])
    shape = (batch, steps, *inner)
    if path in ("SavedModel", "TFSMLayer"):
        import tensorflow as tf

        target = os.path.join(folder, "saved_model")
        model.export(target, format="tf_saved_model", verbose=False)
        if path == "TFSMLayer":
            reloaded = keras.layers.TFSMLayer(target, call_endpoint="serve")
            return lambda x: keras.ops.convert_to_numpy(reloaded(x))
        loaded = tf.saved_model.load(target)
        return lambda x: loaded.serve(tf.constant(x)).numpy()
    if path == "ONNX":
        import onnxruntime

        target = os.path.join(folder, "model.onnx")
        model.export(target, format="onnx", verbose=False, input_signature=[_spec(shape)])
        session = onnxruntime.InferenceSession(target, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if path == "LiteRT":
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter

        target = os.path.join(folder, "model.tflite")
        model.export(target, format="litert", verbose=False, input_signature=[tf.TensorSpec(shape)])

        def run(x):
            interpreter = Interpreter(model_path=target)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, x.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run
    if path == "torch.export":
        import torch

        dims = {0: torch.export.Dim("batch", min=1, max=1024)}
        if steps is None:
            dims[1] = torch.export.Dim("time", min=1, max=4096)
        target = os.path.join(folder, "model.pt2")
        model.export(target, format="torch", verbose=False, dynamic_shapes=(dims,))
        program = torch.export.load(target).module()
        return lambda x: program(torch.from_numpy(x)).detach().numpy()
    raise ValueError(f"unknown export path {path!r}")


def _spec(shape):
    return keras.InputSpec(shape=shape, dtype="float32")


def _first_line(error):
    """The error's first line that says something: Keras' "Exception encountered when
    calling ..." wrapper and torch.export's list of common causes are skipped."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    text = text.split("Original error: ", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("Exception encountered when calling")]
    line = (said or lines or [type(error).__name__])[0]
    return f"{type(error).__name__}: {line}"[:160]


def check(path, layer, implementation, signature):
    """One cell: `{"outcome": ..., "detail": ...}` (see the module docstring)."""
    return check_model(build(layer, implementation, signature), path, signature)


def check_model(model, path, signature):
    """`check` for any single-input model whose first axes are batch and time."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            with _quiet():
                run = export(model, path, signature, folder)
        except Exception as error:  # what the exporter raised is the result
            return {"outcome": "export fails", "detail": _first_line(error)}
        for batch, steps in probes(signature):
            x = sample(model, batch, steps)
            want = keras.ops.convert_to_numpy(model(x))
            try:
                with _quiet():
                    got = np.asarray(run(x))
            except Exception as error:
                return {"outcome": "run fails", "detail": _first_line(error)}
            if got.shape != want.shape:
                detail = f"output shape {got.shape} for input {x.shape}, Keras gives {want.shape}"
                return {"outcome": "wrong", "detail": detail}
            if not np.allclose(got, want, atol=1e-4):
                worst = float(np.max(np.abs(got - want)))
                return {"outcome": "wrong", "detail": f"values off by up to {worst:.3g}"}
    return {"outcome": "ok", "detail": ""}


@contextlib.contextmanager
def _quiet():
    """Exporters print progress on stdout; the matrix keeps its own output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def onnx_nodes(implementation, steps):
    """Nodes in the ONNX graph of the Conv2D model at a fixed `steps`, or None if it fails."""
    import onnx

    model = build("TimeDistributed(Conv2D) + pooling", implementation, "T=None")
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "model.onnx")
        shape = (None, steps, *model.inputs[0].shape[2:])
        try:
            with _quiet():
                model.export(target, format="onnx", verbose=False, input_signature=[_spec(shape)])
        except Exception:
            return None
        return _count_nodes(onnx.load(target).graph)


def _count_nodes(graph):
    """Nodes of a graph, those in the subgraphs of loops and branches included."""
    import onnx

    total = 0
    for node in graph.node:
        total += 1
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                total += _count_nodes(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                total += sum(_count_nodes(g) for g in attribute.graphs)
    return total


def this_backend():
    """Every cell and graph size of the running backend, as results.json holds them."""
    backend = keras.backend.backend()
    cells = []
    for path in PATHS[backend]:
        for layer in LAYERS:
            for signature in signatures(path):
                for implementation in IMPLEMENTATIONS:
                    result = check(path, layer, implementation, signature)
                    cells.append(
                        {
                            "path": path,
                            "layer": layer,
                            "signature": signature,
                            "implementation": implementation,
                            **result,
                        }
                    )
                    print(backend, path, layer, signature, implementation, result, flush=True)
    sizes = {
        implementation: {str(t): onnx_nodes(implementation, t) for t in GRAPH_SIZE_STEPS}
        for implementation in IMPLEMENTATIONS
    }
    return {"backend": backend, "keras": keras.__version__, "cells": cells, "onnx_nodes": sizes}


SYMBOLS = {
    "ok": "✓",
    "wrong": "✗ wrong",
    "export fails": "✗ export fails",
    "run fails": "✗ run fails",
}


def matrix_markdown(results):
    """One table per backend: a row per path, layer and signature, ours beside stock."""
    lines = []
    for result in results:
        lines += [
            f"**{result['backend']}** (keras {result['keras']})",
            "",
            "| path | layer | signature | keras_tdplus | stock |",
            "|---|---|---|---|---|",
        ]
        rows = {}
        for cell in result["cells"]:
            key = (cell["path"], cell["layer"], cell["signature"])
            rows.setdefault(key, {})[cell["implementation"]] = cell
        for (path, layer, signature), pair in rows.items():
            shown = [_shown(pair[name], result["backend"]) for name in IMPLEMENTATIONS]
            lines.append(f"| {path} | {layer} | {signature} | {shown[0]} | {shown[1]} |")
        lines.append("")
        limits = [
            f"- {path}, {layer}: {why}."
            for (backend, path, layer), why in ENGINE_LIMITS.items()
            if backend == result["backend"]
        ]
        if limits:
            lines += ["Engine limits (the layer alone fails the same way):", "", *limits, ""]
        ours = [
            f"- {path}, {layer}, {signature}: {why}."
            for (backend, path, layer, signature), why in OUR_LIMITS.items()
            if backend == result["backend"]
        ]
        if ours:
            lines += ["Known limits of ours:", "", *ours, ""]
    return "\n".join(lines)


def _shown(cell, backend):
    text = SYMBOLS[cell["outcome"]]
    key = (backend, cell["path"], cell["layer"], cell["signature"])
    if key in OUR_LIMITS and cell["implementation"] == "keras_tdplus" and cell["outcome"] != "ok":
        return text + " (known limit, below)"
    if (backend, cell["path"], cell["layer"]) in ENGINE_LIMITS and cell["outcome"] != "ok":
        text += " (engine limit, below)"
        return text
    if cell["detail"]:
        detail = cell["detail"].replace("|", "\\|")
        text += f": {detail}"
    return text


def graph_size_markdown(results):
    """ONNX nodes of the Conv2D model at each fixed T, ours and stock, per backend."""
    steps = [str(t) for t in GRAPH_SIZE_STEPS]
    lines = [
        "| backend | implementation | " + " | ".join(f"T={t}" for t in steps) + " |",
        "|---|---|" + "---|" * len(steps),
    ]
    for result in results:
        for implementation in IMPLEMENTATIONS:
            counts = result["onnx_nodes"][implementation]
            shown = ["fails" if counts[t] is None else str(counts[t]) for t in steps]
            lines.append(f"| {result['backend']} | {implementation} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def _run_backend(backend, folder):
    target = Path(folder) / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend}
    subprocess.run(
        [sys.executable, __file__, "--this-backend", "--json", str(target)], env=env, check=True
    )
    return json.loads(target.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--this-backend", action="store_true", help="run the running backend's cells only"
    )
    parser.add_argument("--json", help="with --this-backend: where to write its results")
    parser.add_argument(
        "--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS, help="which to run"
    )
    parser.add_argument(
        "--render", action="store_true", help="rewrite the pages' tables from results.json only"
    )
    args = parser.parse_args(argv)
    if args.render:
        _write_tables(json.loads((OUT / "results.json").read_text()))
        return 0
    if args.this_backend:
        result = this_backend()
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        results = [_run_backend(backend, folder) for backend in args.backends]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    _write_tables(results)
    return 0


def _write_tables(results):
    (OUT / "matrix.md").write_text(matrix_markdown(results))
    (OUT / "graph_size.md").write_text(graph_size_markdown(results))
    print(f"wrote {OUT.relative_to(REPO)}/matrix.md and graph_size.md")


if __name__ == "__main__":
    sys.exit(main())
