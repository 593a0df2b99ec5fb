"""keras_tdplus: fast, mask-aware per-time-step layers for Keras 3.

The public API is what `__all__` lists; everything else is private.

Importing the package imports Keras (and registers the layers for
`keras.saving.load_model`), except while the `keras-tdplus` command starts: it
picks a backend first, and its `--help` imports none. A backend that is not
installed raises an `ImportError` naming `KERAS_BACKEND` and the installed ones.
"""

import importlib
import importlib.util

from keras_tdplus import _backend

__version__ = "0.1.0"

__all__ = [
    "Finding",
    "FlopExplanation",
    "MemoryEstimate",
    "ParamExplanation",
    "ParamTable",
    "SequenceShapeError",
    "ShapeReport",
    "Throughput",
    "TimeDistributed",
    "TimeDistributedDense",
    "check_fit_data",
    "check_model",
    "check_sequence_input",
    "convert_time_distributed",
    "count_flops",
    "count_params",
    "echo",
    "estimate_memory",
    "explain_flops",
    "explain_params",
    "explain_shape_errors",
    "param_table",
    "register_flops_formula",
    "register_param_formula",
    "testing",
]

# The public modules the names come from, for the command line's deferred imports: each
# name is its own module, or one of their `__all__`.
_HOMES = ("callbacks", "errors", "layers", "params", "validation")

if not _backend.started_by_cli():
    _backend.import_keras()

    from keras_tdplus import echo, testing
    from keras_tdplus.callbacks import Throughput
    from keras_tdplus.errors import SequenceShapeError
    from keras_tdplus.layers import (
        TimeDistributed,
        TimeDistributedDense,
        convert_time_distributed,
    )
    from keras_tdplus.params import (
        FlopExplanation,
        MemoryEstimate,
        ParamExplanation,
        ParamTable,
        count_flops,
        count_params,
        estimate_memory,
        explain_flops,
        explain_params,
        param_table,
        register_flops_formula,
        register_param_formula,
    )
    from keras_tdplus.validation import (
        Finding,
        ShapeReport,
        check_fit_data,
        check_model,
        check_sequence_input,
        explain_shape_errors,
    )


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(f"module 'keras_tdplus' has no attribute {name!r}")
    _backend.import_keras()
    if importlib.util.find_spec(f"keras_tdplus.{name}") is not None:
        value = importlib.import_module(f"keras_tdplus.{name}")
    else:
        homes = (importlib.import_module(f"keras_tdplus.{home}") for home in _HOMES)
        value = next(getattr(home, name) for home in homes if name in home.__all__)
    globals()[name] = value
    return value
