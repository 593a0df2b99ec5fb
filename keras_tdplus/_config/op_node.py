"""Keras ops stored in a Functional config, read as parameter-free `OpNode` layers.

Keras saves a `keras.ops` call of a Functional model (the `NotEqual` of
`Embedding(mask_zero=True)`, an `ops.add`, `x[:, -1]`), and our wrapper's mask
op, as an operation with its call arguments in its node. `op_node_entry`
rewrites such an entry as an `OpNode` layer entry, so the walk, the calculator
and the lint follow its shapes like any layer's.
"""

import copy

import keras
from keras import layers

__all__ = ["OpNode", "op_node_entry"]


# Operations of ours that a Functional model records beside its layers: the output mask of
# a `keras_tdplus.TimeDistributed` whose inner layer computes one (`Embedding(mask_zero=True)`),
# which a converted model holds wherever a later layer takes that mask.
OUR_OPS = ("keras_tdplus>_MaskOf",)


def _is_op_entry(entry):
    """True for an operation stored in a Functional config as a node: a `keras.ops` call or ours."""
    module = entry.get("module")
    return entry.get("registered_name") in OUR_OPS or (
        isinstance(module, str)
        and (module.startswith("keras.src.ops.") or module.startswith("keras.ops"))
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
