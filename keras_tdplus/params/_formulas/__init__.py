"""The parameter formulas, one module per layer family, filed by Keras class name.

Each family module decorates its formulas with `@register("ClassName", ...)`
(see `_base.py` for the signature); importing it here files them. Adding a
family is adding a module and its name to the import below.
"""

from keras_tdplus.params._formulas import (  # noqa: F401  (importing a family registers its formulas)
    applications,
    attention,
    conv,
    core,
    normalization,
    preprocessing,
    recurrent,
    weightless,
    wrappers,
)
from keras_tdplus.params._formulas.base import FORMULAS

__all__ = ["NO_FORMULA", "covered_classes", "formula_for"]

# Keras layer classes whose weights come from code, not from their config:
# no formula can count them; `allow_build=True` counts them by building a copy.
NO_FORMULA = {
    "Layer": "the base class: its weights are whatever a subclass's build() makes",
    "Wrapper": "the base class of wrappers: its weights are whatever a subclass's build() makes",
    "Lambda": "it runs a Python function, whose weights are not in its config",
    "FlaxLayer": "it wraps a Flax module, whose parameters are not in its config",
    "JaxLayer": "it wraps JAX functions, whose parameters are not in its config",
    "TorchModuleWrapper": "it wraps a torch module, whose parameters are not in its config",
    "TFSMLayer": "it loads a TensorFlow SavedModel, whose variables are not in its config",
}


def formula_for(class_name):
    """The formula registered for `class_name`, or None."""
    return FORMULAS.get(class_name)


def covered_classes():
    """The class names that have a formula."""
    return tuple(FORMULAS)
