"""The public names, every module's `__all__` and the API docs agree; privacy is by module.

The convention (CONTRIBUTING.md): a module or folder whose name starts with `_` is
private; names inside modules are plain; a name another module imports is in its
module's `__all__`; the public modules' `__all__` is the API, and every name in it has
an entry in `docs/api/`.
"""

import ast
import importlib
import re
import types
from pathlib import Path

import pytest

import keras_tdplus

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "keras_tdplus"
PUBLIC_MODULES = (
    "keras_tdplus",
    "keras_tdplus.callbacks",
    "keras_tdplus.layers",
    "keras_tdplus.params",
    "keras_tdplus.validation",
    "keras_tdplus.testing",
    "keras_tdplus.echo",
    "keras_tdplus.cli",
    "keras_tdplus.errors",
)


def _module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def _documented():
    """`{module: {names}}` from the `::: module.name` lines and `members:` lists of docs/api."""
    found = {}
    for page in (REPO / "docs" / "api").glob("*.md"):
        target = None
        for line in page.read_text().splitlines():
            if line.startswith(":::"):
                target = line[3:].strip()
                found.setdefault(target, set())
            elif target and re.match(r"\s+- \w+$", line):
                found[target].add(line.strip()[2:])
    documented = {}
    for target, members in found.items():
        if members or _is_module(target):
            documented.setdefault(target, set()).update(members)
        else:
            module, name = target.rsplit(".", 1)
            documented.setdefault(module, set()).add(name)
    return documented


def _is_module(dotted):
    try:
        return isinstance(importlib.import_module(dotted), types.ModuleType)
    except ImportError:
        return False


def _package_imports():
    """`{name: home}` from the `from keras_tdplus[.home] import name` lines of `__init__`."""
    imported = {}
    for node in ast.walk(ast.parse((PACKAGE / "__init__.py").read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_tdplus"):
            home = node.module.partition(".")[2] or None
            imported.update((alias.asname or alias.name, home) for alias in node.names)
    imported.pop("_backend")
    return imported


@pytest.mark.backend_independent
def test_the_package_imports_exactly_its_all_from_its_homes():
    imported = _package_imports()
    assert sorted(keras_tdplus.__all__) == sorted(imported)
    for name, home in imported.items():
        assert home is None or home in keras_tdplus._HOMES, (name, home)
        module = importlib.import_module(f"keras_tdplus.{home or name}")
        expected = module if home is None else getattr(module, name)
        assert getattr(keras_tdplus, name) is expected, name
        if home is not None:
            assert name in module.__all__, f"{name} is not in keras_tdplus.{home}.__all__"


@pytest.mark.backend_independent
def test_the_command_lines_deferred_imports_find_every_public_name(monkeypatch):
    # What `keras-tdplus` gets: the package imported without its names, each found on use.
    imported = _package_imports()
    for name in keras_tdplus.__all__:
        monkeypatch.delitem(vars(keras_tdplus), name)
    for name, home in imported.items():
        module = importlib.import_module(f"keras_tdplus.{home or name}")
        expected = module if home is None else getattr(module, name)
        assert keras_tdplus.__getattr__(name) is expected, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        keras_tdplus.__getattr__("nope")


@pytest.mark.backend_independent
def test_the_package_exports_exactly_its_all():
    exported = {
        name
        for name, value in vars(keras_tdplus).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exported == {n for n in keras_tdplus.__all__ if n not in ("echo", "testing")}


@pytest.mark.parametrize("dotted", PUBLIC_MODULES)
@pytest.mark.backend_independent
def test_every_public_name_is_documented_and_every_documented_name_is_public(dotted):
    module = importlib.import_module(dotted)
    documented = _documented()
    public = set(module.__all__)
    if dotted == "keras_tdplus":
        public -= {"echo", "testing"}  # documented as modules of their own
    on_pages = documented.get(dotted, set())
    # A name documented at the top level counts for the module it comes from too.
    top = documented.get("keras_tdplus", set())
    missing = {n for n in public - on_pages if n not in top}
    assert not missing, f"{dotted}: in __all__ but on no API page: {sorted(missing)}"
    assert on_pages <= public, f"{dotted}: documented but not public: {on_pages - public}"


@pytest.mark.backend_independent
def test_every_api_page_entry_resolves():
    for module_name, names in _documented().items():
        module = importlib.import_module(module_name)
        for name in names:
            assert hasattr(module, name), f"docs/api names {module_name}.{name}, which is gone"


@pytest.mark.parametrize("dotted", MODULES)
def test_every_module_declares_all_and_defines_it(dotted):
    module = importlib.import_module(dotted)
    assert isinstance(getattr(module, "__all__", None), list), f"{dotted} has no __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{dotted}.__all__ names {name}, which it lacks"


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_tdplus"):
            for alias in node.names:
                yield node.module, alias.name, node.lineno


@pytest.mark.backend_independent
def test_modules_import_from_each_other_only_what_the_other_exports():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for source, name, line in _imports(path):
            if _is_module(f"{source}.{name}"):
                continue
            if name not in importlib.import_module(source).__all__:
                wrong.append(f"{path.relative_to(REPO)}:{line} takes {name} from {source}")
    assert not wrong, "\n".join(wrong)
