"""What the calculator knows of each layer class, in one registry keyed by the class itself.

An `Entry` holds a class's weights formula, its FLOPs formula and, where
Keras cannot say it cheaply, its output shape. The family modules in
`keras_tdplus.params._families` fill it with the decorators below, each
class registered once for each; `register_param_formula` and
`register_flops_formula` write users' formulas into the same entries.

A weights formula is `formula(layer, shape, count)`, returning the
`ParamExplanation` of an unbuilt `layer` on the batch `shape` (a tuple, or a
list of tuples for several inputs); a FLOPs formula is `formula(layer, shape,
output, count)`, returning the `FlopExplanation` of one forward pass whose
output has the shape `output`. `count(inner, shape)` counts a layer nested in
it, with the caller's options; only wrappers need it.
"""

import dataclasses

__all__ = [
    "REGISTRY",
    "ApplicationClass",
    "Entry",
    "entry_for",
    "flops_formula",
    "is_user",
    "no_weights_formula",
    "output_shape_rule",
    "register_user",
    "registered",
    "weights_formula",
]


@dataclasses.dataclass
class Entry:
    """Everything the calculator knows of one layer class.

    Attributes:
        weights: Its weights formula, or None.
        flops: Its FLOPs formula, or None.
        output_shape: `rule(layer, shape)`, its output shape where Keras
            needs help (no `compute_output_shape`, or one that traces), or None.
        why_no_weights: Why no weights formula can count it (its weights
            come from code, not from its config), or None.
    """

    weights: object = None
    flops: object = None
    output_shape: object = None
    why_no_weights: str = None


@dataclasses.dataclass(frozen=True)
class ApplicationClass:
    """A layer class a `keras.applications` module defines and `keras.layers` does not export.

    Its key in the registry: the class by its name and the applications module that defines it.
    """

    module: str
    name: str

    @classmethod
    def of(cls, layer_class):
        """The key of `layer_class` if Keras' applications define it, else None."""
        module = layer_class.__module__
        if not module.startswith("keras") or ".applications." not in module:
            return None
        return cls(module.rsplit(".", 1)[-1], layer_class.__name__)

    @property
    def __name__(self):
        return self.name


# {layer class (or ApplicationClass): Entry}
REGISTRY = {}


def entry_for(layer_class):
    """The `Entry` of exactly `layer_class` (not of a parent), or None."""
    entry = REGISTRY.get(layer_class)
    if entry is None:
        key = ApplicationClass.of(layer_class)
        entry = None if key is None else REGISTRY.get(key)
    return entry


def _filer(slot, what):
    def register(*classes):
        """Files the decorated function as the `{what}` of `classes`, once per class.

        A None among `classes` is a class this Keras does not have: skipped.
        """

        def decorate(function):
            for layer_class in classes:
                if layer_class is None:
                    continue
                entry = REGISTRY.setdefault(layer_class, Entry())
                if getattr(entry, slot) is not None:
                    raise RuntimeError(f"Two {what}s for layer class {layer_class.__name__!r}")
                setattr(entry, slot, function)
            return function

        return decorate

    register.__doc__ = register.__doc__.format(what=what)
    return register


weights_formula = _filer("weights", "weights formula")
flops_formula = _filer("flops", "FLOPs formula")
output_shape_rule = _filer("output_shape", "output shape rule")


def no_weights_formula(why, *classes):
    """Files `classes` as layers no formula can count, because `why`."""
    for layer_class in classes:
        REGISTRY.setdefault(layer_class, Entry()).why_no_weights = why


def register_user(layer_class, slot, formula):
    """Files a user's `formula` in `slot` of `layer_class`, over any earlier one."""
    formula.user = True
    setattr(REGISTRY.setdefault(layer_class, Entry()), slot, formula)


def is_user(formula):
    """True for a formula a user registered."""
    return getattr(formula, "user", False)


def registered(slot):
    """The classes the package files a formula in `slot` for ("weights", "flops")."""
    return tuple(
        layer_class
        for layer_class, entry in REGISTRY.items()
        if getattr(entry, slot) is not None and not is_user(getattr(entry, slot))
    )
