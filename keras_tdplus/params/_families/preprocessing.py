"""The preprocessing layers that hold state, Normalization and STFTSpectrogram, and the
spectrograms, which have no FLOPs formula: their weights and FLOPs.

The other preprocessing layers hold no Keras weights (lookup tables live in
TensorFlow resources, random layers only a seed) and are in `weightless.py`.
"""

import math

from keras import layers

from keras_tdplus._messages import format_shape
from keras_tdplus.params._explain import leaf, missing_flops, zero_flops, zero_weights
from keras_tdplus.params._families.base import known
from keras_tdplus.params._registry import flops_formula, weights_formula

__all__ = []


@weights_formula(layers.Normalization)
def _normalization(layer, shape, count):
    if layer.input_mean is not None:
        # Given `mean` and `variance` are constants, not weights.
        return leaf(layer, "Normalization(mean=..., variance=...)", "0", {}, (), [])
    kept = []
    for axis in layer.axis:
        if not -len(shape) <= axis < len(shape):
            raise ValueError(
                f"Layer '{layer.name}' (Normalization) keeps `axis`={axis}, which input_shape "
                f"{format_shape(shape)} does not have. Received: axis={layer.axis}"
            )
        kept.append(axis % len(shape))
    state = tuple(known(layer, shape, axis, "features") for axis in sorted(kept))
    weights = [
        ("mean", state, False),
        ("variance", state, False),
        ("count", (), False),
    ]
    values = {"features": math.prod(state)}
    signature = f"Normalization(axis={layer.axis})"
    return leaf(layer, signature, "2 * {features} + 1", values, ("features",), weights)


@weights_formula(layers.STFTSpectrogram)
def _stft_spectrogram(layer, shape, count):
    frame, bins = layer.frame_length, layer._fft_length // 2 + 1
    parts = [name for name, skip in (("real", "imag"), ("imag", "real")) if layer.mode != skip]
    weights = [(f"{part}_kernel", (frame, 1, bins), True) for part in parts]
    values = {"frame_length": frame, "bins": bins}
    template = "{frame_length} * {bins}"
    if len(parts) == 2:
        template = "2 * " + template
    signature = f"STFTSpectrogram(mode={layer.mode!r}, frame_length={frame})"
    return leaf(layer, signature, template, values, (), weights)


# Normalizing is element-wise: 0 FLOPs. A spectrogram's short-time Fourier transform is not a
# counted product: no formula, so it is reported as missing.
flops_formula(layers.Normalization)(zero_flops)
weights_formula(layers.MelSpectrogram)(zero_weights)
flops_formula(layers.STFTSpectrogram, layers.MelSpectrogram)(missing_flops)
