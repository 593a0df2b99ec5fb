"""What every FLOPs formula shares: the registry and the result builders.

A FLOPs formula is a function `formula(layer, shape, output, count)` that
returns the `FlopExplanation` of one forward pass of an unbuilt `layer` on the
batch `shape` (a tuple, or a list of tuples for several inputs) whose output
has the shape `output`. `count(inner, shape)` explains a layer nested in it;
only wrappers need it. `@register` files a formula under the Keras class
names it covers, as the parameter formulas are filed.

FLOPs are 2 per multiply-add of a matrix product, a convolution or an
attention product (torch's `FlopCounterMode` convention); element-wise work
counts 0.
"""

import math

from keras_tdplus._messages import format_shape
from keras_tdplus.params._formulas.base import registrar
from keras_tdplus.params._results import FlopExplanation

__all__ = [
    "FLOPS",
    "known_sizes",
    "no_formula",
    "no_products",
    "products",
    "register",
    "repeated",
    "summed",
]

FLOPS = {}


register = registrar(FLOPS, "FLOPs")


def products(layer, signature, terms, values):
    """FLOPs `2 * a * b * ...` summed over `terms`, each a list of names of `values` or ints."""

    def term(factors, show):
        return " * ".join(["2", *(str(f) if isinstance(f, int) else show(f) for f in factors)])

    total = sum(
        2 * math.prod(f if isinstance(f, int) else values[f] for f in factors) for factors in terms
    )
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables=dict(values),
        formula=" + ".join(term(t, str) for t in terms) or "0",
        substituted=" + ".join(term(t, lambda f: str(values[f])) for t in terms) or "0",
        total=total,
    )


def no_products(layer, shape=None, output=None, count=None):
    """A layer that computes no matrix product: 0 FLOPs by the convention."""
    name = type(layer).__name__
    return FlopExplanation(name, layer.name, name, {}, "0", "0", 0)


def no_formula(layer):
    """A layer with no FLOPs formula: counted as missing, never as 0."""
    name = type(layer).__name__
    return FlopExplanation(name, layer.name, name, {}, "?", "?", 0, (f"'{layer.name}' ({name})",))


def repeated(layer, signature, symbol, times, inner, values=None):
    """`times` runs of `inner`, e.g. a TimeDistributed layer's inner layer on each step."""
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={symbol: times, **(values or {}), **inner.variables},
        formula=f"{symbol} * ({inner.formula})",
        substituted=f"{times} * ({inner.substituted})",
        total=times * inner.total,
        missing=inner.missing,
    )


def summed(layer, signature, parts, variables=None):
    """The FLOPs of the layers `layer` runs, one after another."""
    if len(parts) == 1:
        formula, substituted = parts[0].formula, parts[0].substituted
    else:
        formula = " + ".join(f"({p.formula})" for p in parts) or "0"
        substituted = " + ".join(f"({p.substituted})" for p in parts) or "0"
    merged = dict(variables or {})
    for part in parts:
        merged.update(part.variables)
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables=merged,
        formula=formula,
        substituted=substituted,
        total=sum(p.total for p in parts),
        missing=tuple(m for p in parts for m in p.missing),
    )


def known_sizes(layer, shape, axes, what):
    """The sizes of `shape` on `axes`; a clear error when one is unknown."""
    if shape is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no output shape Keras can "
            f"compute, and its FLOPs need the {what}"
        )
    sizes = [shape[axis] for axis in axes]
    if None in sizes:
        axis = axes[sizes.index(None)]
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs a known size on axis {axis} "
            f"({what}) to count its FLOPs. Received: input_shape={format_shape(shape)}. Fix: "
            "pass an input_shape (and batch_size) with that axis filled in"
        )
    return sizes
