"""The wrappers: TimeDistributed (Keras' and ours), Bidirectional and Pipeline count the
layers they hold: their weights once, their FLOPs once per run."""

import dataclasses

from keras import layers

from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.layers import TimeDistributed
from keras_tdplus.params._explain import summed
from keras_tdplus.params._families.base import (
    RankError,
    each_step,
    inside,
    inside_error,
    known_sizes,
    raise_step_rank,
    require_rank,
)
from keras_tdplus.params._gradients import valid_rows
from keras_tdplus.params._registry import flops_formula, weights_formula
from keras_tdplus.params._results import FlopExplanation, ParamExplanation

__all__ = []

TIME_DISTRIBUTED = (layers.TimeDistributed, TimeDistributed)


@weights_formula(*TIME_DISTRIBUTED)
def _time_distributed(layer, shape, count):
    require_rank(layer, shape, min_rank=3, expected="(batch, time, ...)")
    step = (shape[0], *shape[2:])
    try:
        inner = count(layer.layer, step)
    except RankError as error:
        raise_step_rank(layer, shape, layer.layer, error)
    except SequenceShapeError as error:
        raise inside_error(layer, error) from None
    return dataclasses.replace(
        inner,
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=f"TimeDistributed({inner.signature})",
    )


@weights_formula(layers.Bidirectional)
def _bidirectional(layer, shape, count):
    forward = inside(layer, count, layer.forward_layer, shape)
    backward = inside(layer, count, layer.backward_layer, shape)
    merge = f"merge_mode={layer.merge_mode!r}"
    twin = (
        forward.substituted == backward.substituted
        and forward.formula == backward.formula
        and [(w.shape, w.trainable) for w in forward.weights]
        == [(w.shape, w.trainable) for w in backward.weights]
    )
    if not twin:
        signature = (
            f"Bidirectional({forward.signature}, backward_layer={backward.signature}, {merge})"
        )
        return summed(layer, signature, [forward, backward], prefixes=["forward", "backward"])
    both = summed(layer, "", [forward, backward], prefixes=["forward", "backward"])
    return dataclasses.replace(
        both,
        signature=f"Bidirectional({forward.signature}, {merge})",
        formula=f"2 * ({forward.formula})",
        substituted=f"2 * ({forward.substituted})",
    )


@weights_formula(layers.Pipeline)
def _pipeline(layer, shape, count):
    parts = []
    for inner in layer.layers:
        parts.append(inside(layer, count, inner, shape))
        shape = tuple(inner.compute_output_shape(shape))
    signature = f"Pipeline([{', '.join(p.signature for p in parts)}])"
    return summed(layer, signature, parts, ParamExplanation)


@flops_formula(*TIME_DISTRIBUTED)
def _time_distributed_flops(layer, shape, output, count):
    if getattr(layer, "skip_masked_steps", False):
        batch, time = known_sizes(layer, shape, [0, 1], "batch, time")
        rows = valid_rows(layer, batch, time)
        if rows is not None:  # the inner layer runs once, on the valid steps gathered
            inner = count(layer.layer, (rows, *shape[2:]))
            signature = f"TimeDistributed({inner.signature}, skip_masked_steps=True)"
            return summed(layer, signature, [inner], variables={"valid_rows": rows})
    return each_step(layer, shape, count, layer.layer, "TimeDistributed")


@flops_formula(layers.Bidirectional)
def _bidirectional_flops(layer, shape, output, count):
    forward = count(layer.forward_layer, shape)
    backward = count(layer.backward_layer, shape)
    signature = f"Bidirectional({forward.signature})"
    return summed(layer, signature, [forward, backward])


@flops_formula(layers.Pipeline)
def _pipeline_flops(layer, shape, output, count):
    parts = []
    for inner in layer.layers:
        parts.append(count(inner, shape))
        shape = tuple(inner.compute_output_shape(shape))
    signature = f"Pipeline([{', '.join(p.signature for p in parts)}])"
    return summed(layer, signature, parts, FlopExplanation)
