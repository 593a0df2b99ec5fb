"""The FLOPs formulas, one module per layer family, filed by Keras class name.

Each family module decorates its formulas with `@register("ClassName", ...)`
(see `base.py`); importing it here files them, beside the parameter formulas
of the same classes in `keras_tdplus.params._formulas`.
"""

from keras_tdplus.params._flops import (  # noqa: F401  (importing a family registers its formulas)
    attention,
    conv,
    core,
    no_products,
    recurrent,
    wrappers,
)
from keras_tdplus.params._flops.base import FLOPS

__all__ = ["flops_formula_for"]


def flops_formula_for(class_name):
    """The FLOPs formula registered for `class_name`, or None."""
    return FLOPS.get(class_name)
