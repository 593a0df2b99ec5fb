"""The attention layers: MultiHeadAttention, GroupedQueryAttention, Attention and
AdditiveAttention: their weights, and their FLOPs.

Every query position meets every key position twice: once for the scores
(`key_dim` multiply-adds per pair and head) and once to weigh the values
(`value_dim`). The projections are the EinsumDense layers the layer holds.
"""

import math

from keras import layers

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus._messages import format_shape
from keras_tdplus.params._explain import leaf, products
from keras_tdplus.params._families.base import known, known_sizes
from keras_tdplus.params._gradients import gradients, operands, weighed
from keras_tdplus.params._registry import flops_formula, weights_formula

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


def _projected(layer, shape, sizes, plan, bias, output, signature):
    """The weights of an attention layer: one projection a `plan` row, then its output.

    `plan` rows are `(name, features, heads, size)`, symbols of the values:
    the projection's kernel is `(features, heads, size)`. `output` is `(kernel
    shape, bias shape, template)` of the output projection.
    """
    query, value, key = _query_value_key(layer, shape)
    values = {
        "query_features": known(layer, query, -1, "query_features"),
        "key_features": known(layer, key, -1, "key_features"),
        "value_features": known(layer, value, -1, "value_features"),
        **sizes,
    }
    plus = " + 1" if bias else ""
    weights, terms = [], []
    for name, features, heads, size in plan:
        weights.append((f"{name}/kernel", tuple(values[s] for s in (features, heads, size)), True))
        if bias:
            weights.append((f"{name}/bias", (values[heads], values[size]), True))
        terms.append(f"({{{features}}}{plus}) * {{{heads}}} * {{{size}}}")
    kernel, bias_shape, template = output(values)
    weights.append(("attention_output/kernel", kernel, True))
    if bias:
        weights.append(("attention_output/bias", bias_shape, True))
    terms.append(template)
    on = ("query_features", "key_features", "value_features")
    return leaf(layer, signature, " + ".join(terms), values, on, weights)


def _plan(query_heads, kv_heads, key_size, value_size, gate):
    """The projections' `(name, features, heads, size)` rows, in Keras' order of weights."""
    plan = [("query", "query_features", query_heads, key_size)]
    plan.append(("key", "key_features", kv_heads, key_size))
    if gate:
        plan.append(("gate", "query_features", query_heads, value_size))
    plan.append(("value", "value_features", kv_heads, value_size))
    return plan


@weights_formula(layers.MultiHeadAttention)
def _multi_head_attention(layer, shape, count):
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    plan = _plan("heads", "heads", "key_dim", "value_dim", layer._use_gate)
    bias = layer._use_bias

    def output(values):
        outputs = tuple(layer._output_shape or (values["query_features"],))
        values["outputs"] = math.prod(outputs)
        template = "{heads} * {value_dim} * {outputs}" + (" + {outputs}" if bias else "")
        return (heads, value_dim, *outputs), outputs, template

    signature = f"MultiHeadAttention(num_heads={heads}, key_dim={key_dim}"
    signature += (f", value_dim={value_dim}" if layer.value_dim else "") + ")"
    sizes = {"heads": heads, "key_dim": key_dim, "value_dim": value_dim}
    return _projected(layer, shape, sizes, plan, bias, output, signature)


@weights_formula(layers.GroupQueryAttention)
def _grouped_query_attention(layer, shape, count):
    heads, kv_heads, head_dim = layer.num_query_heads, layer.num_key_value_heads, layer.head_dim
    plan = _plan("query_heads", "kv_heads", "head_dim", "head_dim", layer.use_gate)
    bias = layer.use_bias

    def output(values):
        features = values["query_features"]
        template = "{query_heads} * {head_dim} * {query_features}"
        return (
            (heads, head_dim, features),
            (features,),
            template + (" + {query_features}" if bias else ""),
        )

    signature = (
        f"GroupedQueryAttention(head_dim={head_dim}, num_query_heads={heads}, "
        f"num_key_value_heads={kv_heads})"
    )
    sizes = {"query_heads": heads, "kv_heads": kv_heads, "head_dim": head_dim}
    return _projected(layer, shape, sizes, plan, bias, output, signature)


