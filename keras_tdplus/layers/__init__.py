"""The layers: `TimeDistributedDense`, the folding `TimeDistributed`, and the converter."""

from keras_tdplus.layers._convert import convert_time_distributed
from keras_tdplus.layers._time_distributed import TimeDistributed
from keras_tdplus.layers._time_distributed_dense import TimeDistributedDense

__all__ = ["TimeDistributed", "TimeDistributedDense", "convert_time_distributed"]
