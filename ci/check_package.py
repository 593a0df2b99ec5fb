"""What `tox -e package` runs: the built sdist and wheel as a new user gets them.

    python ci/check_package.py WORK_DIR

1. builds the sdist and the wheel, and runs `twine check` on both;
2. installs the wheel with the jax extra alone into a clean venv and, with a
   fresh HOME, no KERAS_BACKEND and no keras.json, runs `keras-tdplus --help`
   and `keras-tdplus echo --experiment many_to_one --epochs 1`; Keras must not
   have written a keras.json;
3. unpacks the sdist and, from it, collects the whole test suite (every file a
   test reads must be in the sdist) and runs the tests that read files outside
   the package: the benchmark script, the README, the golden model files and
   the API pages. The whole suite runs in the backend envs, from the checkout.
"""

import glob
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


def main(work):
    work = Path(work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, REPO)
    run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))

    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    (wheel,) = glob.glob(str(dist / "*.whl"))
    constraints = ["-c", REPO / "ci" / "constraints.txt"]
    # The dev and plot extras bring what the sdist's tests and their conftest import.
    run(python, "-m", "pip", "install", "-q", *constraints, f"{wheel}[jax,dev,plot]")

    home = work / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KERAS_BACKEND", "KERAS_HOME", "PYTHONPATH", "TDPLUS_EXPECT_BACKEND")
    }
    env["HOME"] = str(home)
    script = python.parent / "keras-tdplus"
    run(script, "--help", env=env, cwd=home)
    run(script, "echo", "--experiment", "many_to_one", "--epochs", "1", env=env, cwd=home)
    if (home / ".keras").exists():
        sys.exit(f"check_package: Keras wrote {home / '.keras'}; the CLI must not")

    (sdist,) = glob.glob(str(dist / "*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "sdist", filter="data")
    (source,) = (work / "sdist").iterdir()
    # KERAS_BACKEND alone, not TDPLUS_EXPECT_BACKEND: with it the conftest would leave the
    # backend-independent tests to the torch env, and they are most of what reads files here.
    env.update(KERAS_BACKEND="jax")
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    run(*pytest, "-q", "--collect-only", env=env, cwd=source)
    tests = [
        "tests/test_benchmark.py",
        "tests/test_readme.py",
        "tests/test_packaging.py",
        "tests/test_golden_files.py",
        "tests/test_public_api.py",
    ]
    run(
        python,
        "-m",
        "pytest",
        "-q",
        "-n",
        "auto",
        "-p",
        "no:cacheprovider",
        *tests,
        env=env,
        cwd=source,
    )
    print("check_package: OK")


if __name__ == "__main__":
    main(sys.argv[1])
