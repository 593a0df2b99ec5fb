"""Writes `flops_reference.json`: torch's FLOPs for every model of `tests/_flops_cases.py`.

    KERAS_BACKEND=torch python tests/golden/make_flops_reference.py

Each figure is `FlopCounterMode` around one forward pass on the torch backend
(see `reference_flops`). Beside it, `flops_reference_inputs.json` records what
the figures were measured from: a hash of this script, the cases' modules, the
list of cases and the torch and keras versions (`inputs_fingerprint`).
`tests/test_flops_reference.py` recomputes that hash in the torch env and fails
when an input changed since the file was written, and measures a fixed sample of
the models again each run; `tests/test_flops.py` checks `count_flops` against
every figure, once (it reads configs: a backend-independent test).
"""

import hashlib
import json
import sys
import warnings
from pathlib import Path

import keras

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _flops_cases import FLOPS_CASES, reference_flops  # noqa: E402

REFERENCE = HERE / "flops_reference.json"
INPUTS = HERE / "flops_reference_inputs.json"
# What the figures depend on besides the versions: this script and the models' modules.
SOURCES = ("golden/make_flops_reference.py", "_flops_cases.py", "_layer_cases.py")


def case_keys():
    return sorted(f"{family}/{case}" for family, cases in FLOPS_CASES.items() for case in cases)


def inputs_fingerprint():
    """What the reference was measured from, and a sha256 of all of it."""
    import torch

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((HERE.parent / name).read_bytes().replace(b"\r\n", b"\n"))
    versions = {"torch": torch.__version__, "keras": keras.__version__}
    digest.update(json.dumps([case_keys(), versions]).encode())
    return {"sha256": digest.hexdigest(), **versions, "cases": len(case_keys())}


def main():
    if keras.config.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch: the reference is torch's counter")
    warnings.filterwarnings("ignore")
    reference, failed = {}, []
    for family, cases in FLOPS_CASES.items():
        for case, make in cases.items():
            key = f"{family}/{case}"
            try:
                model, shapes = make()
                reference[key] = reference_flops(model, shapes)
            except Exception as error:
                failed.append(f"{key}: {type(error).__name__}: {str(error)[:200]}")
                continue
            finally:
                keras.backend.clear_session()
            print(f"{key}: {reference[key]:,}", flush=True)
    if failed:
        raise SystemExit("could not measure:\n" + "\n".join(failed))
    REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    INPUTS.write_text(json.dumps(inputs_fingerprint(), indent=1) + "\n")
    print(f"wrote {len(reference)} figures to {REFERENCE} and their inputs to {INPUTS}")


if __name__ == "__main__":
    main()