@weights_formula(layers.Attention)
def _attention(layer, shape, count):
    weights = []
    if layer.use_scale:
        weights.append(("scale", (), True))
    if layer.score_mode == "concat":
        weights.append(("concat_score_weight", (), True))
    template = str(len(weights))
    signature = f"Attention(use_scale={layer.use_scale}, score_mode={layer.score_mode!r})"
    return leaf(layer, signature, template, {}, (), weights)


@weights_formula(layers.AdditiveAttention)
def _additive_attention(layer, shape, count):
    query = shape[0] if is_shape_list(shape) else shape
    if not layer.use_scale:
        return leaf(layer, "AdditiveAttention(use_scale=False)", "0", {}, (), [])
    features = known(layer, query, -1, "features")
    weights = [("scale", (features,), True)]
    values = {"features": features}
    return leaf(layer, "AdditiveAttention", "{features}", values, ("features",), weights)


def _positions(layer, shape, what):
    """`(batch, positions)`: the batch and the product of the axes between it and the features."""
    sizes = known_sizes(layer, shape, range(len(shape) - 1), f"{what} batch and positions")
    return sizes[0], math.prod(sizes[1:])


def _attention_split(layer, query, key):
    """`(batch_like, query_positions, key_positions)` of MultiHeadAttention's attention axes."""
    rank = len(query)
    axes = layer._attention_axes
    axes = range(1, rank - 1) if axes is None else [a % rank for a in axes]
    others = [a for a in range(1, rank - 1) if a not in axes]
    batch_like = math.prod(query[a] for a in others)
    return batch_like, math.prod(query[a] for a in axes), math.prod(key[a] for a in axes)


def _inputs(layer, shape):
    """`(query, key, sizes)`: the query and key shapes, and the sizes every projection reads."""
    query, value, key = _query_value_key(layer, shape)
    batch, query_positions = _positions(layer, query, "query")
    _, key_positions = _positions(layer, key, "key")
    _, value_positions = _positions(layer, value, "value")
    sizes = {
        "batch": batch,
        "query_positions": query_positions,
        "key_positions": key_positions,
        "value_positions": value_positions,
        "query_features": query[-1],
        "key_features": key[-1],
        "value_features": value[-1],
    }
    return query, key, sizes


@flops_formula(layers.MultiHeadAttention)
def _multi_head_attention_flops(layer, shape, output, count):
    query, key, sizes = _inputs(layer, shape)
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    batch_like, query_steps, key_steps = _attention_split(layer, query, key)
    values = {
        **sizes,
        "heads": heads,
        "key_dim": key_dim,
        "value_dim": value_dim,
        "outputs": math.prod(layer._output_shape or (query[-1],)),
    }
    attend = ["batch", "heads", "query_positions", "key_positions"]
    if batch_like != 1 or query_steps != sizes["query_positions"]:
        values.update(batch_like=batch_like, query_steps=query_steps, key_steps=key_steps)
        attend = ["batch", "batch_like", "heads", "query_steps", "key_steps"]
    terms = [
        ["batch", "query_positions", "query_features", "heads", "key_dim"],
        ["batch", "key_positions", "key_features", "heads", "key_dim"],
        ["batch", "value_positions", "value_features", "heads", "value_dim"],
        [*attend, "key_dim"],
        [*attend, "value_dim"],
        ["batch", "query_positions", "heads", "value_dim", "outputs"],
    ]
    grads = _projected_gradients(layer)
    if layer._use_gate:
        terms.insert(3, ["batch", "query_positions", "query_features", "heads", "value_dim"])
        grads = grads and grads[:3] + weighed(layer, "gate_kernel") + grads[3:]
    signature = f"MultiHeadAttention(num_heads={heads}, key_dim={key_dim})"
    return products(layer, signature, terms, values, grads)


