"""Every public name carries a `>>>` example (the docs env runs them as doctests)."""

import inspect

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
def test_public_name_has_a_runnable_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{name} has no `>>>` example in its docstring"
