"""The parameter calculator: a layer or a model config counted from its formulas."""

import dataclasses
import math
import numbers
import os

import keras
from keras import layers

from keras_tdplus._config.call_shapes import (
    argument_shapes,
    call_options,
    output_shapes,
    symbolic_arguments,
    throwaway_call,
)
from keras_tdplus._config.op_node import OpNode
from keras_tdplus._config.reader import read_model_file
from keras_tdplus._config.rebuild import rebuild_layer
from keras_tdplus._config.walk import (
    Visitor,
    entry_name,
    layer_entries,
    tensor_refs_of_spec,
    walk_functional,
    walk_sequential,
)
from keras_tdplus._kinds import (
    MODEL_CLASSES,
    RECURRENT_CLASSES,
    is_functional,
    return_sequences_call,
)
from keras_tdplus._messages import message
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.layers._time_distributed import TimeDistributed as _TdplusTimeDistributed
from keras_tdplus.layers._time_distributed_dense import (
    TimeDistributedDense as _TimeDistributedDense,
)
from keras_tdplus.params._flops import flops_formula_for
from keras_tdplus.params._flops.base import no_formula, no_products
from keras_tdplus.params._formulas import NO_FORMULA, covered_classes, formula_for
from keras_tdplus.params._formulas.applications import KERAS_APPLICATION_LAYERS
from keras_tdplus.params._formulas.applications import OUTPUT_SHAPES as APPLICATION_OUTPUT_SHAPES
from keras_tdplus.params._formulas.base import RankError, zero
from keras_tdplus.params._formulas.core import einsum_spec
from keras_tdplus.params._formulas.user import (
    USER_FLOPS,
    USER_FORMULAS,
    explain_user,
    explain_user_flops,
)
from keras_tdplus.params._results import (
    FlopExplanation,
    ParamExplanation,
    ParamRow,
    ParamTable,
    WeightSpec,
    format_output_shape,
)

__all__ = [
    "covered_layers",
    "declared_inputs",
    "explain",
    "explain_flops_of",
    "has_param_formula",
    "is_model_source",
    "layer_view",
    "merged_inputs",
    "model_table",
    "normalize_shape",
    "read_model_config",
    "table_explanation",
    "table_flops",
]


def explain(layer, shape, allow_build):
    if type(layer) is keras.Sequential or is_functional(layer):
        return table_explanation(
            model_table(read_model_config(layer), shape, allow_build), view=False
        )
    user_formula = USER_FORMULAS.get(type(layer))
    if user_formula is not None:
        return _same_as_built(layer, shape, explain_user(layer, shape, user_formula))
    class_name = type(layer).__name__
    handler = formula_for(class_name)
    if handler is not None and not _is_exact(layer, class_name):
        handler = None
    if handler is None:
        if allow_build:
            return _explain_by_building(layer, shape)
        why = NO_FORMULA.get(class_name) if _is_exact(layer, class_name) else None
        raise ValueError(
            f"Layer '{layer.name}' ({class_name}) has no parameter formula in keras_tdplus"
            + (f": {why}" if why else "")
            + ". Fix: pass allow_build=True to count it by building a throwaway copy"
            + ("" if why else ", or register one with keras_tdplus.register_param_formula")
        )
    unsupported = _unsupported_option(layer)
    if unsupported is not None:
        if allow_build:
            return _explain_by_building(layer, shape)
        raise ValueError(
            f"Layer '{layer.name}' ({class_name}) uses {unsupported}, which has no parameter "
            "formula in keras_tdplus. Fix: pass allow_build=True to count it by building a "
            "throwaway copy"
        )
    explanation = handler(layer, shape, lambda inner, step: explain(inner, step, allow_build))
    return _same_as_built(layer, shape, explanation)


def has_param_formula(layer):
    """True when `explain` counts `layer` from a formula (its own class's, or a user's)."""
    if type(layer) in USER_FORMULAS:
        return True
    class_name = type(layer).__name__
    return formula_for(class_name) is not None and _is_exact(layer, class_name)


