"""keras_tdplus: fast, mask-aware per-time-step layers for Keras 3.

The public API is what `__all__` lists; everything else is private.
"""

from keras_tdplus import echo, testing
from keras_tdplus.convert import convert_time_distributed
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params import (
    ParamExplanation,
    ParamTable,
    count_params,
    explain_params,
    param_table,
    register_param_formula,
)
from keras_tdplus.time_distributed import TimeDistributed
from keras_tdplus.time_distributed_dense import TimeDistributedDense
from keras_tdplus.validation import (
    Finding,
    ShapeReport,
    check_fit_data,
    check_model,
    check_sequence_input,
    explain_shape_errors,
)

__version__ = "0.1.0"

__all__ = [
    "Finding",
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
    "count_params",
    "echo",
    "explain_params",
    "explain_shape_errors",
    "param_table",
    "register_param_formula",
    "testing",
]
