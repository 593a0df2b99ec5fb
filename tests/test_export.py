"""Every export path Keras offers, for our layers and stock's (runs in `tox -e export`).

Each cell of the Deploying page's matrix (docs/generated/deploying/results.json,
written by docs/scripts/export_matrix.py) is run again here through the same
code: ours must export, load in the path's runtime and equal the Keras model at
two batch sizes and two step counts; where the page says stock fails or is wrong,
stock must still fail that way. An engine limit that fails for any model is a
strict xfail naming the limit.
"""

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import keras
import pytest

import keras_tdplus

pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "docs" / "scripts" / "export_matrix.py"
RESULTS = REPO / "docs" / "generated" / "deploying" / "results.json"
EXAMPLE = REPO / "docs" / "examples" / "deploying.py"
GENERATE = REPO / "docs" / "scripts" / "generate.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


matrix = _load("export_matrix", SCRIPT)
BACKEND = keras.backend.backend()
RECORDED = {result["backend"]: result for result in json.loads(RESULTS.read_text())}


def _id(*parts):
    """A test id without spaces, so a failing test can be rerun by its id."""
    return "-".join(parts).replace(" ", "")


def _cells(implementation):
    cells = []
    for cell in RECORDED[BACKEND]["cells"]:
        if cell["implementation"] != implementation:
            continue
        key = (cell["path"], cell["layer"], cell["signature"])
        limit = matrix.ENGINE_LIMITS.get((BACKEND, cell["path"], cell["layer"]))
        if implementation == "keras_tdplus":
            limit = limit or matrix.OUR_LIMITS.get((BACKEND, *key))
        marks = (
            [pytest.mark.xfail(strict=True, raises=AssertionError, reason=limit)] if limit else []
        )
        cells.append(pytest.param(*key, cell, marks=marks, id=_id(*key)))
    return cells


def test_the_matrix_covers_every_path_layer_and_signature_of_this_backend():
    recorded = {
        (cell["path"], cell["layer"], cell["signature"], cell["implementation"])
        for cell in RECORDED[BACKEND]["cells"]
    }
    expected = {
        (path, layer, signature, implementation)
        for path in matrix.PATHS[BACKEND]
        for layer in matrix.LAYERS
        for signature in matrix.signatures(path)
        for implementation in matrix.IMPLEMENTATIONS
    }
    assert recorded == expected


@pytest.mark.parametrize("path, layer, signature, recorded", _cells("keras_tdplus"))
def test_ours_exports_and_equals_the_keras_model(path, layer, signature, recorded):
    assert recorded["outcome"] == "ok", "the page shows this cell failing for keras_tdplus"
    assert matrix.check(path, layer, "keras_tdplus", signature) == {"outcome": "ok", "detail": ""}


def _stock_claims():
    """Stock's cells where the page says it fails or is wrong, engine limits aside."""
    return [
        pytest.param(*cell.values, id=cell.id)
        for cell in _cells("stock")
        if cell.values[3]["outcome"] != "ok" and not cell.marks
    ]


@pytest.mark.parametrize("path, layer, signature, recorded", _stock_claims())
def test_stock_fails_where_the_page_says_it_does(path, layer, signature, recorded):
    result = matrix.check(path, layer, "stock", signature)
    assert result["outcome"] == recorded["outcome"]
    if recorded["outcome"] == "wrong":
        assert result["detail"] == recorded["detail"]


FIXED_T = f"T={matrix.STEPS}"
STATIC = f"static (2, {matrix.STEPS})"


def _assert_exports(model, path, signature):
    """`model`, called once, exports through `path` and equals itself in the path's runtime."""
    model(matrix.sample(model, 2, matrix.STEPS))
    assert matrix.check_model(model, path, signature) == {"outcome": "ok", "detail": ""}


@pytest.mark.parametrize(
    "path, layer",
    [
        pytest.param(
            path,
            layer,
            marks=[
                pytest.mark.backend(backend),
                pytest.mark.xfail(strict=True, raises=AssertionError, reason=why),
            ],
            id=_id(backend, path, layer),
        )
        for (backend, path, layer), why in matrix.ENGINE_LIMITS.items()
    ],
)
def test_an_engine_limit_holds_for_the_layer_alone(path, layer):
    inputs = keras.Input((None, 8))
    _assert_exports(keras.Model(inputs, matrix.UNWRAPPED[layer]()(inputs)), path, FIXED_T)