def _same_as_built(layer, shape, explanation):
    """`explanation`, unless `layer` already holds weights of other shapes: then say so."""
    if not layer.built or not layer.weights:
        return explanation
    held = sorted(tuple(int(d) for d in w.shape) for w in layer.weights)
    if held == sorted(w.shape for w in explanation.weights):
        return explanation
    built_on = (getattr(layer, "_build_shapes_dict", None) or {}).values()
    built_on = [format_output_shape(tuple(s)) for s in built_on if s is not None]
    where = f"input_shape {', '.join(built_on)}" if built_on else "another input shape"
    total = sum(math.prod(w.shape) for w in layer.weights)
    raise ValueError(
        f"Layer '{layer.name}' ({type(layer).__name__}) is already built on {where}, not "
        f"on the input_shape {format_output_shape(shape)} it was asked about: it holds "
        f"{total} parameters, not {explanation.total}.\n"
        f"  Received: input_shape={format_output_shape(shape)}\n"
        f"  Expected: input_shape={built_on[0] if built_on else 'the shape it was built on'}\n"
        f"  Fix: count the layer on the shape it was built on, or count a fresh copy: "
        f"{type(layer).__name__}.from_config(layer.get_config())"
    )


def explain_flops_of(layer, shape, output=None, options=None):
    """The `FlopExplanation` of one forward pass of `layer` on `shape`.

    A layer without a FLOPs formula comes back with itself in `missing`,
    never as a silent 0.
    """
    if type(layer) is keras.Sequential or is_functional(layer):
        config = read_model_config(layer)
        given = shape if isinstance(shape, list) else [shape]
        return table_flops(model_table(config, given, False, costs=True))
    if output is None:
        try:
            output = _output_shape(layer, shape, options)
        except ValueError:
            if not hasattr(layer, "state_size"):
                raise
            output = None  # a recurrent cell: Keras has no output shape for it, nor needs one
    user = USER_FLOPS.get(type(layer))
    if user is not None:
        return explain_user_flops(layer, shape, output, user)
    class_name = type(layer).__name__
    handler = flops_formula_for(class_name)
    if handler is None or not _is_exact(layer, class_name) or _unsupported_option(layer):
        return no_formula(layer)
    return handler(layer, shape, output, explain_flops_of)


def table_flops(table):
    """A model's FLOPs as one layer's: the sum of its rows."""
    rows = [row for row in table.rows if row.flops is not None]
    counted = [row for row in rows if row.flops.total or row.flops.missing]
    return FlopExplanation(
        class_name=table.class_name,
        layer_name=table.name,
        signature=f"{table.class_name}('{table.name}')",
        variables={},
        formula=" + ".join(row.name for row in counted) or "0",
        substituted=" + ".join(
            "?" if row.flops.missing and not row.flops.total else str(row.flops.total)
            for row in counted
        )
        or "0",
        total=sum(row.flops.total for row in rows),
        missing=tuple(m for row in rows for m in row.flops.missing),
    )


def layer_view(layer, explanation):
    """What `layer.trainable_weights` reports: nothing when `layer` is frozen."""
    return explanation if layer.trainable else _frozen(explanation)


# Keras' layer classes by their own names: some are exported under another
# (`GroupedQueryAttention` as `keras.layers.GroupQueryAttention`).
_KERAS_CLASSES = {
    cls.__name__: cls
    for cls in (getattr(layers, name) for name in dir(layers))
    if isinstance(cls, type) and issubclass(cls, layers.Layer)
}


def _is_exact(layer, class_name):
    """True when `layer` is the very class the formula is for, not a subclass."""
    module = KERAS_APPLICATION_LAYERS.get(class_name)
    if module is not None:
        return type(layer).__module__.startswith("keras") and type(layer).__module__.endswith(
            f".applications.{module}"
        )
    known = _KERAS_CLASSES.get(class_name)
    if class_name == "TimeDistributed" and type(layer) is _TdplusTimeDistributed:
        return True
    if class_name == "TimeDistributedDense":
        return type(layer) is _TimeDistributedDense
    if class_name == "OpNode":
        return type(layer) is OpNode
    return known is not None and type(layer) is known


def _unsupported_option(layer):
    if getattr(layer, "lora_rank", None) or getattr(layer, "lora_enabled", False):
        return f"LoRA (`lora_rank={layer.lora_rank}`)"
    mode = getattr(layer, "quantization_mode", None)
    if mode is not None:
        return f"quantization (`{mode}`)"
    return None


