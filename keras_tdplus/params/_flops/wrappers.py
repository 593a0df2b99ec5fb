"""FLOPs of the wrappers: TimeDistributed runs its layer on each step, Bidirectional twice."""

from keras_tdplus.params._flops.base import known_sizes, register, repeated, summed

__all__ = []


@register("TimeDistributed")
def _time_distributed(layer, shape, output, count):
    (time,) = known_sizes(layer, shape, [1], "time")
    inner = count(layer.layer, (shape[0], *shape[2:]))
    return repeated(layer, f"TimeDistributed({inner.signature})", "time", time, inner)


@register("Bidirectional")
def _bidirectional(layer, shape, output, count):
    forward = count(layer.forward_layer, shape)
    backward = count(layer.backward_layer, shape)
    signature = f"Bidirectional({forward.signature})"
    return summed(layer, signature, [forward, backward])


@register("Pipeline")
def _pipeline(layer, shape, output, count):
    parts = []
    for inner in layer.layers:
        parts.append(count(inner, shape))
        shape = tuple(inner.compute_output_shape(shape))
    return summed(layer, f"Pipeline([{', '.join(p.signature for p in parts)}])", parts)


@register("SpectralNormalization")
def _spectral_normalization(layer, shape, output, count):
    # Its power iteration runs in training only; a forward pass runs the wrapped layer.
    inner = count(layer.layer, shape)
    return summed(layer, f"SpectralNormalization({inner.signature})", [inner])
