"""Formulas of the wrappers: TimeDistributed, Bidirectional, Pipeline count their inner layers."""

import dataclasses

from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params._formulas.base import (
    RankError,
    combine,
    inside,
    inside_error,
    raise_step_rank,
    register,
    require_rank,
)
from keras_tdplus.params._results import ParamExplanation

__all__ = []


@register("TimeDistributed")
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


@register("Bidirectional")
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
    weights = tuple(
        dataclasses.replace(w, name=f"{side}/{w.name}")
        for side, part in (("forward", forward), ("backward", backward))
        for w in part.weights
    )
    if twin:
        signature = f"Bidirectional({forward.signature}, {merge})"
        formula, substituted = f"2 * ({forward.formula})", f"2 * ({forward.substituted})"
    else:
        signature = (
            f"Bidirectional({forward.signature}, backward_layer={backward.signature}, {merge})"
        )
        formula = f"({forward.formula}) + ({backward.formula})"
        substituted = f"({forward.substituted}) + ({backward.substituted})"
    variables = {**forward.variables, **backward.variables}
    return ParamExplanation(
        "Bidirectional", layer.name, signature, variables, formula, substituted, weights
    )


@register("Pipeline")
def _pipeline(layer, shape, count):
    parts = []
    for inner in layer.layers:
        parts.append(inside(layer, count, inner, shape))
        shape = tuple(inner.compute_output_shape(shape))
    signature = f"Pipeline([{', '.join(p.signature for p in parts)}])"
    return combine(layer, signature, parts)