def _frozen(explanation):
    weights = tuple(dataclasses.replace(w, trainable=False) for w in explanation.weights)
    return dataclasses.replace(explanation, weights=weights)


def _explain_by_building(layer, shape):
    """Counts `layer` by building a copy from its config; `layer` stays unbuilt."""
    name = f"Layer '{layer.name}' ({type(layer).__name__})"
    try:
        copy = layer.__class__.from_config(layer.get_config())
        throwaway_call(copy, shape)
    except Exception as error:
        raise ValueError(
            f"{name} could not be counted by building a copy on input_shape "
            f"{format_output_shape(shape)}: {type(error).__name__}: {error}"
        ) from None
    weights = tuple(
        WeightSpec(w.name, tuple(w.shape), bool(w.trainable), str(w.dtype)) for w in copy.weights
    )
    formula = " + ".join(w.name for w in weights) or "0"
    substituted = " + ".join(" * ".join(map(str, w.shape)) or "1" for w in weights) or "0"
    return ParamExplanation(
        type(layer).__name__,
        layer.name,
        f"{type(layer).__name__} (counted on a built copy)",
        {},
        formula,
        substituted,
        weights,
    )


def normalize_shape(shape, argument):
    if (
        isinstance(shape, (list, tuple))
        and shape
        and all(isinstance(s, (list, tuple)) for s in shape)
    ):
        return [normalize_shape(s, argument) for s in shape]
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    valid = (
        dims is not None
        and len(dims) >= 1
        and all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0)
            for d in dims
        )
    )
    if not valid:
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected a tuple of non-negative "
            "ints or None that includes the batch axis, e.g. (None, 5, 1). "
            f"Received: {argument}={shape!r}"
        )
    return tuple(None if d is None else int(d) for d in dims)


def _output_shape(layer, shape, options=None):
    """`layer`'s output shape, computed without building it.

    `options` are the call's plain keyword arguments (see `call_options`).
    """
    known = APPLICATION_OUTPUT_SHAPES.get(type(layer).__name__)
    if known is not None and _is_exact(layer, type(layer).__name__):
        return known(layer, shape)
    try:
        output = _as_shape(_keras_output_shape(layer, shape, options))
        if type(layer).__name__ == "EinsumDense" and _is_exact(layer, "EinsumDense"):
            output = _einsum_sizes_from_input(layer, shape, output)
        return output
    except ValueError:
        raise
    except Exception as error:  # Keras indexing the shape with a config value, e.g. axis=7
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no output shape on input_shape "
            f"{format_output_shape(shape)} with its config: {type(error).__name__}: {error}"
        ) from None


def _einsum_sizes_from_input(layer, shape, output):
    """EinsumDense's output with the `None`s of `output_shape` that the input sizes filled.

    Keras documents such a `None` as inferred from the input, and the layer's
    output has that size, but its `compute_output_shape` keeps the `None`.
    """
    input_spec, _, output_spec, left_elided, elided = einsum_spec(layer, shape)
    offset = elided if left_elided else 0
    sizes = {letter: shape[i + offset] for i, letter in enumerate(input_spec)}
    filled = list(output)
    for i, letter in enumerate(output_spec):
        if filled[i + offset] is None:
            filled[i + offset] = sizes.get(letter)
    return tuple(filled)


def _keras_output_shape(layer, shape, options):
    try:
        return output_shapes(layer, shape, options)
    except NotImplementedError:
        spec = layer.compute_output_spec(*symbolic_arguments(layer, shape))
        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)


def _as_shape(out):
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
        return [_as_shape(o) for o in out]
    if isinstance(out, dict):
        return [_as_shape(o) for o in out.values()]
    return tuple(out)


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
        # As Keras, which builds a loaded model from its layers and ignores a `build_config`
        # it does not need, one that is not a dict counts as absent.
        build_config = source.get("build_config")
        build_shape = build_config.get("input_shape") if isinstance(build_config, dict) else None
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


def table_explanation(table, view=True):
    """A model counted as one layer; `view=False` keeps its variables' own flags."""
    rows = [row for row in table.rows if row.total]
    weights = table.weights
    if view and not table.model_trainable:
        weights = tuple(dataclasses.replace(w, trainable=False) for w in weights)
    return ParamExplanation(
        class_name=table.class_name,
        layer_name=table.name,
        signature=f"{table.class_name}('{table.name}')",
        variables={},
        formula=" + ".join(row.name for row in rows) or "0",
        substituted=" + ".join(str(row.total) for row in rows) or "0",
        weights=weights,
    )


