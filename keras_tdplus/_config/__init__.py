"""Model configs from files or users: the one reader, rebuilder and walker.

`reader` reads a `.keras` archive's config within limits; `rebuild` turns a layer
config into a layer in Keras' safe mode; `walk` visits a Sequential or Functional
config's layers in call order; `call_shapes` runs one layer call on shapes alone.
"""

__all__ = []
