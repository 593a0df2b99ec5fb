"""The one walk over a Sequential or Functional model config.

The parameter calculator and the model lint both follow a saved model the way
its data flows: every layer call in order, with the values that reach it (a
shape for the calculator, a shape and where it came from for the lint). The
walk knows the layout of the config; a visitor says what a value is and what
a layer call makes of it. A model nested in the config is a layer call like
any other: the visitor walks it with `walk` again if it wants to. A `keras.ops`
call stored in a Functional config reaches the visitor as an `OpNode` layer.
"""

from keras_tdplus._config.op_node import op_node_entry
from keras_tdplus._messages import short_repr

__all__ = [
    "Visitor",
    "entry_name",
    "layer_entries",
    "tensor_refs_of_spec",
    "walk",
    "walk_functional",
    "walk_sequential",
]


class Visitor:
    """What a walk does at each step; the calculator and the lint subclass it."""

    def input_layer(self, entry):
        """The value an `InputLayer` entry produces."""
        raise NotImplementedError

    def call(self, entry, inputs, multi, node_index, arguments=None):
        """The output values of one call of the layer in `entry`.

        Args:
            entry: The layer's serialized config (`class_name`, `config`, ...).
            inputs: The input values of the call's first argument, in order.
            multi: True when the layer is called on a list of inputs.
            node_index: Which call of the layer this is (0 for the first).
            arguments: None when only one argument of the call holds tensors;
                else `{position or keyword: value}` for each argument that does
                (a list of values for a list of tensors), e.g.
                `{0: query, "value": value}` for `mha(query, value=value)`.
        """
        raise NotImplementedError

    def no_input(self, entry):
        """A Sequential layer with nothing before it: raise, or return the value to use."""
        return None

    def not_called(self, entry):
        """A Functional layer that is never called."""

    def no_node_inputs(self, entry, node):
        """A call of a Functional layer whose inputs name no tensor; it is skipped."""

    def missing(self, entry, ref):
        """The value of a tensor `ref` = `(layer, node, index)` that no call produced."""
        return None


def entry_name(entry):
    """The name of a layer entry, wherever the config keeps it."""
    config = entry.get("config")
    name = entry.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return name if isinstance(name, str) else "?"


def walk(config, visitor, inputs=()):
    """The output values of the model `config` (the inner config, with `layers`)."""
    if "input_layers" in config:
        return walk_functional(config, visitor, inputs)
    return walk_sequential(config, visitor, inputs)


def walk_sequential(config, visitor, inputs=()):
    x = inputs[0] if inputs else None
    for entry in layer_entries(config):
        if entry.get("class_name") == "InputLayer":
            if x is None:
                x = visitor.input_layer(entry)
            continue
        if x is None:
            x = visitor.no_input(entry)
        outputs = visitor.call(entry, [] if x is None else [x], False, 0)
        x = outputs[0] if outputs else None
    return [x]


def walk_functional(config, visitor, inputs=()):
    values = {}
    for index, ref in enumerate(tensor_refs_of_spec(config.get("input_layers"))):
        if index < len(inputs):
            values[ref] = inputs[index]
    for entry in layer_entries(config):
        entry = op_node_entry(entry)
        name = entry_name(entry)
        if entry.get("class_name") == "InputLayer":
            if (name, 0, 0) not in values:
                values[(name, 0, 0)] = visitor.input_layer(entry)
            continue
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(
                f"Layer '{name}' has `inbound_nodes` of type {type(nodes).__name__}, "
                "expected a list"
            )
        if not nodes:
            visitor.not_called(entry)
        for node_index, node in enumerate(nodes):
            args = node.get("args") if isinstance(node, dict) else None
            first = args[0] if isinstance(args, (list, tuple)) and args else None
            refs = keras_tensor_refs(first)
            if not refs and isinstance(node, dict):
                refs = keras_tensor_refs(node.get("kwargs"))
            if not refs:
                visitor.no_node_inputs(entry, node)
                continue
            ins = [values[ref] if ref in values else visitor.missing(entry, ref) for ref in refs]
            resolved = dict(zip(refs, ins, strict=True))

            def value_of(ref, entry=entry, resolved=resolved):
                if ref in resolved:
                    return resolved[ref]
                return values[ref] if ref in values else visitor.missing(entry, ref)

            arguments = _argument_values(node, value_of)
            outputs = visitor.call(
                entry,
                ins,
                isinstance(first, (list, tuple)),
                node_index,
                arguments if len(arguments) > 1 else None,
            )
            for tensor_index, output in enumerate(outputs):
                values[(name, node_index, tensor_index)] = output
    return [
        values[ref] if ref in values else visitor.missing(None, ref)
        for ref in tensor_refs_of_spec(config.get("output_layers"))
    ]


def _argument_values(node, value_of):
    """`{position or keyword: value}` for each argument of a call node that holds tensors.

    An argument holding several tensors (a list) gets the list of their values.
    """
    args, kwargs = node.get("args"), node.get("kwargs")
    items = list(enumerate(args)) if isinstance(args, (list, tuple)) else []
    if isinstance(kwargs, dict):
        items += [(key, value) for key, value in kwargs.items() if isinstance(key, str)]
    found = {}
    for key, value in items:
        refs = keras_tensor_refs(value)
        if not refs:
            continue
        got = [value_of(ref) for ref in refs]
        found[key] = got if isinstance(value, (list, tuple)) or len(got) > 1 else got[0]
    return found


def layer_entries(config):
    """The layer entries of a model config, each checked to be a layer config."""
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ValueError(
            f"The model config's `layers` is a {type(entries).__name__}, expected a list of "
            "layer configs"
        )
    for index, entry in enumerate(entries):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("class_name"), str)
            and isinstance(entry.get("config"), dict)
        ):
            raise ValueError(
                f"Entry {index} of the model config's `layers` is not a layer config, expected "
                f"a dict with 'class_name' and 'config'. Received: {short_repr(entry, 80)}"
            )
    return entries


def tensor_refs_of_spec(spec):
    """`[(layer, node, tensor)]` from a config's `input_layers` or `output_layers`."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        spec = list(spec.values())
    if not isinstance(spec, (list, tuple)):
        raise ValueError(f"A model's input or output list holds {short_repr(spec, 80)}")
    if len(spec) == 3 and isinstance(spec[0], str) and isinstance(spec[1], int):
        return [_ref(spec)]
    return [ref for item in spec for ref in tensor_refs_of_spec(item)]


def keras_tensor_refs(value):
    """The `keras_history` of every serialized KerasTensor in `value`, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            config = value.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            return [_ref(history)] if history else []
        return [ref for item in value.values() for ref in keras_tensor_refs(item)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in keras_tensor_refs(item)]
    return []


def _ref(history):
    """`(layer, node, tensor)` from a `keras_history`, checked."""
    if (
        isinstance(history, (list, tuple))
        and len(history) == 3
        and isinstance(history[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in history[1:])
    ):
        return tuple(history)
    raise ValueError(
        "A tensor's `keras_history` is not [layer name, node index, tensor index]. "
        f"Received: {short_repr(history, 80)}"
    )
