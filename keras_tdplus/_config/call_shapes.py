"""One layer call on shapes alone: the shapes it takes, and a throwaway build.

Most layers take one input, or one list of inputs (`Concatenate`). Attention
layers take query, value and key as arguments of their own, and Keras'
`compute_output_shape` takes their shapes apart, as `query_shape`,
`value_shape` and `key_shape`. A saved Functional config keeps each call's
arguments as they were given, by position or by keyword; this module binds
them to those parameters so the calculator and the lint see every input.

`throwaway_call` calls a layer on symbolic inputs to learn its weights or its
output shape, with no weight ever given a value.
"""

import inspect
import threading

import keras

__all__ = [
    "is_shape_list",
    "argument_shapes",
    "call_options",
    "output_shapes",
    "symbolic_arguments",
    "throwaway_call",
]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def is_shape_list(shape):
    """True for the shapes of several inputs: a list; one input's shape is a tuple."""
    return isinstance(shape, list)


def shape_parameters(layer):
    """The call arguments whose shapes `layer.compute_output_shape` takes apart, in order.

    Empty for a layer that takes one shape, or one list of shapes, or whose
    other shape parameters are optional (a recurrent layer's `initial_state`).
    """
    try:
        parameters = inspect.signature(layer.compute_output_shape).parameters.values()
    except (TypeError, ValueError):
        return []
    names, required = [], 0
    for parameter in parameters:
        if parameter.kind not in _POSITIONAL or not parameter.name.endswith("_shape"):
            break
        names.append(parameter.name[: -len("_shape")])
        required += parameter.default is inspect.Parameter.empty
    return names if required > 1 else []


def argument_shapes(layer, arguments):
    """The shapes of a call's tensor arguments, in `compute_output_shape`'s order.

    Args:
        layer: The layer called.
        arguments: `{position or keyword: shape}` for each argument of the call
            that holds a tensor; positions are named after `layer.call`'s parameters.

    Returns:
        The list of shapes, or None when the layer takes a single shape, so that
        the call's first argument is its whole input.
    """
    wanted = shape_parameters(layer)
    if not wanted:
        return None
    try:
        names = list(inspect.signature(layer.call).parameters)
    except (TypeError, ValueError):
        return None
    by_name = {
        (names[key] if isinstance(key, int) and key < len(names) else key): value
        for key, value in arguments.items()
    }
    shapes = []
    for name in wanted:
        if name not in by_name:
            break
        shapes.append(by_name[name])
    return shapes if len(shapes) > 1 else None


def spread(layer, shape):
    """True when `shape` is a list `layer` takes as separate arguments (query, value, key)."""
    return is_shape_list(shape) and bool(shape_parameters(layer))


def symbolic_arguments(layer, shape):
    """The positional arguments of a symbolic call of `layer` on `shape`.

    One KerasTensor (or one list of them), or one per argument when `layer`
    takes the shapes apart (`spread`).
    """
    tensors = keras.tree.map_shape_structure(keras.KerasTensor, shape)
    return tensors if spread(layer, shape) else [tensors]


def call_options(entry, node_index):
    """The plain keyword arguments of call `node_index` of the layer in `entry`.

    Those that change what a call returns, e.g. `return_attention_scores=True`:
    only booleans, integers, strings and None; tensors, lists and dicts are left out.
    """
    nodes = entry.get("inbound_nodes")
    node = nodes[node_index] if isinstance(nodes, list) and node_index < len(nodes) else None
    kwargs = node.get("kwargs") if isinstance(node, dict) else None
    if not isinstance(kwargs, dict):
        return {}
    return {
        key: value
        for key, value in kwargs.items()
        if isinstance(key, str) and (value is None or isinstance(value, (bool, int, str)))
    }


def output_shapes(layer, shape, options=None):
    """Keras' output shape of a call of `layer` on `shape`, from the layer's own methods.

    Builds nothing. Raises NotImplementedError when the layer does not report its
    output shape (a user's layer without `compute_output_shape`): only a call can tell.
    """
    spec = _output_spec_with_options(layer, shape, options)
    if spec is not None:
        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)
    if spread(layer, shape):
        return layer.compute_output_shape(*shape)
    return layer.compute_output_shape(shape)


def _output_spec_with_options(layer, shape, options):
    """`layer`'s symbolic output for a call with `options`, or None where they change nothing.

    Only a layer whose own `compute_output_spec` takes one of the options is asked
    (MultiHeadAttention's `return_attention_scores` adds the scores to its outputs);
    it builds nothing.
    """
    if not options or type(layer).compute_output_spec is keras.layers.Layer.compute_output_spec:
        return None
    try:
        parameters = inspect.signature(layer.compute_output_spec).parameters
    except (TypeError, ValueError):
        return None
    used = {key: value for key, value in options.items() if key in parameters}
    if not used:
        return None
    return layer.compute_output_spec(*symbolic_arguments(layer, shape), **used)


def throwaway_call(layer, shape):
    """Calls `layer` on symbolic inputs of `shape`; its weights are never allocated.

    The layer builds in a `keras.StatelessScope(initialize_variables=False)`: its
    variables get a shape and no value, which could take gigabytes. Keras keeps
    such variables on a list and gives them their values when the next outermost
    stateless scope closes, so a user's later training step would allocate the
    weights of a copy thrown away long before. That list is per thread: the call
    runs in a thread of its own, and the list goes with the thread.
    """
    args = symbolic_arguments(layer, shape)
    outcome = {}

    def call():
        try:
            with keras.StatelessScope(initialize_variables=False):
                outcome["output"] = layer(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=call, name="keras_tdplus-throwaway-call", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["output"]
