"""FLOPs of the core layers: Dense, TimeDistributedDense, TernaryDense and EinsumDense."""

import math

from keras_tdplus.params._flops.base import known_sizes, products, register
from keras_tdplus.params._formulas.core import einsum_spec

__all__ = []


@register("Dense", "TimeDistributedDense", "TernaryDense")
def _dense(layer, shape, output, count):
    # TernaryDense (Keras 3.16): the same product, on a kernel rounded to -1, 0 or 1 and a
    # scale applied element-wise (0 FLOPs here).
    rows = math.prod(known_sizes(layer, shape, range(len(shape) - 1), "rows"))
    values = {"rows": rows, "inputs": shape[-1], "units": layer.units}
    signature = f"{type(layer).__name__}(units={layer.units})"
    return products(layer, signature, [["rows", "inputs", "units"]], values)


@register("EinsumDense")
def _einsum_dense(layer, shape, output, count):
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
    return products(layer, signature, [list(values)], values)
