"""Everything the calculator knows of Keras' layer classes, one module per family.

Each family module registers its classes in `keras_tdplus.params._registry`:
their weights formula, their FLOPs formula and, where Keras needs help, their
output shape, each keyed by the class. Importing this package imports them
all; supporting a new class is an entry in the module of its family.
"""

from keras_tdplus.params._families import (  # noqa: F401  (importing a family registers it)
    applications,
    attention,
    augmentation,
    code,
    conv,
    core,
    normalization,
    preprocessing,
    recurrent,
    weightless,
    wrappers,
)

__all__ = []
