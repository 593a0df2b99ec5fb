"""Keras layer classes whose weights come from code, not from their config.

No formula can count them; `allow_build=True` counts them by building a copy.
"""

from keras import layers

from keras_tdplus.params._registry import no_weights_formula

__all__ = []

no_weights_formula(
    "the base class: its weights are whatever a subclass's build() makes", layers.Layer
)
no_weights_formula(
    "the base class of wrappers: its weights are whatever a subclass's build() makes",
    layers.Wrapper,
)
no_weights_formula("it runs a Python function, whose weights are not in its config", layers.Lambda)
no_weights_formula(
    "it wraps a Flax module, whose parameters are not in its config", layers.FlaxLayer
)
no_weights_formula(
    "it wraps JAX functions, whose parameters are not in its config", layers.JaxLayer
)
no_weights_formula(
    "it wraps a torch module, whose parameters are not in its config", layers.TorchModuleWrapper
)
no_weights_formula(
    "it loads a TensorFlow SavedModel, whose variables are not in its config", layers.TFSMLayer
)
