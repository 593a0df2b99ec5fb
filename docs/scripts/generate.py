"""Runs the code shown in the docs and writes what it prints under docs/generated/.

    KERAS_BACKEND=jax python docs/scripts/generate.py          # everything
    KERAS_BACKEND=jax python docs/scripts/generate.py tutorial # one example file

Every example file in docs/examples/ is cut into sections by snippet markers,
`# --8<-- [start:NAME]` ... `# --8<-- [end:NAME]`. The pages show a section with
`--8<-- "docs/examples/FILE.py:NAME"` and its output with
`--8<-- "docs/generated/FILE/NAME.md"`. The sections of one file run in order in
one namespace, as the file would run top to bottom, in a scratch folder: files
the code writes there (`echo.png`, saved models) are picked up from it.

The files in `EXAMPLE_ENV` run in a process of their own, started with the
variables given there added to its environment: a backend or a device flag
must be set before the backend starts, and in this process it has started.

A section named `error_*` must raise `SequenceShapeError`, and its output ends
with the error as Python prints it; any other section must not raise. The
`keras-tdplus` commands in `COMMANDS` run after the examples, in the same
folder, and their output is written under docs/generated/cli/.

While docs/examples/shape_errors.py runs, every line of the package is traced:
the run fails if a place in the package that builds a `SequenceShapeError`
message was not reached, so the shape-errors page shows every message.

Outputs are deterministic (seeds are pinned, timings are not printed) except
for the two `keras-tdplus echo` runs, which print their fit time. The
convergence and benchmark tables, and the multi-process runs of the scaling
page (each needs its backend installed), are made by their own commands (see
`MEASURED`); this script only writes a placeholder for a missing one.
"""

import argparse
import ast
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
GENERATED = DOCS / "generated"

# In page order. Each produces docs/generated/<name>/<section>.md.
EXAMPLE_FILES = (
    "home",
    "tutorial",
    "shape_errors",
    "param_formulas",
    "flops",
    "performance",
    "padded_batches",
    "migrating",
    "scaling_jax",
    "scaling_tf",
    "testing",
)

# Example files that run in a child process, with these variables added to its
# environment. Each script also sets them at its top, for readers who run it
# alone; the child fails if the script sets a different value.
EXAMPLE_ENV = {
    "scaling_jax": {
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    },
    "scaling_tf": {"KERAS_BACKEND": "tensorflow"},
}

# Files the examples write in their folder, and where they go.
ARTIFACTS = {"echo.png": DOCS / "img" / "echo.png"}

# `keras-tdplus` command lines, run in the examples' folder after them.
COMMANDS = {
    "echo": "python -m keras_tdplus echo",
    "echo_many_to_many": "keras-tdplus echo --experiment many_to_many",
    "params_lstm": "keras-tdplus params LSTM --units 5 --input-shape 1,1",
    "params_model": "keras-tdplus params many_to_many.keras",
    "params_flops": (
        "keras-tdplus params tagger.keras --flops --input-shape 20,8 --batch-size 32 --memory"
    ),
    "check_broken": "keras-tdplus check broken.keras",
    "check_fixed": "keras-tdplus check many_to_many.keras",
}

# Tables measured on every backend by these commands, included as they are.
MEASURED = {
    "convergence.md": "KERAS_BACKEND=jax python -m keras_tdplus echo --seeds 20",
    "benchmark.md": "tox -e bench-jax; tox -e bench-tensorflow; tox -e bench-torch",
    "masked_steps.md": (
        "for b in jax tensorflow torch; do KERAS_BACKEND=$b python benchmarks/masked_steps.py "
        "--json $b.json; done; python benchmarks/plot_masked_steps.py jax.json tensorflow.json "
        "torch.json --out docs/img/masked_steps.png > docs/generated/masked_steps.md"
    ),
    "flops_padded.md": (
        "for b in jax tensorflow torch; do KERAS_BACKEND=$b python benchmarks/flops_padded.py "
        "--json $b.json; done; python benchmarks/flops_padded.py --table jax.json tensorflow.json "
        "torch.json > docs/generated/flops_padded.md"
    ),
    # Every export path on every backend; needs the exporters (python -m tox -e export exec -- ...).
    **{
        f"deploying/{name}.md": "python docs/scripts/export_matrix.py"
        for name in ("matrix", "graph_size")
    },
    # Two processes each, in an env with that backend (python -m tox -e py3-jax exec -- ...).
    **{
        f"scaling_out/{name}.md": (
            f"python docs/examples/launch_local.py --output docs/generated/scaling_out/{name}.md "
            f"docs/examples/{script}"
        )
        for name, script in {
            "jax_data": "scaling_out_jax.py --mode data",
            "jax_model": "scaling_out_jax.py --mode model",
            "tf_step": "scaling_out_tf.py",
            "torch": "scaling_out_torch.py",
        }.items()
    },
}

