"""Callbacks for `fit`: `Throughput` logs samples per second, achieved FLOP/s and MFU."""

from keras_tdplus.callbacks._throughput import Throughput

__all__ = ["Throughput"]
