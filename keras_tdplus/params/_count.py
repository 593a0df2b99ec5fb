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
from keras_tdplus.params._formulas import NO_FORMULA, covered_classes, formula_for
from keras_tdplus.params._formulas.applications import KERAS_APPLICATION_LAYERS
from keras_tdplus.params._formulas.applications import OUTPUT_SHAPES as APPLICATION_OUTPUT_SHAPES
from keras_tdplus.params._formulas.base import RankError, zero
from keras_tdplus.params._formulas.user import USER_FORMULAS, explain_user
from keras_tdplus.params._results import (
    ParamExplanation,
    ParamRow,
    ParamTable,
    WeightSpec,
    format_output_shape,
)

__all__ = [
    "covered_layers",
    "explain",
    "is_model_source",
    "layer_view",
    "model_table",
    "normalize_shape",
    "read_model_config",
    "table_explanation",
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
    weights = tuple(WeightSpec(w.name, tuple(w.shape), bool(w.trainable)) for w in copy.weights)
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
        return _as_shape(_keras_output_shape(layer, shape, options))
    except ValueError:
        raise
    except Exception as error:  # Keras indexing the shape with a config value, e.g. axis=7
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no output shape on input_shape "
            f"{format_output_shape(shape)} with its config: {type(error).__name__}: {error}"
        ) from None


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


def model_table(model_config, shape, allow_build):
    class_name, config = model_config
    name = config.get("name", class_name.lower())
    counter = _TableVisitor(allow_build, functional=class_name != "Sequential")
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
    )


class _TableVisitor(Visitor):
    """Counts each layer of one model level as the walk reaches it."""

    def __init__(self, allow_build, functional):
        self.allow_build = allow_build
        self.functional = functional
        # `(row, variables)` by entry position, in the order of the config's layers.
        self.counted = {}
        # The entry whose call produced each output shape (by identity).
        self.producers = {}

    def input_layer(self, entry):
        shape = _input_layer_shape(entry)
        if self.functional:
            layer = rebuild_layer(entry)
            explanation = zero(layer, shape, None)
            row = ParamRow(entry_name(entry), "InputLayer", shape, explanation)
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
        if node_index == 0:
            try:
                options = call_options(entry, node_index)
                row, variables, output = _row(entry, shape, self.allow_build, options)
            except SequenceShapeError as error:
                producer = None if multi else self.producers.get(id(inputs[0]))
                _raise_if_last_step_only(error, entry, producer, shape)
                raise
            self.counted[id(entry)] = (row, variables)
        else:
            output = _output_shape(rebuild_layer(entry), shape, call_options(entry, node_index))
            row, variables = self.counted[id(entry)]
            self.counted[id(entry)] = (dataclasses.replace(row, output_shape="multiple"), variables)
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


def _row(layer_config, shape, allow_build, options=None):
    """One layer config on `shape`: `(row, variables, output shape)`.

    `row` holds what the layer reports of itself; `variables` the explanation
    with its variables' own trainable flags, which the model's totals use.
    """
    if layer_config.get("class_name") in MODEL_CLASSES:
        model_config = read_model_config(layer_config)
        table = model_table(model_config, shape, allow_build)
        row = ParamRow(table.name, table.class_name, table.output_shape, table_explanation(table))
        return row, table_explanation(table, view=False), table.output_shape
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
    row = ParamRow(layer.name, explanation.class_name, output, layer_view(layer, explanation))
    return row, explanation, output


def _input_layer_shape(layer_config):
    config = layer_config.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("shape") is not None:
        shape = (None, *config["shape"])
    return normalize_shape(shape, "batch_shape")


def covered_layers():
    """The names of the layer classes `count_params` has a formula for."""
    return tuple(sorted({*covered_classes(), *MODEL_CLASSES[:2]}))
