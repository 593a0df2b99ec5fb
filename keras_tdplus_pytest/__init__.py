"""A pytest plugin: one pytest command runs the tests on several Keras backends.

    pytest --keras-backends=jax,torch tests/
    pytest --keras-backends=all tests/      # every installed one of tensorflow, jax, torch

Keras picks its backend once, when it is first imported, so one process tests
one backend. With `--keras-backends`, pytest runs the same command (without
that option) once per backend, each in a process of its own with
`KERAS_BACKEND` set, shows each run's output, then a table of every test's
outcome on each backend and one line per backend. The command fails when a
backend's run fails, and a backend that is not installed is reported as
`NOT INSTALLED` and fails the command too: it was asked for and not tested.

Without the option the plugin does nothing. pip registers it through the
`pytest11` entry point of keras-tdplus; `-p no:keras_tdplus_pytest` turns it
off. It lives outside the `keras_tdplus` package on purpose: pytest imports
its plugins before any conftest.py runs, and importing `keras_tdplus` imports
Keras, which would fix the backend before a conftest.py could choose one.
"""

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import pytest

BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")
"""The backend names `--keras-backends` takes."""

ALL = ("tensorflow", "jax", "torch")
"""What `--keras-backends=all` means, less those not installed."""

_CHILD = "KERAS_TDPLUS_PYTEST_BACKEND"
_REPORT = "KERAS_TDPLUS_PYTEST_REPORT"
_PROBLEMS = ("failed", "error", "xpassed")


def pytest_addoption(parser):
    group = parser.getgroup("keras-tdplus", "Keras backends (keras-tdplus)")
    group.addoption(
        "--keras-backends",
        default=None,
        metavar="NAMES",
        help=(
            "run the tests once per Keras backend, each in its own process with "
            "KERAS_BACKEND set: a comma-separated list of "
            f"{', '.join(BACKENDS)}, or 'all' (every installed one of {', '.join(ALL)})"
        ),
    )


