"""Every public name carries a `>>>` example, and every example prints what it shows."""

import doctest
import importlib
import inspect
import io
import pkgutil

import pytest

import keras_tdplus as tdp


def _public():
    """Functions and classes exported by the package, echo and testing."""
    names = {name: getattr(tdp, name) for name in tdp.__all__}
    for module in (names.pop("echo"), names.pop("testing")):
        for name, obj in vars(module).items():
            defined_here = getattr(obj, "__module__", None) == module.__name__
            if not name.startswith("_") and defined_here:
                names[f"{module.__name__.split('.')[-1]}.{name}"] = obj
    callables = {n: o for n, o in names.items() if inspect.isclass(o) or inspect.isfunction(o)}
    return sorted(callables.items())


@pytest.mark.parametrize(("name", "obj"), _public(), ids=[name for name, _ in _public()])
@pytest.mark.backend_independent
def test_public_name_has_a_runnable_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{name} has no `>>>` example in its docstring"


# Every module but `__main__` (importing it runs the command line), as pytest's
# `--doctest-modules` would collect them.
_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(tdp.__path__, "keras_tdplus.")
    if not info.name.endswith(".__main__")
)


@pytest.mark.backend("jax")  # the examples show what JAX prints, as the docs do
@pytest.mark.parametrize("module_name", ["keras_tdplus", *_MODULES])
def test_docstring_examples_print_what_they_show(module_name):
    module = importlib.import_module(module_name)
    found = doctest.DocTestFinder().find(module, module_name)
    if ">>>" in inspect.getsource(module):
        assert any(test.examples for test in found), f"{module_name}: its examples were not found"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in found:
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
