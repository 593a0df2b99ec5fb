"""Layers rebuilt from configs read from files or given by users, safely.

A config is hostile until screened (`_model_file.screen`). `rebuild_layer`
screens one layer's config, then deserializes it in Keras' safe mode without
its `build_config`, so no code runs, no other file is opened and no weights
are created.
"""

import copy
import warnings

import keras
from keras import layers

from keras_tdplus._model_file import screen


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
            f"'class_name' and 'config' keys. Received: layer={_short(config, 200)}"
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
        return NotRebuilt(message, class_name, reason)
    reason = f"{type(error).__name__}: {_short(text, 300)}"
    return NotRebuilt(_not_rebuilt(class_name, reason), class_name, reason)


def _not_rebuilt(class_name, reason):
    return f"Could not rebuild layer class '{class_name}' from its config: {reason}"


def _first_sentence(text):
    end = text.find(". ")
    return _short(text if end < 0 else text[: end + 1], 300)


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strip_build_configs(config):
    """A copy of `config` without `build_config`s, so deserializing builds nothing."""
    if isinstance(config, dict):
        return {k: _strip_build_configs(v) for k, v in config.items() if k != "build_config"}
    if isinstance(config, list):
        return [_strip_build_configs(v) for v in config]
    return config


def _is_op_entry(entry):
    """True for a `keras.ops` call that Keras stored in a Functional config as a node."""
    module = entry.get("module")
    return isinstance(module, str) and (
        module.startswith("keras.src.ops.") or module.startswith("keras.ops")
    )


def _mark_inputs(value, count):
    """`value` with each serialized KerasTensor replaced by `{"__input__": index}`."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            count[0] += 1
            return {"__input__": count[0] - 1}, [value]
        marked, tensors = {}, []
        for key, item in value.items():
            marked[key], found = _mark_inputs(item, count)
            tensors += found
        return marked, tensors
    if isinstance(value, (list, tuple)):
        marked, tensors = [], []
        for item in value:
            item, found = _mark_inputs(item, count)
            marked.append(item)
            tensors += found
        return marked, tensors
    return value, []


def op_node_entry(entry):
    """An op entry as an `OpNode` layer entry called on every tensor it reads.

    Keras stores a `keras.ops` call of a Functional model (the `NotEqual` of
    `Embedding(mask_zero=True)`, an `ops.add`) as an operation with its call
    arguments in its node. The walk sees it as a parameter-free `OpNode`
    layer, so the calculator and the lint follow its shapes like any layer's.
    Other entries are returned as they are.
    """
    if not _is_op_entry(entry):
        return entry
    op = {k: v for k, v in entry.items() if k not in ("inbound_nodes", "name")}
    nodes, call = [], None
    for node in entry.get("inbound_nodes") or []:
        if not isinstance(node, dict):
            nodes.append(node)
            continue
        marked, tensors = _mark_inputs([node.get("args", []), node.get("kwargs", {})], [0])
        call = marked if call is None else call
        nodes.append({"args": [tensors], "kwargs": {}})
    name = entry.get("name") or entry.get("config", {}).get("name")
    config = {"name": name, "op": op, "call": call}
    return {
        "module": None,
        "class_name": "OpNode",
        "registered_name": "keras_tdplus>OpNode",
        "name": name,
        "config": config,
        "inbound_nodes": nodes,
    }


# The plain values Keras stores in a node's arguments under a class name of their own
# (a slice, `...`, a constant array, bytes); Keras' safe mode turns each back into its value.
_KERAS_VALUES = ("__slice__", "__ellipsis__", "__numpy__", "__tensor__", "__bytes__")


@keras.saving.register_keras_serializable(package="keras_tdplus")
class OpNode(layers.Layer):
    """A `keras.ops` call of a Functional config, as a layer without weights.

    Args:
        op: The serialized operation (`{"module": "keras.src.ops...", ...}`).
        call: `[args, kwargs]` of the call, each input tensor as `{"__input__": i}`.
    """

    def __init__(self, op, call, **kwargs):
        super().__init__(**kwargs)
        self.op_config = op
        self.call_template = call
        self.op_name = op.get("class_name", "?") if isinstance(op, dict) else "?"
        self.op = keras.saving.deserialize_keras_object(copy.deepcopy(op))
        self.built = True

    def call(self, inputs):
        args, kwargs = self._arguments(inputs)
        return self.op(*args, **kwargs)

    def compute_output_spec(self, inputs):
        args, kwargs = self._arguments(inputs)
        return self.op.compute_output_spec(*args, **kwargs)

    def _arguments(self, inputs):
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]

        def fill(value):
            if isinstance(value, dict):
                if set(value) == {"__input__"}:
                    return inputs[value["__input__"]]
                if value.get("class_name") in _KERAS_VALUES:
                    # `x[:, -1]` keeps its key as `[{"class_name": "__slice__", ...}, -1]`.
                    return keras.saving.deserialize_keras_object(value, safe_mode=True)
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        args, kwargs = fill(self.call_template or [[], {}])
        return args, kwargs

    def get_config(self):
        return {**super().get_config(), "op": self.op_config, "call": self.call_template}