def parse_backends(value):
    """The backend names in `value` ("jax,torch" or "all"), in order, without repeats."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        installed = [name for name in ALL if missing(name) is None]
        if not installed:
            raise pytest.UsageError(
                f"--keras-backends=all: none of {', '.join(ALL)} is installed. "
                "Fix: pip install jax (or tensorflow, or torch)."
            )
        return installed
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise pytest.UsageError(
            f"--keras-backends: unknown backend {', '.join(unknown) or '(none given)'}.\n"
            f"Received: --keras-backends={value}\n"
            f"Expected: a comma-separated list of {', '.join(BACKENDS)}, or all\n"
            "Fix: for example --keras-backends=jax,torch"
        )
    return list(dict.fromkeys(names))


def missing(backend):
    """Why `backend` cannot run here, or None when its package is installed."""
    if importlib.util.find_spec(backend) is None:
        return f"no module named '{backend}'"
    return None


def _asked(config):
    return config.getoption("keras_backends", None) and not os.environ.get(_CHILD)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # This process only starts the others, but it loads the conftest files
    # first; give Keras a backend that is installed, should they import it.
    value = getattr(early_config.known_args_namespace, "keras_backends", None)
    if value and not os.environ.get(_CHILD):
        with contextlib.suppress(pytest.UsageError):
            runnable = [name for name in parse_backends(value) if missing(name) is None]
            if runnable:
                os.environ["KERAS_BACKEND"] = runnable[0]


def pytest_configure(config):
    path = os.environ.get(_REPORT)
    if os.environ.get(_CHILD) and path:
        config.pluginmanager.register(_Recorder(path), "keras_tdplus_backend_recorder")


def pytest_report_header(config):
    if os.environ.get(_CHILD):
        return f"keras backend (--keras-backends): {os.environ[_CHILD]}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if not _asked(config):
        return None
    backends = parse_backends(config.getoption("keras_backends"))
    args = _without_our_option(config.invocation_params.args)
    runs = {backend: _run(backend, args, config.invocation_params.dir) for backend in backends}
    _print_summary(runs, quiet=config.getoption("verbose") < 0)
    codes = [run["exitstatus"] for run in runs.values()]
    if all(code == 0 for code in codes):
        return 0
    return 1 if 1 in codes or None in codes else max(c for c in codes if c is not None)


def _without_our_option(args):
    kept, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg == "--keras-backends":
            skip_next = True
        elif not arg.startswith("--keras-backends="):
            kept.append(arg)
    return kept


def _run(backend, args, folder):
    """Runs pytest with `args` on `backend` in a new process; its exit status and outcomes."""
    reason = missing(backend)
    if reason is not None:
        _banner(f"keras backend: {backend}: NOT INSTALLED ({reason})")
        return {"exitstatus": None, "outcomes": {}, "reason": reason}
    _banner(f"keras backend: {backend} (KERAS_BACKEND={backend})")
    handle, path = tempfile.mkstemp(prefix=f"keras-backend-{backend}-", suffix=".json")
    os.close(handle)
    try:
        env = {**os.environ, "KERAS_BACKEND": backend, _CHILD: backend, _REPORT: path}
        code = subprocess.call([sys.executable, "-m", "pytest", *args], cwd=folder, env=env)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        outcomes = json.loads(text)["outcomes"] if text else {}
    finally:
        os.unlink(path)
    return {"exitstatus": code, "outcomes": outcomes, "reason": None}


def _banner(text):
    sys.stdout.write(f"\n{f' {text} ':=^78}\n")
    sys.stdout.flush()


def _count(outcomes):
    counts = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no tests"


def _print_summary(runs, quiet):
    names = list(runs)
    tests = list(dict.fromkeys(t for run in runs.values() for t in run["outcomes"]))
    rows = [[t] + [runs[b]["outcomes"].get(t, "-") for b in names] for t in tests]
    if quiet:
        rows = [row for row in rows if any(cell in _PROBLEMS for cell in row[1:])]
    _banner("keras backends: every test" if not quiet else "keras backends: problems")
    if rows:
        header = ["test"] + names
        widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            cells = [c.upper() if c in _PROBLEMS else c for c in row]
            sys.stdout.write(
                "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n"
            )
        sys.stdout.write("\n")
    width = max(len(name) for name in names)
    for name, run in runs.items():
        code = run["exitstatus"]
        if code is None:
            line = f"NOT INSTALLED  {run['reason']}; install it or leave it out"
        elif code == 0:
            line = f"passed         {_count(run['outcomes'])}"
        else:
            line = f"FAILED         {_count(run['outcomes'])} (pytest exit code {code})"
        sys.stdout.write(f"{name.ljust(width)}  {line}\n")
    sys.stdout.flush()


class _Recorder:
    """In a backend's process: writes every test's outcome to a JSON file for the summary."""

    def __init__(self, path):
        self.path = path
        self.outcomes = {}

    def _set(self, nodeid, outcome):
        if self.outcomes.get(nodeid) not in ("failed", "error"):
            self.outcomes[nodeid] = outcome

    def pytest_runtest_logreport(self, report):
        xfail = hasattr(report, "wasxfail")
        if report.when == "call":
            if report.passed:
                self._set(report.nodeid, "xpassed" if xfail else "passed")
            elif report.failed:
                self._set(report.nodeid, "failed")
            else:
                self._set(report.nodeid, "xfailed" if xfail else "skipped")
        elif report.failed:
            self._set(report.nodeid, "error")
        elif report.skipped:
            self._set(report.nodeid, "xfailed" if xfail else "skipped")

    def pytest_collectreport(self, report):
        if report.failed:
            self._set(report.nodeid or "(collection)", "error")

    def pytest_sessionfinish(self, session, exitstatus):
        with open(self.path, "w", encoding="utf-8") as file:
            json.dump({"exitstatus": int(exitstatus), "outcomes": self.outcomes}, file)
