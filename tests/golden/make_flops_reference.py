"""Writes `flops_reference.json`: torch's FLOPs for every model of `tests/_flops_cases.py`.

    KERAS_BACKEND=torch python tests/golden/make_flops_reference.py

Each figure is `FlopCounterMode` around one forward pass on the torch backend
(see `reference_flops`). `tests/test_flops_reference.py` measures them again
in the torch env and fails when one differs from this file, so the file never
goes stale; `tests/test_flops.py` checks `count_flops` against it in the jax env.
"""

import json
import sys
import warnings
from pathlib import Path

import keras

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _flops_cases import FLOPS_CASES, reference_flops  # noqa: E402


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
    path = HERE / "flops_reference.json"
    path.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(reference)} figures to {path}")


if __name__ == "__main__":
    main()
