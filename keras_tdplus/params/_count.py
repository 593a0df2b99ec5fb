"""The parameter calculator: a layer or a model config counted from its formulas."""

import dataclasses
import math

import keras

from keras_tdplus._config.call_shapes import (
    argument_shapes,
    call_options,
    symbolic_arguments,
    throwaway_call,
)
from keras_tdplus._config.op_node import OpNode
from keras_tdplus._config.rebuild import rebuild_layer
from keras_tdplus._config.source import read_model_config
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
from keras_tdplus._messages import Argument, message, worded
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.params import _families  # noqa: F401  (importing the families fills the registry)
from keras_tdplus.params._explain import missing_flops, zero_flops, zero_weights
from keras_tdplus.params._families.base import RankError
from keras_tdplus.params._gradients import (
    carried_inputs,
    flowing,
    forward_only,
    is_training,
    outer_trainable,
)
from keras_tdplus.params._registry import entry_for, is_user, registered
from keras_tdplus.params._results import (
    FlopExplanation,
    ParamExplanation,
    ParamRow,
    ParamTable,
    WeightSpec,
    format_output_shape,
)
from keras_tdplus.params._shapes import (
    as_shape,
    declared_inputs,
    elements,
    input_layer_shape,
    merged_inputs,
    normalize_shape,
    output_shape,
)

__all__ = [
    "covered_layers",
    "explain",
    "explain_flops_of",
    "has_param_formula",
    "layer_view",
    "model_table",
    "table_explanation",
    "table_flops",
]


_ALLOW_BUILD = Argument("allow_build", True)
_BY_BUILDING = " to count it by building a throwaway copy"


def explain(layer, shape, allow_build):
    if type(layer) is keras.Sequential or is_functional(layer):
        return table_explanation(
            model_table(read_model_config(layer), shape, allow_build), view=False
        )
    class_name = type(layer).__name__
    entry = entry_for(type(layer))
    formula = None if entry is None else entry.weights
    if formula is None:
        if allow_build:
            return _explain_by_building(layer, shape)
        why = None if entry is None else entry.why_no_weights
        first = f"Layer '{layer.name}' ({class_name}) has no parameter formula in keras_tdplus"
        raise worded(
            ValueError,
            [
                first + (f": {why}" if why else "") + ". Fix: pass ",
                _ALLOW_BUILD,
                _BY_BUILDING
                + ("" if why else ", or register one with keras_tdplus.register_param_formula"),
            ],
        )
    unsupported = None if is_user(formula) else _unsupported_option(layer)
    if unsupported is not None:
        if allow_build:
            return _explain_by_building(layer, shape)
        first = f"Layer '{layer.name}' ({class_name}) uses {unsupported}, which has no parameter"
        raise worded(
            ValueError,
            [f"{first} formula in keras_tdplus. Fix: pass ", _ALLOW_BUILD, _BY_BUILDING],
        )
    explanation = formula(layer, shape, lambda inner, step: explain(inner, step, allow_build))
    return _same_as_built(layer, shape, explanation)


def has_param_formula(layer):
    """True when `explain` counts `layer` from a formula (its own class's, or a user's)."""
    entry = entry_for(type(layer))
    return entry is not None and entry.weights is not None


