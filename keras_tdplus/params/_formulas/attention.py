"""Formulas of the attention layers: MultiHeadAttention, GroupedQueryAttention, Attention."""

import math

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus._messages import format_shape
from keras_tdplus.params._formulas.base import known, leaf, register

__all__ = []


def _query_value_key(layer, shape):
    """`(query, value, key)` shapes from one shape (self-attention) or a list of 2 or 3."""
    shapes = shape if is_shape_list(shape) else [shape]
    if not 1 <= len(shapes) <= 3:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes query, value and an optional "
            f"key. Received: {len(shapes)} input shapes {shape}"
        )
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    for name, part in (("query", query), ("value", value), ("key", key)):
        if len(part) < 3:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) needs a {name} of rank >= 3, "
                f"(batch, ..., features). Received: {name} shape {format_shape(part)}"
            )
    return query, value, key


def _projection(weights, name, inputs, heads, size, use_bias):
    weights.append((f"{name}/kernel", (inputs, heads, size), True))
    if use_bias:
        weights.append((f"{name}/bias", (heads, size), True))


@register("MultiHeadAttention")
def _multi_head_attention(layer, shape, count):
    query, value, key = _query_value_key(layer, shape)
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    values = {
        "query_features": known(layer, query, -1, "query_features"),
        "key_features": known(layer, key, -1, "key_features"),
        "value_features": known(layer, value, -1, "value_features"),
        "heads": heads,
        "key_dim": key_dim,
        "value_dim": value_dim,
    }
    outputs = tuple(layer._output_shape or (values["query_features"],))
    bias = layer._use_bias
    weights = []
    _projection(weights, "query", values["query_features"], heads, key_dim, bias)
    _projection(weights, "key", values["key_features"], heads, key_dim, bias)
    if layer._use_gate:
        _projection(weights, "gate", values["query_features"], heads, value_dim, bias)
    _projection(weights, "value", values["value_features"], heads, value_dim, bias)
    weights.append(("attention_output/kernel", (heads, value_dim, *outputs), True))
    if bias:
        weights.append(("attention_output/bias", outputs, True))
    values["outputs"] = math.prod(outputs)
    plus = " + 1" if bias else ""
    terms = [
        f"({{query_features}}{plus}) * {{heads}} * {{key_dim}}",
        f"({{key_features}}{plus}) * {{heads}} * {{key_dim}}",
    ]
    if layer._use_gate:
        terms.append(f"({{query_features}}{plus}) * {{heads}} * {{value_dim}}")
    terms.append(f"({{value_features}}{plus}) * {{heads}} * {{value_dim}}")
    terms.append("{heads} * {value_dim} * {outputs}" + (" + {outputs}" if bias else ""))
    signature = f"MultiHeadAttention(num_heads={heads}, key_dim={key_dim}"
    signature += (f", value_dim={value_dim}" if layer.value_dim else "") + ")"
    on = ("query_features", "key_features", "value_features")
    return leaf(layer, signature, " + ".join(terms), values, on, weights)


@register("GroupedQueryAttention")
def _grouped_query_attention(layer, shape, count):
    query, value, key = _query_value_key(layer, shape)
    heads, kv_heads, head_dim = layer.num_query_heads, layer.num_key_value_heads, layer.head_dim
    values = {
        "query_features": known(layer, query, -1, "query_features"),
        "key_features": known(layer, key, -1, "key_features"),
        "value_features": known(layer, value, -1, "value_features"),
        "query_heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
    }
    bias = layer.use_bias
    weights = []
    _projection(weights, "query", values["query_features"], heads, head_dim, bias)
    _projection(weights, "key", values["key_features"], kv_heads, head_dim, bias)
    if layer.use_gate:
        _projection(weights, "gate", values["query_features"], heads, head_dim, bias)
    _projection(weights, "value", values["value_features"], kv_heads, head_dim, bias)
    weights.append(("attention_output/kernel", (heads, head_dim, values["query_features"]), True))
    if bias:
        weights.append(("attention_output/bias", (values["query_features"],), True))
    plus = " + 1" if bias else ""
    terms = [f"({{query_features}}{plus}) * {{query_heads}} * {{head_dim}}"]
    terms.append(f"({{key_features}}{plus}) * {{kv_heads}} * {{head_dim}}")
    if layer.use_gate:
        terms.append(f"({{query_features}}{plus}) * {{query_heads}} * {{head_dim}}")
    terms.append(f"({{value_features}}{plus}) * {{kv_heads}} * {{head_dim}}")
    output = "{query_heads} * {head_dim} * {query_features}"
    terms.append(output + (" + {query_features}" if bias else ""))
    signature = (
        f"GroupedQueryAttention(head_dim={head_dim}, num_query_heads={heads}, "
        f"num_key_value_heads={kv_heads})"
    )
    on = ("query_features", "key_features", "value_features")
    return leaf(layer, signature, " + ".join(terms), values, on, weights)


@register("Attention")
def _attention(layer, shape, count):
    weights = []
    if layer.use_scale:
        weights.append(("scale", (), True))
    if layer.score_mode == "concat":
        weights.append(("concat_score_weight", (), True))
    template = str(len(weights))
    signature = f"Attention(use_scale={layer.use_scale}, score_mode={layer.score_mode!r})"
    return leaf(layer, signature, template, {}, (), weights)


@register("AdditiveAttention")
def _additive_attention(layer, shape, count):
    query = shape[0] if is_shape_list(shape) else shape
    if not layer.use_scale:
        return leaf(layer, "AdditiveAttention(use_scale=False)", "0", {}, (), [])
    features = known(layer, query, -1, "features")
    weights = [("scale", (features,), True)]
    values = {"features": features}
    return leaf(layer, "AdditiveAttention", "{features}", values, ("features",), weights)