@pytest.mark.backend("jax")
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="jax2onnx writes MaxPooling2D as an ONNX MaxPool that ONNX Runtime refuses "
    "(Unsupported pooling size)",
)
def test_max_pooling_through_jax2onnx_is_an_engine_limit():
    inputs = keras.Input((matrix.STEPS, 12, 3))
    _assert_exports(keras.Model(inputs, keras.layers.MaxPooling2D(2)(inputs)), "ONNX", FIXED_T)


@pytest.mark.backend("tensorflow")
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="a Dense after a reshaping TimeDistributed: tf.tensordot writes the traced batch "
    "into a fully static LiteRT signature, which then cannot be resized",
)
def test_a_dense_after_a_folding_wrapper_resizes_a_static_litert_signature():
    inputs = keras.Input((matrix.STEPS, 4, 4, 3))
    x = keras_tdplus.TimeDistributed(keras.layers.GlobalAveragePooling2D())(inputs)
    model = keras.Model(inputs, keras_tdplus.TimeDistributedDense(5)(x))
    _assert_exports(model, "LiteRT", STATIC)


class _AddPair(keras.layers.Layer):
    def call(self, inputs):
        first, second = inputs
        return first * 2.0 + second


@pytest.mark.backend("jax")
@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="Keras gives each input of a jax export its own symbolic sizes, so two inputs with "
    "a free time axis cannot even be added, with no TimeDistributed at all",
)
def test_two_inputs_with_a_free_time_axis_export_on_jax():
    first, second = keras.Input((None, 6)), keras.Input((None, 6))
    model = keras.Model([first, second], _AddPair()([first, second]))
    x = matrix.sample(model, 2, matrix.STEPS)
    model([x, x])
    with tempfile.TemporaryDirectory() as folder:
        model.export(os.path.join(folder, "saved_model"), format="tf_saved_model", verbose=False)


def test_our_onnx_graph_does_not_grow_with_the_steps_and_stocks_is_as_the_page_says():
    steps = [str(t) for t in matrix.GRAPH_SIZE_STEPS[:2]]
    recorded = RECORDED[BACKEND]["onnx_nodes"]
    ours = {t: matrix.onnx_nodes("keras_tdplus", int(t)) for t in steps}
    stock = {t: matrix.onnx_nodes("stock", int(t)) for t in steps}
    assert ours[steps[0]] is not None and ours[steps[0]] == ours[steps[1]]
    assert ours == {t: recorded["keras_tdplus"][t] for t in steps}
    assert stock == {t: recorded["stock"][t] for t in steps}


PAGE_SECTIONS = {
    "tensorflow": ["saved_model", "tfsm_layer", "onnx", "litert"],
    "jax": ["saved_model", "onnx"],
    "torch": ["onnx", "torch_export"],
}
"""The sections of docs/examples/deploying.py each backend runs: the paths it offers."""


def test_the_pages_commands_run_and_reload_the_same_model():
    chunks = _load("_generate", GENERATE).sections(EXAMPLE)
    code = {name: source for name, _, source in chunks if name}
    code[None] = chunks[0][2]  # the file's imports, before any section
    namespace = {"__name__": "deploying"}
    for name in [None, "model", *PAGE_SECTIONS[BACKEND]]:
        exec(compile(code[name], f"{EXAMPLE}:{name}", "exec"), namespace)
    assert namespace["expected"].shape == (4, 10, 5)


@pytest.mark.backend("jax", "torch")
def test_tfsm_layer_needs_the_tensorflow_backend(tmp_path):
    # A SavedModel written on jax; on torch any path will do: TFSMLayer refuses first.
    if BACKEND == "jax":
        model = matrix.build("TimeDistributedDense", "keras_tdplus", FIXED_T)
        model.export(str(tmp_path / "saved_model"), format="tf_saved_model", verbose=False)
    with pytest.raises(NotImplementedError, match="TensorFlow backend"):
        keras.layers.TFSMLayer(str(tmp_path / "saved_model"), call_endpoint="serve")