START = re.compile(r"^\s*# --8<-- \[start:(?P<name>[\w-]+)\]\s*$")
END = re.compile(r"^\s*# --8<-- \[end:(?P<name>[\w-]+)\]\s*$")


def sections(path):
    """`[(name or None, first line number, source)]`, covering the whole file in order."""
    chunks, name, start, lines = [], None, 1, []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        opened, closed = START.match(line), END.match(line)
        if opened:
            if name is not None:
                raise SystemExit(
                    f"{path}:{number}: section {opened['name']!r} opens inside {name!r}"
                )
            chunks.append((None, start, lines))
            name, start, lines = opened["name"], number + 1, []
        elif closed:
            if closed["name"] != name:
                raise SystemExit(f"{path}:{number}: [end:{closed['name']}] closes {name!r}")
            chunks.append((name, start, lines))
            name, start, lines = None, number + 1, []
        else:
            lines.append(line)
    if name is not None:
        raise SystemExit(f"{path}: section {name!r} is never closed")
    chunks.append((None, start, lines))
    names = [chunk[0] for chunk in chunks if chunk[0]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"{path}: sections defined twice: {duplicates}")
    return [(n, s, "\n".join(body)) for n, s, body in chunks if "".join(body).strip()]


def output_block(text):
    lines = [line.rstrip() for line in text.rstrip("\n").splitlines()]
    return '```text title="Output"\n' + "\n".join(lines) + "\n```\n"


def run_example(path, out_dir):
    """Runs `path` section by section; writes each section's output; returns their names."""
    import keras

    from keras_tdplus.errors import SequenceShapeError

    # Each file starts as in a fresh process: layer names count from zero.
    keras.backend.clear_session()
    namespace = {"__name__": "__main__", "__file__": str(path)}
    written = []
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name, first_line, source in sections(path):
        code = compile("\n" * (first_line - 1) + source, str(path), "exec")
        buffer = io.StringIO()
        raised = None
        with contextlib.redirect_stdout(buffer):
            try:
                exec(code, namespace)
            except SequenceShapeError as error:
                raised = error
        text = buffer.getvalue()
        where = f"{path.name}, section {name or '(outside sections)'}"
        expects_error = bool(name and name.startswith("error_"))
        if raised is not None and not expects_error:
            raise RuntimeError(f"{where} raised {raised!r}") from raised
        if expects_error and raised is None:
            raise RuntimeError(f"{where} should raise SequenceShapeError but did not")
        if raised is not None:
            kind = type(raised)
            text += f"{kind.__module__}.{kind.__qualname__}: {raised}\n"
        if name is None:
            continue
        if not text.strip():
            continue
        raw = name.endswith("_markdown")
        (out_dir / f"{name}.md").write_text(text if raw else output_block(text))
        written.append(name)
    return written


