"""Formulas of the core layers: Dense, TernaryDense, EinsumDense, Embedding, PReLU and
ReversibleEmbedding."""

import re

from keras_tdplus._messages import format_shape
from keras_tdplus.params._formulas.base import (
    known,
    leaf,
    no_bias,
    raise_rank,
    register,
    require_rank,
)

__all__ = ["einsum_spec"]


@register("Dense", "TernaryDense")
def _dense(layer, shape, count):
    # TernaryDense (Keras 3.16) rounds its float kernel to -1, 0 or 1 on every call and keeps
    # the float kernel and the bias as its weights: a Dense's.
    require_rank(layer, shape, min_rank=2, expected="(batch, ..., inputs)")
    inputs = known(layer, shape, -1, "inputs")
    units = layer.units
    weights = [("kernel", (inputs, units), True)]
    template = "{inputs} * {units}"
    if layer.use_bias:
        weights.append(("bias", (units,), True))
        template += " + {units}"
    signature = f"{type(layer).__name__}(units={units}{no_bias(layer)})"
    values = {"inputs": inputs, "units": units}
    return leaf(layer, signature, template, values, ("inputs",), weights)


@register("TimeDistributedDense")
def _time_distributed_dense(layer, shape, count):
    require_rank(layer, shape, min_rank=3, expected="(batch, time, ..., inputs)")
    return _dense(layer, shape, count)


@register("Embedding", "ReversibleEmbedding")
def _embedding(layer, shape, count):
    values = {"input_dim": layer.input_dim, "output_dim": layer.output_dim}
    name = type(layer).__name__
    signature = f"{name}(input_dim={layer.input_dim}, output_dim={layer.output_dim}"
    weights = [("embeddings", (layer.input_dim, layer.output_dim), True)]
    template = "{input_dim} * {output_dim}"
    if name == "ReversibleEmbedding" and not layer.tie_weights:
        weights.append(("reverse_embeddings", (layer.output_dim, layer.input_dim), True))
        template = "2 * " + template
        signature += ", tie_weights=False"
    return leaf(layer, signature + ")", template, values, (), weights)


@register("PReLU")
def _prelu(layer, shape, count):
    require_rank(layer, shape, min_rank=2, expected="(batch, ...)")
    shared = set(layer.shared_axes or ())
    alpha = tuple(1 if axis in shared else shape[axis] for axis in range(1, len(shape)))
    if None in alpha:
        raise ValueError(
            f"Layer '{layer.name}' (PReLU) needs known sizes on every axis it does not share "
            f"to count its `alpha`. Received: input_shape={format_shape(shape)}, "
            f"shared_axes={layer.shared_axes}. Fix: pass shared_axes for the unknown axes"
        )
    names = [f"d{axis}" for axis in range(1, len(shape)) if axis not in shared]
    values = {name: shape[int(name[1:])] for name in names}
    template = " * ".join(f"{{{n}}}" for n in names) or "1"
    signature = "PReLU" + (f"(shared_axes={list(layer.shared_axes)})" if shared else "")
    return leaf(layer, signature, template, values, tuple(names), [("alpha", alpha, True)])


@register("EinsumDense")
def _einsum_dense(layer, shape, count):
    equation = layer.equation
    spec = einsum_spec(layer, shape)
    input_spec, weight_spec, output_spec, left_elided, elided = spec
    output_shape = [shape[0], *layer.partial_output_shape]
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, shape[i])
    elif elided > 0:
        output_shape.extend(shape[len(shape) - elided :])
    offset = elided if left_elided else 0
    input_axis = {
        dim: (i + elided - len(shape) if left_elided else i) for i, dim in enumerate(input_spec)
    }
    output_axis = {dim: i + offset for i, dim in enumerate(output_spec)}
    for dim in input_spec:
        size, out = shape[input_axis[dim]], output_shape[output_axis.get(dim, 0)]
        if dim in output_axis and out is not None and out != size:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) has `output_shape` {out} at shared "
                f"dimension '{dim}' of equation '{equation}', but the input has {size}. "
                f"Received: output_shape={layer.partial_output_shape}, "
                f"input_shape={format_shape(shape)}"
            )
    values, from_input = {}, []
    for dim in weight_spec:
        if dim in output_axis:
            values[dim] = output_shape[output_axis[dim]]
        elif dim in input_axis:
            values[dim] = shape[input_axis[dim]]
            from_input.append(dim)
        else:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense): weight dimension '{dim}' of equation "
                f"'{equation}' is in neither the input nor the output spec"
            )
        if values[dim] is None:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) needs a known size for dimension '{dim}' "
                f"of equation '{equation}' to count its kernel. "
                f"Received: input_shape={format_shape(shape)}, "
                f"output_shape={layer.partial_output_shape}"
            )
    weights = [("kernel", tuple(values[dim] for dim in weight_spec), True)]
    template = " * ".join(f"{{{dim}}}" for dim in weight_spec)
    bias_axes = layer.bias_axes
    if bias_axes is not None:
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(
                    f"Layer '{layer.name}' (EinsumDense) has `bias_axes`='{bias_axes}', but "
                    f"'{char}' is not in the output spec '{output_spec}' of equation '{equation}'"
                )
        first = min(output_spec.find(char) for char in bias_axes)
        bias_dims = output_spec[first:]
        bias_shape = [output_shape[output_axis[c]] if c in bias_axes else 1 for c in bias_dims]
        if not left_elided:
            bias_shape += [1] * elided
        if None in bias_shape:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) needs known sizes for `bias_axes`="
                f"'{bias_axes}'. Received: input_shape={format_shape(shape)}"
            )
        weights.append(("bias", tuple(bias_shape), True))
        for char in bias_dims:
            if char in bias_axes:
                values.setdefault(char, output_shape[output_axis[char]])
        template += " + " + " * ".join(f"{{{c}}}" for c in bias_dims if c in bias_axes)
    partial = layer.partial_output_shape
    signature = f"EinsumDense(equation={equation!r}, output_shape={partial}"
    signature += (f", bias_axes={bias_axes!r}" if bias_axes is not None else "") + ")"
    return leaf(layer, signature, template, values, tuple(dict.fromkeys(from_input)), weights)


def einsum_spec(layer, shape):
    equation = layer.equation.replace("...", "0")
    patterns = (
        (r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),
        (r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
        (r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False),
    )
    for pattern, left in patterns:
        match = re.match(pattern, equation)
        if match:
            left_elided = left
            break
    else:
        raise ValueError(
            f"Layer '{layer.name}' (EinsumDense) has an equation it cannot take. Expected the "
            "form [X],[Y]->[Z], ...[X],[Y]->...[Z] or [X]...,[Y]->[Z].... "
            f"Received: equation={layer.equation!r}"
        )
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(shape) - len(input_spec)
    if elided < 0 or ("..." not in layer.equation and elided != 0):
        rank = len(input_spec)
        expected = f"rank {rank}" if "..." not in layer.equation else f"rank >= {rank}"
        raise_rank(layer, shape, expected, f"input_spec '{input_spec}'", rank)
    return input_spec, weight_spec, output_spec, left_elided, elided
