"""A model source, read: a `keras.Model`, a model config or a `.keras` path, as one config.

The calculator and the checks read models through here.
"""

import os

import keras

from keras_tdplus._config.reader import read_model_file
from keras_tdplus._kinds import MODEL_CLASSES, is_functional

__all__ = ["is_model_source", "read_model_config"]


def is_model_source(config):
    """True for a model's config, outer (with its `class_name`) or inner (with its `layers`)."""
    return (
        config.get("class_name") in MODEL_CLASSES
        or "input_layers" in config
        or ("layers" in config and "class_name" not in config)
    )


def read_model_config(source):
    """`(class_name, config)` of a model, a model config or a `.keras` path."""
    if isinstance(source, (str, os.PathLike)):
        source = read_model_file(source)
    elif isinstance(source, keras.Model):
        if type(source) is not keras.Sequential and not is_functional(source):
            raise ValueError(
                f"param_table() reads Sequential and Functional models; model "
                f"'{source.name}' is a subclassed model ({type(source).__name__}), whose "
                "layers' inputs are not in its config. Fix: count its layers with "
                "explain_params(layer, input_shape)"
            )
        source = keras.saving.serialize_keras_object(source)
    if not isinstance(source, dict):
        raise TypeError(
            "Received an invalid value for `source`, expected a keras.Model, a model config "
            f"dict or a path to a .keras file. Received: source={source!r} of type "
            f"{type(source).__name__}"
        )
    class_name = source.get("class_name")
    if class_name is None:
        if "input_layers" in source:
            return "Functional", source
        if "layers" in source:
            return "Sequential", source
    elif class_name in MODEL_CLASSES and isinstance(source.get("config"), dict):
        config = dict(source["config"])
        build_shape = _saved_build_shape(source)
        if class_name == "Sequential" and build_shape and not config.get("build_input_shape"):
            config["build_input_shape"] = build_shape
        if "input_layers" in config:
            return "Functional", config
        if class_name == "Sequential" and "layers" in config:
            return "Sequential", config
    raise ValueError(
        "Received an invalid value for `source`, expected a Sequential or Functional model "
        f"config. Received a config of class {class_name!r} with keys {sorted(source)}"
    )


def _saved_build_shape(saved):
    """The input shape a saved model's `build_config` holds, or None.

    As Keras, which builds a loaded model from its layers and ignores a
    `build_config` it does not need, one that is not a dict counts as absent.
    """
    build_config = saved.get("build_config")
    return build_config.get("input_shape") if isinstance(build_config, dict) else None
