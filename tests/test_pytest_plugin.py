"""The keras_tdplus_pytest plugin: `pytest --keras-backends=...` on a user's test file.

Each test runs pytest in a new process on a small test file of its own, as a
user would, and reads what that run printed and its exit status.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import keras
import pytest

from keras_tdplus_pytest import _print_summary, _Recorder, _without_our_option, parse_backends

# The plugin starts each backend in its own pytest process, so these tests run
# in one env (jax); the two-backend run is in `tox -e cross-backend`.
pytestmark = pytest.mark.backend("jax")

USER_TESTS = """
    import os

    import keras


    def test_runs_on_its_backend():
        assert keras.config.backend() == os.environ["KERAS_BACKEND"]


    def test_fails_on_one_backend():
        assert keras.config.backend() != "{failing}"
"""

INSTALLED = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
NOT_INSTALLED = [
    b for b in ("tensorflow", "jax", "torch", "openvino") if not importlib.util.find_spec(b)
]


def run_pytest(folder, *args):
    """Runs pytest with our plugin in `folder`; its exit code and everything it printed."""
    env = {**os.environ}
    env.pop("KERAS_BACKEND", None)  # the plugin must set it for each backend itself
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "keras_tdplus_pytest",
        "-p",
        "no:cacheprovider",
    ]
    done = subprocess.run(
        [*command, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    return done.returncode, done.stdout + done.stderr


def write_tests(folder, text):
    (folder / "test_user.py").write_text(textwrap.dedent(text))


def test_without_the_option_the_plugin_does_nothing_and_imports_no_keras(tmp_path):
    write_tests(
        tmp_path,
        """
        import sys

        def test_keras_not_imported_by_the_plugin():
            assert "keras" not in sys.modules
        """,
    )
    code, output = run_pytest(tmp_path, "-q")
    assert code == 0, output
    assert "1 passed" in output
    assert "keras backend" not in output


def test_a_backend_that_is_not_installed_is_reported_and_fails_the_run(tmp_path):
    if not NOT_INSTALLED:
        pytest.skip("every backend is installed here; nothing to report as missing")
    current, absent = keras.config.backend(), NOT_INSTALLED[0]
    write_tests(tmp_path, USER_TESTS.format(failing=current))
    code, output = run_pytest(tmp_path, f"--keras-backends={current},{absent}", "-k", "its")
    assert code == 1, output
    lines = output.splitlines()
    assert any(line.startswith(current) and "passed         1 passed" in line for line in lines)
    assert any(
        line.startswith(absent) and f"NOT INSTALLED  no module named '{absent}'" in line
        for line in lines
    ), output
    assert f"keras backend: {current} (KERAS_BACKEND={current})" in output


@pytest.mark.cross_backend
@pytest.mark.skipif(len(INSTALLED) < 2, reason="needs two installed backends")
def test_two_backends_are_each_reported_and_one_failing_fails_the_run(tmp_path):
    backends = INSTALLED[:2]
    write_tests(tmp_path, USER_TESTS.format(failing=backends[1]))
    code, output = run_pytest(tmp_path, f"--keras-backends={','.join(backends)}")
    assert code == 1, output
    for backend in backends:
        assert f"keras backend: {backend} (KERAS_BACKEND={backend})" in output
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines() if "::" in line}
    assert rows["test_user.py::test_runs_on_its_backend"] == ["passed", "passed"]
    assert rows["test_user.py::test_fails_on_one_backend"] == ["passed", "FAILED"]
    summary = [line.split()[:2] for line in output.splitlines()[-2:]]
    assert summary == [[backends[0], "passed"], [backends[1], "FAILED"]]


def test_all_means_every_installed_backend():
    assert parse_backends("all") == INSTALLED


@pytest.mark.parametrize(
    "value, message",
    [
        ("jaxx", "unknown backend jaxx"),
        (",", "unknown backend (none given)"),
        ("jax,theano", "unknown backend theano"),
    ],
)
def test_an_unknown_backend_is_a_usage_error_naming_it(value, message):
    with pytest.raises(pytest.UsageError, match=r"--keras-backends: ") as caught:
        parse_backends(value)
    assert message in str(caught.value)
    assert f"Received: --keras-backends={value}" in str(caught.value)


def test_names_are_kept_in_order_without_repeats():
    assert parse_backends("torch, JAX,torch") == ["torch", "jax"]


def test_the_children_get_the_command_without_the_option():
    args = ("-q", "--keras-backends=jax,torch", "tests", "--keras-backends", "all", "-x")
    assert _without_our_option(args) == ["-q", "tests", "-x"]


def _runs():
    return {
        "jax": {"exitstatus": 0, "outcomes": {"t.py::a": "passed", "t.py::b": "passed"}},
        "torch": {"exitstatus": 1, "outcomes": {"t.py::a": "passed", "t.py::b": "failed"}},
        "tensorflow": {"exitstatus": None, "outcomes": {}, "reason": "no module named 'x'"},
    }


@pytest.mark.parametrize("quiet, tests", [(False, ["t.py::a", "t.py::b"]), (True, ["t.py::b"])])
def test_the_table_has_every_test_or_with_q_the_failed_ones(capsys, quiet, tests):
    _print_summary(_runs(), quiet=quiet)
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if "::" in line]
    outcomes = {"t.py::a": ["passed", "passed", "-"], "t.py::b": ["passed", "FAILED", "-"]}
    assert rows == [[test, *outcomes[test]] for test in tests]
    assert [line.split()[:2] for line in lines[-3:]] == [
        ["jax", "passed"],
        ["torch", "FAILED"],
        ["tensorflow", "NOT"],
    ]


def _report(when, outcome, xfail=False):
    report = SimpleNamespace(
        nodeid="t.py::a",
        when=when,
        passed=outcome == "passed",
        failed=outcome == "failed",
        skipped=outcome == "skipped",
    )
    if xfail:
        report.wasxfail = "reason"
    return report


@pytest.mark.parametrize(
    "reports, expected",
    [
        ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed"),
        ([("setup", "passed"), ("call", "failed"), ("teardown", "passed")], "failed"),
        ([("setup", "failed"), ("teardown", "passed")], "error"),
        ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "error"),
        ([("setup", "skipped"), ("teardown", "passed")], "skipped"),
        ([("setup", "passed"), ("call", "skipped", True), ("teardown", "passed")], "xfailed"),
        ([("setup", "passed"), ("call", "passed", True), ("teardown", "passed")], "xpassed"),
    ],
)
def test_each_backend_records_the_outcome_pytest_reports(tmp_path, reports, expected):
    recorder = _Recorder(str(tmp_path / "outcomes.json"))
    for report in reports:
        recorder.pytest_runtest_logreport(_report(*report))
    recorder.pytest_sessionfinish(None, 0)
    written = json.loads((tmp_path / "outcomes.json").read_text())
    assert written == {"exitstatus": 0, "outcomes": {"t.py::a": expected}}
