"""The words every formula builds its explanation with, for weights and FLOPs alike.

`leaf` (weights from a template) and `products` (FLOPs from products of
sizes) explain one layer; `summed` joins the explanations of the layers a
layer runs, of either kind; `repeated` runs one `times` times; `zero_weights`,
`zero_flops` and `missing_flops` are whole formulas for the layers that hold
no weights, compute no product, or have no FLOPs formula.

FLOPs are 2 per multiply-add of a matrix product, a convolution or an
attention product (torch's `FlopCounterMode` convention); element-wise work
counts 0.
"""

import dataclasses
import math

from keras_tdplus.params._gradients import is_training
from keras_tdplus.params._results import FlopExplanation, ParamExplanation, WeightSpec

__all__ = [
    "leaf",
    "missing_flops",
    "products",
    "recurrence",
    "repeated",
    "summed",
    "variable_dtype",
    "zero_flops",
    "zero_weights",
]


def variable_dtype(layer):
    """The dtype of the variables `layer` creates, from its dtype policy."""
    policy = getattr(layer, "dtype_policy", None)
    return str(getattr(policy, "variable_dtype", None) or "float32")


def leaf(layer, signature, template, values, on, weights, owner=None):
    """The weights of `layer`: `template` over `values`, `(name, shape, trainable)` weights.

    `on` names the values read from the input shape; `owner` is the layer
    that creates the variables when not `layer` (a recurrent layer's cell).
    """
    # Keras marks a variable non-trainable when the layer that creates it is
    # not trainable; the layers around it only filter what they report.
    trainable = (owner or layer).trainable
    dtype = variable_dtype(owner or layer)
    return ParamExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={name: values[name] for name in on},
        formula=template.format_map({name: name for name in values}),
        substituted=template.format_map(values),
        weights=tuple(
            WeightSpec(name, tuple(shape), train and trainable, dtype)
            for name, shape, train in weights
        ),
    )


def products(layer, signature, terms, values, grads=None):
    """FLOPs `2 * a * b * ...` summed over `terms`, each a list of names of `values` or ints.

    In a training step (`_gradients.is_training`), `grads` gives each term the
    names of the operands its backward differentiates (see `Flow`): each adds
    one product of the term's size, `(1 + 2) * 2 * a * b` for two.
    """
    training = is_training()
    if training and grads is None and terms:
        raise RuntimeError(f"The FLOPs formula of {type(layer).__name__} gives no gradients")
    passes = [1 + len(g) for g in grads] if training else [1] * len(terms)

    def term(factors, show, times):
        text = " * ".join(["2", *(str(f) if isinstance(f, int) else show(f) for f in factors)])
        return text if times == 1 else f"(1 + {times - 1}) * {text}"

    total = sum(
        times * 2 * math.prod(f if isinstance(f, int) else values[f] for f in factors)
        for factors, times in zip(terms, passes, strict=True)
    )
    pairs = list(zip(terms, passes, strict=True))
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables=dict(values),
        formula=" + ".join(term(t, str, n) for t, n in pairs) or "0",
        substituted=" + ".join(term(t, lambda f: str(values[f]), n) for t, n in pairs) or "0",
        total=total,
        training=training,
    )


def _joined(texts):
    """`a`, or `(a) + (b) + ...`: how a sum of parts reads."""
    if len(texts) == 1:
        return texts[0]
    return " + ".join(f"({text})" for text in texts) or "0"


def summed(layer, signature, parts, kind=None, prefixes=None, variables=None):
    """One explanation for `layer` from those of the layers it runs: of `kind`, or the parts'.

    Weights keep their own trainable flags, each filed under its part's
    prefix (the inner layer's name unless `prefixes` says); FLOPs add up.
    """
    kind = kind or type(parts[0])
    merged = dict(variables or {})
    for part in parts:
        merged.update(part.variables)
    common = {
        "class_name": type(layer).__name__,
        "layer_name": layer.name,
        "signature": signature,
        "variables": merged,
        "formula": _joined([p.formula for p in parts]),
        "substituted": _joined([p.substituted for p in parts]),
    }
    if kind is FlopExplanation:
        total = sum(p.total for p in parts)
        return FlopExplanation(
            **common,
            total=total,
            missing=tuple(m for p in parts for m in p.missing),
            training=is_training(),
        )
    prefixes = prefixes or [p.layer_name for p in parts]
    weights = tuple(
        dataclasses.replace(w, name=f"{prefix}/{w.name}")
        for prefix, part in zip(prefixes, parts, strict=True)
        for w in part.weights
    )
    return ParamExplanation(**common, weights=weights)


def repeated(layer, signature, symbol, times, inner, values=None):
    """`times` runs of `inner`, e.g. a recurrent layer's step over `time` steps."""
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={symbol: times, **(values or {}), **inner.variables},
        formula=f"{symbol} * ({inner.formula})",
        substituted=f"{times} * ({inner.substituted})",
        total=times * inner.total,
        missing=inner.missing,
        training=is_training(),
    )


def recurrence(layer, signature, times, first, rest):
    """A recurrence of `times` steps whose first step, `first`, differs from the others, `rest`."""
    return FlopExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={"time": times, **rest.variables},
        formula=f"({first.formula}) + (time - 1) * ({rest.formula})",
        substituted=f"({first.substituted}) + {times - 1} * ({rest.substituted})",
        total=first.total + (times - 1) * rest.total,
        missing=rest.missing,
        training=is_training(),
    )


def zero_weights(layer, *_):
    """The weights formula of a layer that holds none."""
    name = type(layer).__name__
    return ParamExplanation(name, layer.name, name, {}, "0", "0", ())


def zero_flops(layer, *_):
    """The FLOPs formula of a layer that computes no matrix product: 0 by the convention."""
    name = type(layer).__name__
    return FlopExplanation(name, layer.name, name, {}, "0", "0", 0, training=is_training())


def missing_flops(layer, *_):
    """A layer with no FLOPs formula: counted as missing, never as 0."""
    name = type(layer).__name__
    missing = (f"'{layer.name}' ({name})",)
    return FlopExplanation(name, layer.name, name, {}, "?", "?", 0, missing, is_training())
