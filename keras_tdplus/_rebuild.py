"""Layers rebuilt from configs read from files or given by users."""

import warnings

from keras import layers


def _strip_build_configs(config):
    """A copy of `config` without `build_config`s, so deserializing builds nothing."""
    if isinstance(config, dict):
        return {k: _strip_build_configs(v) for k, v in config.items() if k != "build_config"}
    if isinstance(config, list):
        return [_strip_build_configs(v) for v in config]
    return config


def _deserialize_layer(config):
    if "class_name" not in config or "config" not in config:
        raise ValueError(
            "Received an invalid value for `layer`, expected a serialized layer config with "
            f"'class_name' and 'config' keys. Received: layer={config!r}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = _strip_build_configs(config)
            cls = getattr(layers, config["class_name"], None) if "module" not in config else None
            if isinstance(cls, type) and issubclass(cls, layers.Layer):
                layer = cls.from_config(config["config"])
            else:
                layer = layers.deserialize(config)
    except Exception as error:
        raise ValueError(
            f"Could not rebuild layer class '{config['class_name']}' from its config: "
            f"{error}. Fix: import the module that registers it with "
            "keras.saving.register_keras_serializable"
        ) from None
    if not isinstance(layer, layers.Layer):
        raise ValueError(
            f"The config of class '{config['class_name']}' does not describe a layer. "
            f"Received: {type(layer).__name__}"
        )
    return layer
