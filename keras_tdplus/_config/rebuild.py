"""Layers rebuilt from configs read from files or given by users, safely.

A config is hostile until screened (`_model_file.screen`). `rebuild_layer`
screens one layer's config, then deserializes it in Keras' safe mode without
its `build_config`, so no code runs, no other file is opened and no weights
are created.
"""

import warnings

import keras
from keras import layers

# Registers our layers and the wrapper's mask op with Keras, so that a file saved with them
# rebuilds whichever command reads it (the command line imports no more than it needs).
import keras_tdplus.layers  # noqa: F401
from keras_tdplus._config.reader import screen
from keras_tdplus._messages import short_repr

__all__ = ["NotRebuilt", "UnknownClass", "rebuild_layer"]


class NotRebuilt(ValueError):
    """A layer config Keras could not (or would not) turn into a layer.

    Attributes:
        class_name: The config's class.
        reason: Why, in one line.
        refused: True when it was refused for safety, not for a missing class.
    """

    def __init__(self, message, class_name, reason, refused=False):
        super().__init__(message)
        self.class_name = class_name
        self.reason = reason
        self.refused = refused


class UnknownClass(NotRebuilt):
    """A layer class Keras does not know: not built in, and not registered by any import."""


def rebuild_layer(config):
    """The unbuilt layer a serialized layer config describes.

    Raises:
        UnsafeConfig: The config would run code or open a file.
        NotRebuilt: Keras cannot rebuild it (unknown class, invalid
            arguments) or refuses to in safe mode.
    """
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(class_name, str) or not isinstance(config.get("config"), dict):
        raise ValueError(
            "Received an invalid value for `layer`, expected a serialized layer config with "
            f"'class_name' and 'config' keys. Received: layer={short_repr(config, 200)}"
        )
    screen(config)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A copy: deserializing pops keys from the config it is given.
            config = _strip_build_configs(config)
            cls = getattr(layers, class_name, None) if "module" not in config else None
            if isinstance(cls, type) and issubclass(cls, layers.Layer):
                layer = cls.from_config(config["config"])
            else:
                layer = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (RecursionError, MemoryError) as error:
        reason = f"its config is too large to rebuild ({type(error).__name__})"
        raise NotRebuilt(_not_rebuilt(class_name, reason), class_name, reason, True) from None
    except Exception as error:
        raise _explain_failure(class_name, error) from None
    if not isinstance(layer, layers.Layer):
        raise NotRebuilt(
            f"The config of class '{class_name}' does not describe a layer. "
            f"Received: {type(layer).__name__}",
            class_name,
            "it does not describe a layer",
        )
    return layer


def _explain_failure(class_name, error):
    text = " ".join(str(error).split())
    if "safe_mode" in text or "safe mode" in text:
        reason = f"Keras' safe mode refused it: {_first_sentence(text)}"
        return NotRebuilt(_not_rebuilt(class_name, reason), class_name, reason, True)
    if isinstance(error, TypeError) and "Could not locate" in text:
        reason = f"Keras does not know the class: {_first_sentence(text)}"
        message = (
            f"{_not_rebuilt(class_name, reason)}. Fix: import the module that registers it "
            "with keras.saving.register_keras_serializable"
        )
        return UnknownClass(message, class_name, reason)
    reason = f"{type(error).__name__}: {short_repr(text, 300)}"
    return NotRebuilt(_not_rebuilt(class_name, reason), class_name, reason)


def _not_rebuilt(class_name, reason):
    return f"Could not rebuild layer class '{class_name}' from its config: {reason}"


def _first_sentence(text):
    end = text.find(". ")
    return short_repr(text if end < 0 else text[: end + 1], 300)


def _strip_build_configs(config):
    """A copy of `config` without `build_config`s, so deserializing builds nothing."""
    if isinstance(config, dict):
        return {k: _strip_build_configs(v) for k, v in config.items() if k != "build_config"}
    if isinstance(config, list):
        return [_strip_build_configs(v) for v in config]
    return config