def model_table(model_config, shape, allow_build, costs=False):
    """The model's `ParamTable`; with `costs`, its FLOPs and activations too.

    With `costs`, `shape` is a list with one shape per model input (or None
    for the shapes the model declares): each fills the unknown sizes of the
    input it is given for.
    """
    class_name, config = model_config
    name = config.get("name", class_name.lower())
    counter = _TableVisitor(allow_build, functional=class_name != "Sequential", costs=costs)
    if costs:
        declared = declared_inputs(model_config)
        merged = merged_inputs(name, declared, shape)
        counter.given = {input_name: s for (input_name, _), s in zip(declared, merged, strict=True)}
        if class_name == "Sequential":
            shape = merged[0]
            if shape is not None:
                counter.inputs.append(("float32", _elements(name, "Input", shape)))
    if class_name == "Sequential":
        inputs = [] if shape is None else [shape]
        has_input = any(e["class_name"] == "InputLayer" for e in layer_entries(config))
        if not inputs and not has_input and config.get("build_input_shape"):
            inputs = [normalize_shape(config["build_input_shape"], "build_input_shape")]
        outputs = walk_sequential(config, counter, inputs) if config.get("layers") else [None]
        if outputs[0] is None and not inputs and not has_input:
            raise ValueError(
                f"Model '{name}' (Sequential) has no input shape: it has no Input layer and was "
                "never built. Fix: param_table(model, input_shape=(None, ...)) or start the "
                "model with keras.Input(shape=...)"
            )
        output = outputs[0]
    else:
        outputs = walk_functional(config, counter)
        output = outputs[0] if len(outputs) == 1 else outputs
    counted = list(counter.counted.values())
    weights = tuple(
        dataclasses.replace(w, name=f"{row.name}/{w.name}")
        for row, variables in counted
        for w in variables.weights
    )
    return ParamTable(
        name=name,
        class_name=class_name,
        rows=tuple(row for row, _ in counted),
        output_shape=output,
        weights=weights,
        model_trainable=bool(config.get("trainable", True)),
        activations=tuple(counter.activations),
        inputs=tuple(counter.inputs),
    )


def declared_inputs(model_config):
    """`[(name, shape)]` of the model's inputs as its config declares them (shape may be None)."""
    class_name, config = model_config
    entries = [e for e in layer_entries(config) if e.get("class_name") == "InputLayer"]
    if class_name == "Sequential":
        if entries:
            return [(entry_name(entries[0]), _input_layer_shape(entries[0]))]
        built = config.get("build_input_shape")
        name = config.get("name", "sequential")
        return [(name, normalize_shape(built, "build_input_shape") if built else None)]
    by_name = {entry_name(e): e for e in entries}
    declared = []
    for ref in tensor_refs_of_spec(config.get("input_layers")):
        entry = by_name.get(ref[0])
        declared.append((ref[0], None if entry is None else _input_layer_shape(entry)))
    return declared


def merged_inputs(model_name, declared, given):
    """The declared input shapes with the unknown sizes filled from `given`."""
    if given is None:
        return [shape for _, shape in declared]
    if len(given) != len(declared):
        raise ValueError(
            f"Model '{model_name}' has {len(declared)} input(s) "
            f"({', '.join(name for name, _ in declared)}), but {len(given)} input shape(s) "
            f"were given. Received: input_shape={given}"
        )
    merged = []
    for (name, mine), theirs in zip(declared, given, strict=True):
        if mine is None or theirs is None:
            merged.append(theirs if mine is None else mine)
            continue
        if len(mine) != len(theirs):
            raise SequenceShapeError(
                f"Model '{model_name}' input '{name}' has rank {len(mine)}, shape "
                f"{format_output_shape(mine)}, but the input_shape given for it has rank "
                f"{len(theirs)}: {format_output_shape(theirs)}. Fix: pass a shape of the "
                "input's rank, batch axis included"
            )
        # The batch given wins: a nested model's own batch is the one it was first built on.
        shape = [theirs[0] if theirs[0] is not None else mine[0]]
        for axis, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if axis == 0:
                continue
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"Model '{model_name}' input '{name}' takes size {a} on axis {axis} "
                    f"(shape {format_output_shape(mine)}), but the input_shape given for it "
                    f"says {b}: {format_output_shape(theirs)}. Fix: pass {a} on that axis, "
                    "or None to keep the model's"
                )
            shape.append(b if a is None else a)
        merged.append(tuple(shape))
    return merged


