"""Writes torch's FLOPs for the models of `tests/_flops_cases.py`, three files.

    KERAS_BACKEND=torch python tests/golden/make_flops_reference.py [--only FILE ...]

- `flops_reference.json`: one forward pass of every case of `FLOPS_CASES`
  (`reference_flops`);
- `flops_training_reference.json`: one training step of each, same keys
  (`reference_training_flops`);
- `flops_valid_steps_reference.json`: each case of `VALID_STEPS_CASES` on its
  padded batch, forward and training step, and the same batch unpadded
  (`reference_valid_steps`).
`--only training` (or `forward`, `valid_steps`, repeatable) measures those
files alone and leaves the others as they are: for a change that cannot move
the others' figures. Beside them, `flops_reference_inputs.json` records what
all three were measured from: a hash of this script, the cases' modules, the
lists of cases and the torch and keras versions (`inputs_fingerprint`).
`tests/test_flops_reference.py` recomputes that hash in the torch env and fails
when an input changed since the files were written, and measures a fixed sample
of the models again each run; `tests/test_flops.py` checks `count_flops` against
every forward figure, once (it reads configs: a backend-independent test).
"""

import argparse
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path

import keras

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _flops_cases import (  # noqa: E402
    FLOPS_CASES,
    VALID_STEPS_CASES,
    reference_flops,
    reference_training_flops,
    reference_valid_steps,
)

REFERENCE = HERE / "flops_reference.json"
TRAINING = HERE / "flops_training_reference.json"
VALID_STEPS = HERE / "flops_valid_steps_reference.json"
INPUTS = HERE / "flops_reference_inputs.json"
# What the figures depend on besides the versions: this script and the models' modules.
SOURCES = ("golden/make_flops_reference.py", "_flops_cases.py", "_layer_cases.py")


def flops_cases():
    """`{"family/case": make}` for every case of `FLOPS_CASES`."""
    return {
        f"{family}/{case}": make
        for family, group in FLOPS_CASES.items()
        for case, make in group.items()
    }


def inputs_fingerprint():
    """What the references were measured from, and a sha256 of all of it."""
    import torch

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((HERE.parent / name).read_bytes().replace(b"\r\n", b"\n"))
    versions = {"torch": torch.__version__, "keras": keras.__version__}
    keys = sorted(flops_cases())
    digest.update(json.dumps([keys, sorted(VALID_STEPS_CASES), versions]).encode())
    return {
        "sha256": digest.hexdigest(),
        **versions,
        "cases": len(keys),
        "valid_steps_cases": len(VALID_STEPS_CASES),
    }


def measure(cases, figure):
    """`{key: figure(*make())}` for every `key: make` of `cases`; exits naming each that failed."""
    figures, failed = {}, []
    for key, make in cases.items():
        try:
            figures[key] = figure(*make())
        except Exception as error:
            failed.append(f"{key}: {type(error).__name__}: {str(error)[:200]}")
            continue
        finally:
            keras.backend.clear_session()
        shown = f"{figures[key]:,}" if isinstance(figures[key], int) else figures[key]
        print(f"{key}: {shown}", flush=True)
    if failed:
        raise SystemExit("could not measure:\n" + "\n".join(failed))
    return figures


# Each file, what is measured of each of its cases, and the cases.
FILES = {
    "forward": (REFERENCE, reference_flops, flops_cases),
    "training": (TRAINING, reference_training_flops, flops_cases),
    "valid_steps": (VALID_STEPS, reference_valid_steps, lambda: VALID_STEPS_CASES),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=FILES, help="measure this file alone (repeatable)"
    )
    names = parser.parse_args(argv).only or list(FILES)
    if keras.config.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch: the reference is torch's counter")
    warnings.filterwarnings("ignore")
    for name in names:
        path, figure, cases = FILES[name]
        start = time.perf_counter()
        figures = measure(cases(), figure)
        path.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(figures)} figures to {path} in {time.perf_counter() - start:.0f} s")
    INPUTS.write_text(json.dumps(inputs_fingerprint(), indent=1) + "\n")
    print(f"wrote their inputs to {INPUTS}")


if __name__ == "__main__":
    main()
