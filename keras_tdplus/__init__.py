"""keras_tdplus: fast, mask-aware per-time-step layers for Keras 3.

The public API is what `__all__` lists; everything else is private.
"""

from keras_tdplus import echo
from keras_tdplus.convert import convert_time_distributed
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.time_distributed import TimeDistributed
from keras_tdplus.time_distributed_dense import TimeDistributedDense

__version__ = "0.1.0"

__all__ = [
    "SequenceShapeError",
    "TimeDistributed",
    "TimeDistributedDense",
    "convert_time_distributed",
    "echo",
]