class _TableVisitor(Visitor):
    """Counts each layer of one model level as the walk reaches it."""

    def __init__(self, allow_build, functional, costs=False):
        self.allow_build = allow_build
        self.functional = functional
        self.costs = costs
        # With `costs`: `(dtype, elements)` of each call's outputs, and of the model's inputs;
        # the input shapes by input name.
        self.activations = []
        self.inputs = []
        self.given = {}
        # `(row, variables)` by entry position, in the order of the config's layers.
        self.counted = {}
        # The entry whose call produced each output shape (by identity).
        self.producers = {}

    def input_layer(self, entry):
        shape = self.given.get(entry_name(entry)) or _input_layer_shape(entry)
        if self.costs:
            dtype = str((entry.get("config") or {}).get("dtype") or "float32")
            self.inputs.append((dtype, _elements(entry_name(entry), "InputLayer", shape)))
        if self.functional:
            layer = rebuild_layer(entry)
            explanation = zero(layer, shape, None)
            flops = no_products(layer) if self.costs else None
            row = ParamRow(entry_name(entry), "InputLayer", shape, explanation, flops)
            self.counted[id(entry)] = (row, explanation)
        return shape

    def no_input(self, entry):
        return None

    def call(self, entry, inputs, multi, node_index, arguments=None):
        if not inputs:
            return [None]
        shape = list(inputs) if multi else inputs[0]
        if arguments and entry.get("class_name") not in MODEL_CLASSES:
            shapes = argument_shapes(rebuild_layer(entry), arguments)
            if shapes is not None:
                shape, multi = shapes, True
        options = call_options(entry, node_index)
        if node_index == 0:
            try:
                row, variables, output, activations = _row(
                    entry, shape, self.allow_build, options, self.costs
                )
            except SequenceShapeError as error:
                producer = None if multi else self.producers.get(id(inputs[0]))
                _raise_if_last_step_only(error, entry, producer, shape)
                raise
            self.counted[id(entry)] = (row, variables)
        else:
            row, variables = self.counted[id(entry)]
            if self.costs:
                again, _, output, activations = _row(entry, shape, self.allow_build, options, True)
                flops = _called_again(row.flops, again.flops, node_index)
            else:
                output = _output_shape(rebuild_layer(entry), shape, options)
                flops, activations = None, None
            row = dataclasses.replace(row, output_shape="multiple", flops=flops)
            self.counted[id(entry)] = (row, variables)
        if self.costs:
            self.activations += activations
        outputs = output if isinstance(output, list) else [output]
        self.producers.update((id(out), entry) for out in outputs)
        return outputs

    def not_called(self, entry):
        raise ValueError(f"Layer '{entry_name(entry)}' of the model config has no inbound node")

    def no_node_inputs(self, entry, node):
        if not isinstance(node, dict) or "args" not in node:
            raise ValueError(
                f"Layer '{entry_name(entry)}' has an inbound node in a format this reader does "
                "not know (expected a Keras 3 config). Received: " + repr(node)[:80]
            )
        raise ValueError(f"Layer '{entry_name(entry)}' has an inbound node without inputs")

    def missing(self, entry, ref):
        who = "The model's output" if entry is None else f"Layer '{entry_name(entry)}'"
        raise ValueError(
            f"{who} takes the output {ref[2]} of call {ref[1]} of layer '{ref[0]}', which the "
            "model config does not define"
        )


