"""The README's python blocks run, top to bottom, and print what their `#>` lines say.

Runs on the JAX env only (the blocks are backend-independent Keras code; the
layers' agreement across backends is tested elsewhere): a fresh process with
KERAS_BACKEND=jax runs the blocks in order, in one namespace, in a scratch folder.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
OUTPUT = re.compile(r"^#> ?(.*)$", re.MULTILINE)


def _blocks():
    if not README.is_file():
        pytest.fail(f"{README} is missing: the sdist must ship README.md")
    return BLOCK.findall(README.read_text(encoding="utf-8"))


@pytest.mark.backend_independent
def test_readme_has_python_blocks_with_stated_output():
    blocks = _blocks()
    assert blocks, "README.md has no ```python block"
    assert any(OUTPUT.search(block) for block in blocks)


@pytest.mark.backend("jax")
def test_readme_python_blocks_run_and_print_what_they_say(tmp_path):
    blocks = _blocks()
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(README.parent))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = [line for block in blocks for line in OUTPUT.findall(block)]
    assert done.stdout.splitlines() == expected
