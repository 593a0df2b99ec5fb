"""The parameter formulas, one module per layer family, filed by Keras class name.

Each family module decorates its formulas with `@register("ClassName", ...)`
(see `_base.py` for the signature); importing it here files them. Adding a
family is adding a module and its name to the import below.
"""

from keras_tdplus._formulas import (  # noqa: F401  (importing a family registers its formulas)
    conv,
    core,
    normalization,
    recurrent,
    weightless,
    wrappers,
)
from keras_tdplus._formulas._base import FORMULAS


def formula_for(class_name):
    """The formula registered for `class_name`, or None."""
    return FORMULAS.get(class_name)


def covered_classes():
    """The class names that have a formula."""
    return tuple(FORMULAS)
