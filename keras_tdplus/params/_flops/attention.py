"""FLOPs of the attention layers: their projections and their two attention products.

Every query position meets every key position twice: once for the scores
(`key_dim` multiply-adds per pair and head) and once to weigh the values
(`value_dim`). The projections are the EinsumDense layers the layer holds.
"""

import math

from keras_tdplus._config.call_shapes import is_shape_list
from keras_tdplus.params._flops.base import known_sizes, products, register

__all__ = []


def _query_value_key(shape):
    shapes = shape if is_shape_list(shape) else [shape]
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    return query, value, key


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
    query, value, key = _query_value_key(shape)
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


@register("MultiHeadAttention")
def _multi_head_attention(layer, shape, output, count):
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
    if layer._use_gate:
        terms.insert(3, ["batch", "query_positions", "query_features", "heads", "value_dim"])
    signature = f"MultiHeadAttention(num_heads={heads}, key_dim={key_dim})"
    return products(layer, signature, terms, values)


@register("GroupedQueryAttention")
def _grouped_query_attention(layer, shape, output, count):
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
    if layer.use_gate:
        terms.insert(3, ["batch", "query_positions", "query_features", "query_heads", "head_dim"])
    signature = (
        f"GroupedQueryAttention(head_dim={layer.head_dim}, "
        f"num_query_heads={layer.num_query_heads}, num_key_value_heads={layer.num_key_value_heads})"
    )
    return products(layer, signature, terms, values)


@register("Attention", "AdditiveAttention")
def _attention(layer, shape, output, count):
    query, value, key = _query_value_key(shape)
    batch, query_steps = _positions(layer, query, "query")
    _, value_steps = _positions(layer, value, "value")
    values = {
        "batch": batch,
        "query_steps": query_steps,
        "value_steps": value_steps,
        "features": key[-1],
        "value_features": value[-1],
    }
    weigh = ["batch", "query_steps", "value_steps", "value_features"]
    # Dot-product scores are a matrix product; additive and concat scores are element-wise.
    dot_scores = type(layer).__name__ == "Attention" and layer.score_mode == "dot"
    terms = [["batch", "query_steps", "value_steps", "features"], weigh] if dot_scores else [weigh]
    if not dot_scores:
        del values["features"]
    signature = type(layer).__name__
    if type(layer).__name__ == "Attention":
        signature += f"(score_mode={layer.score_mode!r})"
    return products(layer, signature, terms, values)
