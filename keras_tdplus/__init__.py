"""keras_tdplus: fast, mask-aware per-time-step layers for Keras 3.

The public API is what `__all__` lists; everything else is private.

Importing the package imports Keras (and registers the layers for
`keras.saving.load_model`), except while the `keras-tdplus` command starts: it
picks a backend first, and its `--help` imports none. A backend that is not
installed raises an `ImportError` naming `KERAS_BACKEND` and the installed ones.
"""

import importlib

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


# The public module each name comes from (None: the module itself), for the command line's
# deferred imports; tests/test_public_api.py checks it against `__all__` and the imports.
_HOMES = {
    "Finding": "validation",
    "FlopExplanation": "params",
    "MemoryEstimate": "params",
    "ParamExplanation": "params",
    "ParamTable": "params",
    "SequenceShapeError": "errors",
    "ShapeReport": "validation",
    "TimeDistributed": "layers",
    "TimeDistributedDense": "layers",
    "check_fit_data": "validation",
    "check_model": "validation",
    "check_sequence_input": "validation",
    "convert_time_distributed": "layers",
    "count_flops": "params",
    "count_params": "params",
    "echo": None,
    "estimate_memory": "params",
    "explain_flops": "params",
    "explain_params": "params",
    "explain_shape_errors": "validation",
    "param_table": "params",
    "register_flops_formula": "params",
    "register_param_formula": "params",
    "testing": None,
}

if not _backend.started_by_cli():
    _backend.import_keras()

    from keras_tdplus import echo, testing
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
    if name not in _HOMES:
        raise AttributeError(f"module 'keras_tdplus' has no attribute {name!r}")
    _backend.import_keras()
    home = _HOMES[name]
    module = importlib.import_module(f"keras_tdplus.{home or name}")
    value = module if home is None else getattr(module, name)
    globals()[name] = value
    return value