@flops_formula(layers.GroupQueryAttention)
def _grouped_query_attention_flops(layer, shape, output, count):
    _, _, sizes = _inputs(layer, shape)
    values = {
        **sizes,
        "query_heads": layer.num_query_heads,
        "kv_heads": layer.num_key_value_heads,
        "head_dim": layer.head_dim,
    }
    attend = ["batch", "query_heads", "query_positions", "key_positions", "head_dim"]
    terms = [
        ["batch", "query_positions", "query_features", "query_heads", "head_dim"],
        ["batch", "key_positions", "key_features", "kv_heads", "head_dim"],
        ["batch", "value_positions", "value_features", "kv_heads", "head_dim"],
        attend,
        attend,
        ["batch", "query_positions", "query_heads", "head_dim", "query_features"],
    ]
    grads = _projected_gradients(layer)
    if layer.use_gate:
        terms.insert(3, ["batch", "query_positions", "query_features", "query_heads", "head_dim"])
        grads = grads and grads[:3] + weighed(layer, "gate_kernel") + grads[3:]
    signature = (
        f"GroupedQueryAttention(head_dim={layer.head_dim}, "
        f"num_query_heads={layer.num_query_heads}, num_key_value_heads={layer.num_key_value_heads})"
    )
    return products(layer, signature, terms, values, grads)


@flops_formula(layers.Attention, layers.AdditiveAttention)
def _attention_flops(layer, shape, output, count):
    _, _, sizes = _inputs(layer, shape)
    # Attention's positions are steps, (batch, steps, features); its scores read the key's.
    renamed = (("query_positions", "query_steps"), ("value_positions", "value_steps"))
    values = {"batch": sizes["batch"], **{new: sizes[old] for old, new in renamed}}
    values.update(features=sizes["key_features"], value_features=sizes["value_features"])
    weigh = ["batch", "query_steps", "value_steps", "value_features"]
    # Dot-product scores are a matrix product; additive and concat scores are element-wise.
    dot_scores = type(layer) is layers.Attention and layer.score_mode == "dot"
    terms = [["batch", "query_steps", "value_steps", "features"], weigh] if dot_scores else [weigh]
    if not dot_scores:
        del values["features"]
    signature = type(layer).__name__
    if type(layer) is layers.Attention:
        signature += f"(score_mode={layer.score_mode!r})"
    grads = None
    flow = gradients(layer)
    if flow is not None:
        query, value, key = _carried(flow)
        # The scores carry a gradient from the query, the key or a weight of their own.
        weights = layer.use_scale or getattr(layer, "score_mode", None) == "concat"
        scores = query or key or (weights and flow.kernel)
        grads = ([operands(query, key)[0]] if dot_scores else []) + operands(scores, value)
    return products(layer, signature, terms, values, grads)


def _carried(flow):
    """Whether the query, value and key carry a gradient (value is the query's, key the value's)."""
    inputs = flow.inputs or (False,)
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    return query, value, key


def _projected_gradients(layer):
    """The gradients of an attention layer's projections, scores, weighted sum and output.

    In the order of its FLOPs terms without the gate: the query, key and value
    projections, the scores, the weighted values, the output projection.
    """
    flow = gradients(layer)
    if flow is None:
        return None
    query, value, key = _carried(flow)
    # Each projection's output carries a gradient from its kernel or its input.
    projected = [flow.kernel or query, flow.kernel or key, flow.kernel or value]
    scores = projected[0] or projected[1]
    attended = scores or projected[2]
    return [
        *weighed(layer, "query_kernel", carried=query),
        *weighed(layer, "key_kernel", carried=key),
        *weighed(layer, "value_kernel", carried=value),
        *operands(projected[0], projected[1]),
        *operands(scores, projected[2]),
        *weighed(layer, "output_kernel", carried=attended),
    ]