def _raise_if_last_step_only(error, entry, producer, shape):
    """The fix `check_model` gives when `error` comes from a recurrent layer's last step."""
    if not isinstance(error, RankError) or producer is None:
        return
    config = producer.get("config") or {}
    class_name = producer.get("class_name")
    if class_name == "Bidirectional":
        config = (config.get("layer") or {}).get("config") or {}
    if class_name not in RECURRENT_CLASSES or config.get("return_sequences", True):
        return
    call = return_sequences_call(class_name, producer.get("config") or {})
    name, layer_name = entry_name(producer), entry_name(entry)
    raise SequenceShapeError(
        message(
            f"Layer '{name}' ({class_name}) returns only its last step, but layer "
            f"'{layer_name}' ({entry.get('class_name')}) after it needs a time axis.",
            f"shape {format_output_shape(shape)} at the input of '{layer_name}'",
            "shape (batch, time, ..., features), rank >= 3",
            [f"{call}  # layer '{name}'"],
        )
    ) from None


def _row(layer_config, shape, allow_build, options=None, costs=False):
    """One layer config on `shape`: `(row, variables, output shape, activations)`.

    `row` holds what the layer reports of itself; `variables` the explanation
    with its variables' own trainable flags, which the model's totals use.
    With `costs`, `row.flops` holds the layer's FLOPs and `activations` the
    `(dtype, elements)` of its outputs (of every layer's, for a nested model).
    """
    if layer_config.get("class_name") in MODEL_CLASSES:
        model_config = read_model_config(layer_config)
        given = (shape if isinstance(shape, list) else [shape]) if costs else None
        table = model_table(model_config, given if costs else shape, allow_build, costs)
        explanation = table_explanation(table)
        flops = table_flops(table) if costs else None
        row = ParamRow(table.name, table.class_name, table.output_shape, explanation, flops)
        return row, table_explanation(table, view=False), table.output_shape, table.activations
    layer = rebuild_layer(layer_config)
    explanation = explain(layer, shape, allow_build)
    try:
        output = _output_shape(layer, shape, options)
    except Exception as static_error:
        if not allow_build:
            raise
        try:
            copy = layer.__class__.from_config(layer.get_config())
            built = throwaway_call(copy, shape)
        except Exception:
            raise static_error from None  # it names the layer; a failed build adds nothing
        output = _as_shape(keras.tree.map_structure(lambda t: tuple(t.shape), built))
    flops, activations = None, None
    if costs:
        flops = explain_flops_of(layer, shape, output)
        outputs = output if isinstance(output, list) else [output]
        dtype = _output_dtype(layer, shape)
        activations = tuple(
            (dtype, _elements(layer.name, type(layer).__name__, s)) for s in outputs
        )
    row = ParamRow(
        layer.name, explanation.class_name, output, layer_view(layer, explanation), flops
    )
    return row, explanation, output, activations


def _called_again(first, again, node_index):
    """The FLOPs of a layer the model calls more than once: the sum of its calls."""
    calls = (
        first
        if node_index > 1
        else dataclasses.replace(
            first, formula=f"({first.formula})", substituted=f"({first.substituted})"
        )
    )
    return dataclasses.replace(
        calls,
        formula=f"{calls.formula} + ({again.formula})",
        substituted=f"{calls.substituted} + ({again.substituted})",
        total=calls.total + again.total,
        missing=calls.missing + again.missing,
    )


def _output_dtype(layer, shape):
    """The dtype of `layer`'s output: its compute dtype, or an op's own (`NotEqual`: bool)."""
    if type(layer) is OpNode:
        try:
            spec = layer.compute_output_spec(*symbolic_arguments(layer, shape))
            return str(keras.tree.flatten(spec)[0].dtype)
        except Exception:  # an op Keras cannot trace on float inputs: its compute dtype
            pass
    return str(layer.compute_dtype)


def _elements(name, class_name, shape):
    if shape is None or None in shape:
        unknown = None if shape is None else shape.index(None)
        raise ValueError(
            f"Layer '{name}' ({class_name}) has an output of unknown "
            f"size{'' if unknown is None else f' on axis {unknown}'}: "
            f"{format_output_shape(shape)}, so its activations cannot be counted. Fix: pass "
            "an input_shape with every axis filled in"
        )
    return math.prod(shape)


def _input_layer_shape(layer_config):
    config = layer_config.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("shape") is not None:
        shape = (None, *config["shape"])
    return normalize_shape(shape, "batch_shape")


def covered_layers():
    """The names of the layer classes `count_params` has a formula for."""
    return tuple(sorted({*covered_classes(), *MODEL_CLASSES[:2]}))
