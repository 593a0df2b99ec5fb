"""Sequence-shape checks: one clear error for every sequence-shape mistake.

Four checks share one error class, `SequenceShapeError`, and one message
format: the culprit and what is wrong on the first line, then the shape
received, the shape expected and the fix as code.

- `check_sequence_input` checks one array against `(samples, timesteps,
  features)` and computes the reshape from the data.
- `check_fit_data` checks `x` and `y` against a model's input and output.
- `check_model` lints a model's layers before Keras builds or runs it;
  `check_saved_config` lints a saved model's config without loading it.
- `explain_shape_errors` turns the shape `ValueError`s Keras raises into
  `SequenceShapeError`s that say what to change.

Arrays are never converted or copied: the checks read `.shape` and `.dtype`
when the input has them, and walk nested lists otherwise, so a view of
`10**12` samples costs nothing. Values are not inspected; NaN and inf pass.
"""

from keras_tdplus.validation._data_checks import check_fit_data, check_sequence_input
from keras_tdplus.validation._keras_errors import explain_shape_errors
from keras_tdplus.validation._lint import check_model, check_saved_config
from keras_tdplus.validation._lint_report import Finding, ShapeReport

__all__ = [
    "Finding",
    "ShapeReport",
    "check_fit_data",
    "check_model",
    "check_saved_config",
    "check_sequence_input",
    "explain_shape_errors",
]