def _same_as_built(layer, shape, explanation):
    """`explanation`, unless `layer` already holds weights of other shapes: then say so."""
    if not layer.built or not layer.weights:
        return explanation
    held = sorted(tuple(int(d) for d in w.shape) for w in layer.weights)
    if held == sorted(w.shape for w in explanation.weights):
        return explanation
    built_on = (getattr(layer, "_build_shapes_dict", None) or {}).values()
    built_on = [tuple(s) for s in built_on if s is not None]
    shown = ", ".join(map(format_output_shape, built_on))
    where = f"input_shape {shown}" if built_on else "another input shape"
    total = sum(math.prod(w.shape) for w in layer.weights)
    expected = Argument("input_shape", built_on[0]) if built_on else "the shape it was built on"
    raise worded(
        ValueError,
        [
            f"Layer '{layer.name}' ({type(layer).__name__}) is already built on {where}, not "
            f"on the input_shape {format_output_shape(shape)} it was asked about: it holds "
            f"{total} parameters, not {explanation.total}.\n  Received: ",
            Argument("input_shape", shape),
            "\n  Expected: ",
            expected,
            "\n  Fix: count the layer on the shape it was built on, or count a fresh copy: "
            f"{type(layer).__name__}.from_config(layer.get_config())",
        ],
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
            output = output_shape(layer, shape, options)
        except ValueError:
            if not hasattr(layer, "state_size"):
                raise
            output = None  # a recurrent cell: Keras has no output shape for it, nor needs one
    entry = entry_for(type(layer))
    formula = None if entry is None else entry.flops
    if formula is None or (not is_user(formula) and _unsupported_option(layer)):
        return missing_flops(layer)
    with flowing(trainable=layer.trainable):  # the layers inside a frozen one are frozen
        return formula(layer, shape, output, explain_flops_of)


def table_flops(table):
    """A model's FLOPs as one layer's: the sum of its rows."""
    rows = [row for row in table.rows if row.flops is not None]
    counted = [row for row in rows if row.flops.total or row.flops.missing]
    return _as_one_layer(
        FlopExplanation,
        table,
        counted,
        lambda row: "?" if row.flops.missing and not row.flops.total else str(row.flops.total),
        total=sum(row.flops.total for row in rows),
        missing=tuple(m for row in rows for m in row.flops.missing),
    )


def layer_view(layer, explanation):
    """What `layer.trainable_weights` reports: nothing when `layer` is frozen."""
    return explanation if layer.trainable else _frozen(explanation)


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


def table_explanation(table, view=True):
    """A model counted as one layer; `view=False` keeps its variables' own flags."""
    weights = table.weights
    if view and not table.model_trainable:
        weights = tuple(dataclasses.replace(w, trainable=False) for w in weights)
    rows = [row for row in table.rows if row.total]
    return _as_one_layer(ParamExplanation, table, rows, lambda row: str(row.total), weights=weights)


def _as_one_layer(kind, table, rows, number, **fields):
    """A model's table as one layer's explanation of `kind`: its `rows`, each a `number`."""
    return kind(
        class_name=table.class_name,
        layer_name=table.name,
        signature=f"{table.class_name}('{table.name}')",
        variables={},
        formula=" + ".join(row.name for row in rows) or "0",
        substituted=" + ".join(number(row) for row in rows) or "0",
        **fields,
    )


def model_table(model_config, shape, allow_build, costs=False):
    """The model's `ParamTable`; with `costs`, its FLOPs and activations too.

    With `costs`, `shape` is a list with one shape per model input (or None
    for the shapes the model declares): each fills the unknown sizes of the
    input it is given for. Which of them carry a gradient (in a training step)
    is the `flowing` context's inputs: none for a model counted on its own.
    """
    class_name, config = model_config
    if costs:
        with flowing(trainable=config.get("trainable", True)):
            return _model_table(model_config, shape, allow_build, costs)
    return _model_table(model_config, shape, allow_build, costs)


def _model_table(model_config, shape, allow_build, costs):
    class_name, config = model_config
    name = config.get("name", class_name.lower())
    counter = _TableVisitor(allow_build, functional=class_name != "Sequential", costs=costs)
    if costs:
        declared = declared_inputs(model_config)
        merged = merged_inputs(name, declared, shape)
        carried = list(carried_inputs()) + [False] * len(declared)
        counter.given = {input_name: s for (input_name, _), s in zip(declared, merged, strict=True)}
        counter.given_carries = {
            input_name: carries for (input_name, _), carries in zip(declared, carried, strict=False)
        }
        if class_name == "Sequential":
            shape = merged[0]
            if shape is not None:
                counter.inputs.append(("float32", elements(name, "Input", shape)))
                shape = counter.carrying(shape, counter.given_carries.get(declared[0][0], False))
    if class_name == "Sequential":
        inputs = [] if shape is None else [shape]
        has_input = any(e["class_name"] == "InputLayer" for e in layer_entries(config))
        if not inputs and not has_input and config.get("build_input_shape"):
            inputs = [normalize_shape(config["build_input_shape"], "build_input_shape")]
        outputs = walk_sequential(config, counter, inputs) if config.get("layers") else [None]
        if outputs[0] is None and not inputs and not has_input:
            first = f"Model '{name}' (Sequential) has no input shape: it has no Input layer"
            raise worded(
                ValueError,
                [
                    f"{first} and was never built. Fix: ",
                    Argument("input_shape", None, "param_table(model, input_shape=(None, ...))"),
                    " or start the model with keras.Input(shape=...)",
                ],
            )
        output = outputs[0]
    else:
        outputs = walk_functional(config, counter)
        output = outputs[0] if len(outputs) == 1 else outputs
    if counter.calls:
        counter.settle(outputs)
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
        # In a training step: whether each value (by the identity of its shape) carries a
        # gradient, and whether each model input does, by name. Shapes are kept alive so that
        # no two values share an identity.
        self.carries = {}
        self.given_carries = {}
        self.kept = []
        # `(row, variables)` by entry position, in the order of the config's layers.
        self.counted = {}
        # The entry whose call produced each output shape (by identity).
        self.producers = {}
        # In a training step: each call's `(entry id, FLOPs, a function counting its forward
        # pass, input ids, float output ids, passes a gradient back)`, in order, to find the
        # calls no gradient reaches.
        self.calls = []

    def carrying(self, shape, carries):
        """`shape` as a value of its own that carries a gradient or not."""
        if isinstance(shape, tuple):
            shape = tuple(list(shape))
            self.kept.append(shape)
            self.carries[id(shape)] = bool(carries)
        return shape

    def carried(self, value):
        if isinstance(value, list):
            return any(self.carried(v) for v in value)
        return self.carries.get(id(value), False)

    def input_layer(self, entry):
        shape = self.given.get(entry_name(entry)) or input_layer_shape(entry)
        if self.costs:
            dtype = str((entry.get("config") or {}).get("dtype") or "float32")
            self.inputs.append((dtype, elements(entry_name(entry), "InputLayer", shape)))
            shape = self.carrying(shape, self.given_carries.get(entry_name(entry), False))
        if self.functional:
            layer = rebuild_layer(entry)
            explanation = zero_weights(layer)
            flops = zero_flops(layer) if self.costs else None
            row = ParamRow(entry_name(entry), "InputLayer", shape, explanation, flops)
            self.counted[id(entry)] = (row, explanation)
        return shape

    def no_input(self, entry):
        return None

    def call(self, entry, inputs, multi, node_index, arguments=None):
        if not inputs:
            return [None]
        shape = list(inputs) if multi else inputs[0]
        carries = [self.carried(value) for value in inputs]
        if arguments and entry.get("class_name") not in MODEL_CLASSES:
            layer = rebuild_layer(entry)
            shapes = argument_shapes(layer, arguments)
            if shapes is not None:
                shape, multi = shapes, True
                carries = [self.carried(value) for value in shapes]
            else:  # the call's other tensors (a recurrent layer's initial_state) come after
                carries += [self.carried(v) for k, v in arguments.items() if k != 0]
        options = call_options(entry, node_index)
        if node_index == 0:
            try:
                with flowing(inputs=carries):
                    row, variables, output, activations = _row(
                        entry, shape, self.allow_build, options, self.costs
                    )
            except SequenceShapeError as error:
                producer = None if multi else self.producers.get(id(inputs[0]))
                _raise_if_last_step_only(error, entry, producer, shape)
                raise
            flops = row.flops
            self.counted[id(entry)] = (row, variables)
        else:
            row, variables = self.counted[id(entry)]
            if self.costs:
                with flowing(inputs=carries):
                    again, _, output, activations = _row(
                        entry, shape, self.allow_build, options, True
                    )
                flops = again.flops
                combined = _called_again(row.flops, again.flops, node_index)
            else:
                output = output_shape(rebuild_layer(entry), shape, options)
                combined, activations = None, None
            row = dataclasses.replace(row, output_shape="multiple", flops=combined)
            self.counted[id(entry)] = (row, variables)
        outputs = output if isinstance(output, list) else [output]
        if self.costs:
            self.activations += activations
            out_carries = any(carries) or _trains(variables)
            floats = [not _integer(dtype) for dtype, _ in activations or ()]
            floats += [True] * (len(outputs) - len(floats))
            stops = _op_name(entry) == "StopGradient"
            outputs = [
                self.carrying(out, out_carries and is_float and not stops)
                for out, is_float in zip(outputs, floats, strict=False)
            ]
            if is_training():
                # Its forward pass alone, counted only if no gradient reaches the call.
                def forward(entry=entry, shape=shape, options=options):
                    with forward_only():
                        return _row(entry, shape, self.allow_build, options, True)[0].flops

                others = [v for k, v in (arguments or {}).items() if k != 0]
                read = [id(v) for v in _values([*inputs, *others])]
                made = [id(out) for out, f in zip(outputs, floats, strict=False) if f]
                self.calls.append((id(entry), flops, forward, read, made, not stops))
        self.producers.update((id(out), entry) for out in outputs)
        return outputs

    def settle(self, outputs):
        """Counts the forward pass alone of the calls from which no gradient reaches `outputs`.

        Autograd runs the backward of a call only when the loss (the model's
        float outputs) depends on one of its outputs through differentiable
        operations: not through `ops.stop_gradient` nor an integer output.
        """
        made_here = {i for _, _, _, _, made, _ in self.calls for i in made}
        reached = {id(out) for out in outputs if id(out) in made_here}
        live = []
        for _, _, _, read, made, passes in reversed(self.calls):
            is_live = any(i in reached for i in made)
            live.append(is_live)
            if is_live and passes:
                reached.update(read)
        live.reverse()
        if all(live):
            return
        by_entry = {}
        for (key, flops, forward, *_), is_live in zip(self.calls, live, strict=True):
            by_entry.setdefault(key, []).append(flops if is_live else forward())
        for key, calls in by_entry.items():
            row, variables = self.counted[key]
            total = calls[0]
            for index, again in enumerate(calls[1:], start=1):
                total = _called_again(total, again, index)
            self.counted[key] = (dataclasses.replace(row, flops=total), variables)

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


def _values(values):
    """The values (shapes) in `values`, a list that may hold lists of them."""
    for value in values:
        if isinstance(value, list):
            yield from _values(value)
        elif value is not None:
            yield value


def _trains(variables):
    """True when a layer holds a weight a training step differentiates."""
    return outer_trainable() and any(w.trainable for w in variables.weights)


def _integer(dtype):
    return not any(kind in str(dtype) for kind in ("float", "complex"))


def _op_name(entry):
    op = (entry.get("config") or {}).get("op") if isinstance(entry.get("config"), dict) else None
    return op.get("class_name") if isinstance(op, dict) else None


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
        output = output_shape(layer, shape, options)
    except Exception as static_error:
        if not allow_build:
            raise
        try:
            copy = layer.__class__.from_config(layer.get_config())
            built = throwaway_call(copy, shape)
        except Exception:
            raise static_error from None  # it names the layer; a failed build adds nothing
        output = as_shape(keras.tree.map_structure(lambda t: tuple(t.shape), built))
    flops, activations = None, None
    if costs:
        flops = explain_flops_of(layer, shape, output)
        outputs = output if isinstance(output, list) else [output]
        dtype = _output_dtype(layer, shape)
        activations = tuple((dtype, elements(layer.name, type(layer).__name__, s)) for s in outputs)
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


def covered_layers():
    """The names of the layer classes `count_params` has a formula for."""
    return tuple(sorted({*(cls.__name__ for cls in registered("weights")), *MODEL_CLASSES[:2]}))
