"""The docs examples still run and still print what the pages show.

Each file in docs/examples/ runs through docs/scripts/generate.py's own runner into
a scratch folder; every output must equal the one under docs/generated/ that the
pages include. Printed floats may differ in their last digits from one machine to
another (a gap of 3e-08 instead of 0.0, a loss of 2.65e-14 instead of 2.38e-14), so
numbers are compared with a tolerance; integers (parameter counts, shapes) and all
other text must match exactly.

The pages show JAX output, so the examples run in the jax env; scaling_tf.py runs
in the tensorflow env, where TensorFlow is installed. tutorial.py trains its three
models for 500 to 1000 epochs and is marked `slow`. The two `keras-tdplus echo`
commands print their fit time and train too, so only the other commands run here.
Under a Keras newer than the pins (the keras-nightly env) the few outputs that show
Keras itself are produced but not compared (`KERAS_RELEASE_OUTPUTS`).
"""

import importlib.util
import math
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_generate():
    spec = importlib.util.spec_from_file_location(
        "_docs_generate", REPO / "docs" / "scripts" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generate()

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def assert_same_output(actual, expected, where):
    """Equal text, floats within rounding, integers exactly."""
    actual_numbers, expected_numbers = NUMBER.findall(actual), NUMBER.findall(expected)
    actual_text = " ".join(NUMBER.sub("#", actual).split())
    expected_text = " ".join(NUMBER.sub("#", expected).split())
    assert actual_text == expected_text, f"{where}: the text differs\n{actual}\n---\n{expected}"
    assert len(actual_numbers) == len(expected_numbers), where
    for got, want in zip(actual_numbers, expected_numbers, strict=True):
        if re.fullmatch(r"[-+]?\d+", want):
            assert got == want, f"{where}: {got} != {want}\n{actual}"
        else:
            # One unit in the last printed digit, or a relative 1% in e-notation.
            digits = min(_decimals(got), _decimals(want))
            tolerance = max(1e-6, 1.01 * 10.0**-digits if "e" not in want.lower() else 0.0)
            close = math.isclose(float(got), float(want), rel_tol=1e-2, abs_tol=tolerance)
            assert close, f"{where}: {got} != {want}\n{actual}"


def _decimals(number):
    mantissa = re.split("[eE]", number)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


# The plugin example asks for jax and torch; the page shows it where torch is missing (the
# jax env). Where torch is installed too, each line it changes, as the plugin prints it then.
_WITH_TORCH = {
    "test_my_layers.py::test_dense_passes_the_layer_checks  passed  -": (
        "test_my_layers.py::test_dense_passes_the_layer_checks  passed  passed"
    ),
    "torch  NOT INSTALLED  no module named 'torch'; install it or leave it out": (
        "torch  passed  1 passed"
    ),
    "exit status: 1": "exit status: 0",
}


def expected_output(name, file_name):
    """What `docs/generated/NAME/FILE` should hold when produced in this environment."""
    text = (generate.GENERATED / name / file_name).read_text()
    if (name, file_name) == ("testing", "plugin.md") and importlib.util.find_spec("torch"):
        for shown, here in _WITH_TORCH.items():
            assert shown in text, f"docs/generated/testing/plugin.md no longer shows {shown!r}"
            text = text.replace(shown, here)
    return text


# Outputs that show the installed Keras itself. In the keras-nightly env (TDPLUS_NEW_KERAS) they
# are produced but not compared: the pages show the pinned Keras (3.15.1), and every other output
# must still match there.
KERAS_RELEASE_OUTPUTS = {
    ("migrating", "quantized.md"): "Keras 3.16's model.quantize prints a report of what it did",
    ("param_formulas", "zero_markdown.md"): "Keras 3.16 adds a weightless layer, Mosaic",
}
NEW_KERAS = bool(os.environ.get("TDPLUS_NEW_KERAS"))


def assert_outputs_match(produced_dir, name):
    expected_dir = generate.GENERATED / name
    expected = sorted(p.name for p in expected_dir.glob("*.md"))
    produced = sorted(p.name for p in produced_dir.glob("*.md"))
    assert produced == expected
    for file_name in expected:
        if NEW_KERAS and (name, file_name) in KERAS_RELEASE_OUTPUTS:
            continue
        assert_same_output(
            (produced_dir / file_name).read_text(),
            expected_output(name, file_name),
            f"docs/generated/{name}/{file_name}",
        )


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The examples write files (saved models, plots) in the current folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


IN_PROCESS = [
    pytest.param(name, marks=pytest.mark.slow) if name == "tutorial" else name
    for name in generate.EXAMPLE_FILES
    if name not in generate.EXAMPLE_ENV
]


@pytest.mark.backend("jax")
@pytest.mark.parametrize("name", IN_PROCESS)
def test_example_prints_what_the_page_shows(name, scratch):
    out = scratch / "generated" / name
    generate.run_example(generate.EXAMPLES / f"{name}.py", out)
    assert_outputs_match(out, name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.backend(env["KERAS_BACKEND"]))
        for name, env in generate.EXAMPLE_ENV.items()
    ],
)
def test_example_in_its_own_process_prints_what_the_page_shows(name, scratch, monkeypatch):
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    generate.run_in_child(name, scratch / "generated")
    assert_outputs_match(scratch / "generated" / name, name)


@pytest.mark.backend("jax")
def test_cli_commands_print_what_the_page_shows(scratch):
    """The `check` and `params` commands read the models shape_errors.py and flops.py save."""
    for example in ("shape_errors", "flops"):
        generate.run_example(generate.EXAMPLES / f"{example}.py", scratch / "generated" / example)
    names = [name for name in generate.COMMANDS if not name.startswith("echo")]
    out = scratch / "generated" / "cli"
    generate.run_commands(out, names)
    for name in names:
        assert_same_output(
            (out / f"{name}.md").read_text(),
            (generate.GENERATED / "cli" / f"{name}.md").read_text(),
            f"docs/generated/cli/{name}.md",
        )


@pytest.mark.backend_independent
def test_the_comparison_can_fail():
    assert_same_output("loss 2.38e-14, params 146", "loss 2.65e-14, params 146", "same")
    assert_same_output("[-0.005 0.0081]", "[-0.005 0.008]", "last digit")
    for actual in [
        "loss 2.38e-14, params 147",
        "loss 2.0e-01, params 146",
        "loss 2.38e-14",
        "loss 2.38e-14, params 146.5",
    ]:
        with pytest.raises(AssertionError):
            assert_same_output(actual, "loss 2.38e-14, params 146", "differs")
