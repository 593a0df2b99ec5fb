"""The core layers: Dense, TernaryDense, TimeDistributedDense, EinsumDense, Embedding,
ReversibleEmbedding and PReLU: their weights, their FLOPs and EinsumDense's output shape."""

import math
import re

from keras import layers

from keras_tdplus._messages import Argument, worded
from keras_tdplus.layers import TimeDistributedDense
from keras_tdplus.params._explain import leaf, products, zero_flops
from keras_tdplus.params._families.base import (
    known,
    known_sizes,
    no_bias,
    raise_rank,
    require_rank,
)
from keras_tdplus.params._gradients import weighed
from keras_tdplus.params._registry import flops_formula, output_shape_rule, weights_formula

__all__ = []

# Keras 3.16 adds TernaryDense.
_TERNARY_DENSE = getattr(layers, "TernaryDense", None)


@weights_formula(layers.Dense, _TERNARY_DENSE)
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


@weights_formula(TimeDistributedDense)
def _time_distributed_dense(layer, shape, count):
    require_rank(layer, shape, min_rank=3, expected="(batch, time, ..., inputs)")
    return _dense(layer, shape, count)


@weights_formula(layers.Embedding, layers.ReversibleEmbedding)
def _embedding(layer, shape, count):
    values = {"input_dim": layer.input_dim, "output_dim": layer.output_dim}
    name = type(layer).__name__
    signature = f"{name}(input_dim={layer.input_dim}, output_dim={layer.output_dim}"
    weights = [("embeddings", (layer.input_dim, layer.output_dim), True)]
    template = "{input_dim} * {output_dim}"
    if type(layer) is layers.ReversibleEmbedding and not layer.tie_weights:
        weights.append(("reverse_embeddings", (layer.output_dim, layer.input_dim), True))
        template = "2 * " + template
        signature += ", tie_weights=False"
    return leaf(layer, signature + ")", template, values, (), weights)


@weights_formula(layers.PReLU)
def _prelu(layer, shape, count):
    require_rank(layer, shape, min_rank=2, expected="(batch, ...)")
    shared = set(layer.shared_axes or ())
    alpha = tuple(1 if axis in shared else shape[axis] for axis in range(1, len(shape)))
    if None in alpha:
        first = f"Layer '{layer.name}' (PReLU) needs known sizes on every axis it does not share"
        raise worded(
            ValueError,
            [
                f"{first} to count its `alpha`. Received: ",
                Argument("input_shape", shape),
                f", shared_axes={layer.shared_axes}. Fix: pass shared_axes for the unknown axes",
            ],
        )
    names = [f"d{axis}" for axis in range(1, len(shape)) if axis not in shared]
    values = {name: shape[int(name[1:])] for name in names}
    template = " * ".join(f"{{{n}}}" for n in names) or "1"
    signature = "PReLU" + (f"(shared_axes={list(layer.shared_axes)})" if shared else "")
    return leaf(layer, signature, template, values, tuple(names), [("alpha", alpha, True)])


@weights_formula(layers.EinsumDense)
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
            raise worded(
                ValueError,
                [
                    f"Layer '{layer.name}' (EinsumDense) has `output_shape` {out} at shared "
                    f"dimension '{dim}' of equation '{equation}', but the input has {size}. "
                    f"Received: output_shape={layer.partial_output_shape}, ",
                    Argument("input_shape", shape),
                ],
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
            raise worded(
                ValueError,
                [
                    f"Layer '{layer.name}' (EinsumDense) needs a known size for dimension "
                    f"'{dim}' of equation '{equation}' to count its kernel. Received: ",
                    Argument("input_shape", shape),
                    f", output_shape={layer.partial_output_shape}",
                ],
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
            first = f"Layer '{layer.name}' (EinsumDense) needs known sizes for `bias_axes`="
            parts = [f"{first}'{bias_axes}'. Received: ", Argument("input_shape", shape)]
            raise worded(ValueError, parts)
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


@flops_formula(layers.Dense, TimeDistributedDense, _TERNARY_DENSE)
def _dense_flops(layer, shape, output, count):
    # TernaryDense (Keras 3.16): the same product, on a kernel rounded to -1, 0 or 1 and a
    # scale applied element-wise (0 FLOPs here).
    rows = math.prod(known_sizes(layer, shape, range(len(shape) - 1), "rows"))
    values = {"rows": rows, "inputs": shape[-1], "units": layer.units}
    signature = f"{type(layer).__name__}(units={layer.units})"
    return products(layer, signature, [["rows", "inputs", "units"]], values, weighed(layer))


@flops_formula(layers.EinsumDense)
def _einsum_dense_flops(layer, shape, output, count):
    input_spec, weight_spec, output_spec, left_elided, elided = einsum_spec(layer, shape)
    offset = elided if left_elided else 0
    sizes = {}
    for i, letter in enumerate(input_spec):
        sizes[letter] = shape[i + offset]
    for i, letter in enumerate(output_spec):
        if sizes.get(letter) is None:
            sizes[letter] = output[i + offset]
    elided_axes = range(elided) if left_elided else range(len(shape) - elided, len(shape))
    values = {}
    if elided:
        values["elided"] = math.prod(known_sizes(layer, shape, list(elided_axes), "elided"))
    # Without an axis the input and kernel share and the output drops, nothing is summed: the
    # "product" multiplies element by element (an outer or scaling product), 0 FLOPs here.
    if not any(c in weight_spec and c not in output_spec for c in input_spec):
        return products(layer, f"EinsumDense(equation={layer.equation!r})", [], {})
    # The product's axes: every output axis and every axis the input and kernel share (the
    # summed one); an axis only one operand has is summed before the product, element-wise.
    for letter in dict.fromkeys(output_spec + input_spec + weight_spec):
        if letter in output_spec or (letter in input_spec and letter in weight_spec):
            if sizes.get(letter) is None:
                raise ValueError(
                    f"Layer '{layer.name}' (EinsumDense) needs a known size for dimension "
                    f"'{letter}' of equation '{layer.equation}' to count its FLOPs. Fix: pass "
                    "an input_shape (and batch_size) with every axis filled in"
                )
            values[letter] = sizes[letter]
    signature = f"EinsumDense(equation={layer.equation!r})"
    return products(layer, signature, [list(values)], values, weighed(layer))


@output_shape_rule(layers.EinsumDense)
def _einsum_output(layer, shape, from_keras):
    """Keras' output shape with the `None`s of `output_shape` that the input sizes fill.

    Keras documents such a `None` as inferred from the input, and the layer's
    output has that size, but its `compute_output_shape` keeps the `None`.
    """
    input_spec, _, output_spec, left_elided, elided = einsum_spec(layer, shape)
    offset = elided if left_elided else 0
    sizes = {letter: shape[i + offset] for i, letter in enumerate(input_spec)}
    filled = list(from_keras())
    for i, letter in enumerate(output_spec):
        if filled[i + offset] is None:
            filled[i + offset] = sizes.get(letter)
    return tuple(filled)


# An embedding looks rows up; PReLU scales element by element: 0 FLOPs.
flops_formula(layers.Embedding, layers.ReversibleEmbedding, layers.PReLU)(zero_flops)