def run_in_child(name, out_root=GENERATED):
    """Runs example file `name` in a child process with its `EXAMPLE_ENV`; returns its outputs.

    The outputs go to `out_root / name`.
    """
    env = {**os.environ, **EXAMPLE_ENV[name]}
    command = [sys.executable, __file__, "--child", name, "--out", str(out_root)]
    done = subprocess.run(command, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{name}.py failed in its own process (exit status {done.returncode})")
    return sorted(path.stem for path in (out_root / name).glob("*.md"))


def child_main(name, out_root=GENERATED):
    """The child process of `run_in_child`: runs example file `name` in the current folder."""
    wanted = EXAMPLE_ENV[name]
    run_example(EXAMPLES / f"{name}.py", out_root / name)
    changed = {key: os.environ.get(key) for key in wanted if os.environ.get(key) != wanted[key]}
    if changed:
        raise SystemExit(f"{name}.py sets {changed}, but EXAMPLE_ENV gives {wanted}")


def run_commands(out_dir, names=None):
    """Runs the `COMMANDS` (or those in `names`) and writes each one's console block."""
    from keras_tdplus import cli

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name, command in COMMANDS.items():
        if names is not None and name not in names:
            continue
        argv = shlex.split(command)
        # `python -m keras_tdplus ARGS` and `keras-tdplus ARGS` both call cli.main(ARGS).
        args = argv[3:] if argv[:3] == ["python", "-m", "keras_tdplus"] else argv[1:]
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            status = cli.main(args)
        text = f"$ {command}\n{buffer.getvalue()}"
        if status:
            text += f"$ echo $?\n{status}\n"
        lines = [line.rstrip() for line in text.rstrip("\n").splitlines()]
        (out_dir / f"{name}.md").write_text("```console\n" + "\n".join(lines) + "\n```\n")


# Every place the package builds a SequenceShapeError message, so that the
# shape-errors page can be checked to show each of them.


def _message_sites():
    package = REPO / "keras_tdplus"
    sites = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                callee = node.func.id
                is_info = any(
                    isinstance(arg, ast.Constant) and arg.value == "info"
                    for arg in [*node.args, *(k.value for k in node.keywords)]
                )
                if (
                    callee == "SequenceShapeError"
                    or (callee == "Finding" and not is_info)
                    or (callee == "_message" and function.name == "_explain_message")
                ):
                    sites.append((path, function.name, node.lineno, node.end_lineno))
    return sites


@contextlib.contextmanager
def _lines_run(paths):
    """Records `(file, line)` for every line run in `paths` while the block runs."""
    wanted = {str(p) for p in paths}
    seen = set()

    def local(frame, event, arg):
        if event == "line":
            seen.add((frame.f_code.co_filename, frame.f_lineno))
        return local

    def global_(frame, event, arg):
        return local if frame.f_code.co_filename in wanted else None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        yield seen
    finally:
        sys.settrace(previous)


def uncovered(sites, seen):
    return [
        site
        for site in sites
        if not any((str(site[0]), line) in seen for line in range(site[2], site[3] + 1))
    ]


def unused_outputs():
    """Generated files that no page includes: output nobody would see."""
    included = set()
    for page in DOCS.rglob("*.md"):
        if GENERATED not in page.parents:
            included |= set(re.findall(r'--8<-- "(docs/generated/[^"]+)"', page.read_text()))
    generated = {str(p.relative_to(REPO)) for p in GENERATED.rglob("*.md")}
    return sorted(generated - included)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "only", nargs="*", metavar="NAME", help=f"only these: {', '.join(EXAMPLE_FILES)}, cli"
    )
    # Internal: how run_in_child starts the child process.
    parser.add_argument("--child", choices=sorted(EXAMPLE_ENV), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=GENERATED, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.out)
        return
    unknown = sorted(set(args.only) - {*EXAMPLE_FILES, "cli"})
    if unknown:
        parser.error(f"unknown names {unknown}; expected {', '.join(EXAMPLE_FILES)} or cli")
    import keras

    if keras.config.backend() != "jax":
        raise SystemExit(
            f"The docs show JAX output; run with KERAS_BACKEND=jax "
            f"(this run has {keras.config.backend()})."
        )
    started = time.perf_counter()
    wanted = args.only or [*EXAMPLE_FILES, "cli"]
    sites = _message_sites()
    missing = []
    with tempfile.TemporaryDirectory() as scratch:
        previous = os.getcwd()
        os.chdir(scratch)
        try:
            for name in EXAMPLE_FILES:
                # Later examples and the commands read files that earlier ones save.
                if name not in wanted and "cli" not in wanted:
                    continue
                tick = time.perf_counter()
                if name in EXAMPLE_ENV:
                    written = run_in_child(name)
                elif name == "shape_errors":
                    with _lines_run({s[0] for s in sites}) as seen:
                        written = run_example(EXAMPLES / f"{name}.py", GENERATED / name)
                    missing = uncovered(sites, seen)
                else:
                    written = run_example(EXAMPLES / f"{name}.py", GENERATED / name)
                print(f"{name}: {len(written)} outputs in {time.perf_counter() - tick:.1f} s")
            if "cli" in wanted:
                tick = time.perf_counter()
                run_commands(GENERATED / "cli")
                print(f"cli: {len(COMMANDS)} commands in {time.perf_counter() - tick:.1f} s")
            for produced, target in ARTIFACTS.items():
                if os.path.exists(produced):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(produced, target)
        finally:
            os.chdir(previous)
    for file_name, command in MEASURED.items():
        path = GENERATED / file_name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"_(generated by `{command}`)_\n")
    print(f"done in {time.perf_counter() - started:.1f} s")
    for path, function, line, _ in missing:
        print(f"not shown on the shape-errors page: {path.name}:{line} in {function}()")
    unused = unused_outputs()
    for path in unused:
        print(f"not included by any page: {path}")
    if missing or unused:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
