"""`check_model`: a model's config walked with static shapes, and the findings."""

import contextlib

import keras

from keras_tdplus._config.call_shapes import (
    argument_shapes,
    call_options,
    output_shapes,
    symbolic_arguments,
    throwaway_call,
)
from keras_tdplus._config.reader import UnsafeConfig
from keras_tdplus._config.rebuild import NotRebuilt, UnknownClass, rebuild_layer
from keras_tdplus._config.source import read_model_config
from keras_tdplus._config.walk import Visitor, entry_name, layer_entries, walk
from keras_tdplus._kinds import is_model_config
from keras_tdplus._messages import format_shape, message, short_repr
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.validation._lint_report import Finding, ShapeReport
from keras_tdplus.validation._lint_rules import (
    UNKNOWN,
    Tensor,
    drops_time_axis,
    format_any,
    make_layer,
    needed_rank,
    return_sequences_fix,
    shapes_of,
    spec_problem,
    time_axis_fixes,
)

__all__ = ["check_model", "check_saved_config"]


class _LiveSource:
    """Looks up the live layer of a config entry in a model."""

    # The user's layers: never called, so never built by the lint.
    throwaway = False

    def __init__(self, model):
        self.model = model

    def layer(self, entry):
        try:
            return self.model.get_layer(entry_name(entry))
        except (ValueError, AttributeError):
            # Not a layer of the model: a `keras.ops` call, seen as an OpNode.
            return _ConfigSource().layer(entry)

    def nested(self, entry):
        obj = self.layer(entry)
        return _LiveSource(obj) if obj is not None else _ConfigSource()


class _ConfigSource:
    """Rebuilds each layer of a config on its own, so one broken layer spoils nothing else."""

    throwaway = True

    def layer(self, entry):
        """The unbuilt layer of `entry`, or the `ValueError` saying why there is none."""
        entry = {k: v for k, v in entry.items() if k != "inbound_nodes"}
        try:
            return rebuild_layer(entry)
        except ValueError as error:
            return error

    def nested(self, entry):
        return self


class _NoInputShape(ValueError):
    pass


class _Linter:
    """Collects the `Finding`s of a walk over a model's config with static shapes."""

    def __init__(self):
        self.findings = []
        self.checked = 0

    def model(self, config, source, inputs, prefix=""):
        outputs = walk(config, _LintVisitor(self, source, prefix), inputs)
        return [UNKNOWN if x is None else x for x in outputs]

    def apply(self, entry, source, inputs, multi, prefix, arguments=None, options=None):
        """Checks one call of the layer in `entry`; returns its output tensors.

        `arguments` holds the call's tensors by argument when more than one
        argument holds one (see `Visitor.call`); `options` the call's plain
        keyword arguments (see `call_options`).
        """
        if is_model_config(entry.get("config")):
            name = prefix + entry_name(entry)
            return self.model(entry["config"], source.nested(entry), inputs, name + "/")
        if any(t.shape is None for t in inputs):
            return [UNKNOWN]
        layer = make_layer(entry, source.layer(entry), prefix)
        self.checked += 1
        x = inputs[0]
        needed = needed_rank(layer)
        if needed is not None and len(x.shape) < needed[0]:
            rank, expected = needed
            if x.dropped_by is not None and len(x.shape) == rank - 1:
                culprit = x.dropped_by
                self.findings.append(
                    Finding(
                        culprit.name,
                        message(
                            f"Layer '{culprit.name}' ({culprit.class_name}) returns only its "
                            f"last step, but layer '{layer.name}' ({layer.class_name}) after "
                            "it needs a time axis.",
                            f"shape {format_shape(x.shape)} at the input of '{layer.name}'",
                            expected,
                        ),
                        return_sequences_fix(culprit),
                    )
                )
            else:
                self.findings.append(
                    Finding(
                        layer.name,
                        message(
                            f"Layer '{layer.name}' ({layer.class_name}) needs a time axis, but "
                            f"its input has rank {len(x.shape)}.",
                            f"shape {format_shape(x.shape)} from '{x.producer}'",
                            expected,
                        ),
                        "\n   or: ".join(time_axis_fixes(layer, x, rank)),
                    )
                )
            return [UNKNOWN]
        if not multi:
            problem = spec_problem(layer, x.shape)
            if problem is not None:
                self.findings.append(problem)
                return [UNKNOWN]
        input_shape = [t.shape for t in inputs] if multi else x.shape
        if arguments and layer.obj is not None:
            separate = argument_shapes(layer.obj, _argument_tensor_shapes(arguments))
            if separate is not None:
                if any(shape is None for shape in separate):
                    return [UNKNOWN]
                input_shape = separate
        shapes = self._output_shapes(layer, input_shape, source.throwaway, options)
        if shapes is None:
            return [UNKNOWN]
        dropped = layer if drops_time_axis(layer) else x.dropped_by
        return [
            Tensor(
                shape,
                layer.name,
                False,
                dropped if dropped is layer or len(shape) == len(x.shape) else None,
            )
            for shape in shapes
        ]

    def _output_shapes(self, layer, input_shape, throwaway, options=None):
        if layer.obj is None:
            self.findings.append(_not_rebuilt_finding(layer))
            return None
        try:
            try:
                output = output_shapes(layer.obj, input_shape, options)
            except NotImplementedError:
                output = keras.tree.map_structure(
                    lambda t: t.shape, _output_spec(layer.obj, input_shape, throwaway)
                )
            return shapes_of(output)
        except ValueError as error:
            lines = str(error).strip().splitlines()
            reason = lines[0] if lines else type(error).__name__
            self.findings.append(
                Finding(
                    layer.name,
                    message(
                        f"Layer '{layer.name}' ({layer.class_name}) cannot take its input: "
                        f"{reason}",
                        f"shape {format_any(input_shape)}",
                        "a shape the layer accepts",
                    ),
                    f"change the input of '{layer.name}' or the layer's arguments",
                )
            )
            return None
        except Exception:
            self.findings.append(
                Finding(
                    layer.name,
                    f"Layer '{layer.name}' ({layer.class_name}) does not report its output "
                    "shape statically, so the layers after it were not checked.",
                    "check_fit_data(model, x, y)  # checks the data once the model is built",
                    "info",
                )
            )
            return None


def _output_spec(obj, input_shape, throwaway):
    """`obj`'s symbolic output; an unbuilt throwaway layer is built with no weight allocated."""
    if obj.built or not throwaway:
        return obj.compute_output_spec(*symbolic_arguments(obj, input_shape))
    return throwaway_call(obj, input_shape)


def _argument_tensor_shapes(arguments):
    """`{argument: shape}` from the walk's `{argument: tensor or list of tensors}`."""
    return {
        key: [t.shape for t in value] if isinstance(value, list) else value.shape
        for key, value in arguments.items()
    }


def _not_rebuilt_finding(layer):
    why = layer.why
    reason = getattr(why, "reason", None) or (str(why).splitlines()[0] if why else None)
    if isinstance(why, (UnsafeConfig, NotRebuilt)) and getattr(why, "refused", True):
        fix = None
    elif why is None or isinstance(why, UnknownClass):
        fix = f"import the module that defines {layer.class_name} before checking"
    else:
        fix = f"correct the config of '{layer.name}'"
    because = f" ({reason})" if reason else ""
    return Finding(
        layer.name,
        f"Layer '{layer.name}' ({layer.class_name}) could not be rebuilt from its "
        f"config{because}, so it and the layers after it were not checked.",
        fix,
        "info",
    )


class _LintVisitor(Visitor):
    """One model level of the lint walk: its layer source and its name prefix."""

    def __init__(self, linter, source, prefix):
        self.linter = linter
        self.source = source
        self.prefix = prefix

    def input_layer(self, entry):
        return Tensor(_declared_shape(entry), entry_name(entry), True)

    def no_input(self, entry):
        # A nested model first in line brings its own input shape.
        if not is_model_config(entry.get("config")):
            raise _NoInputShape(self.prefix.rstrip("/"))
        return None

    def call(self, entry, inputs, multi, node_index, arguments=None):
        options = call_options(entry, node_index)
        return self.linter.apply(entry, self.source, inputs, multi, self.prefix, arguments, options)

    def missing(self, entry, ref):
        if entry is None:
            name = self.prefix.rstrip("/") or "model"
            who = "The model's output"
        else:
            name = self.prefix + entry_name(entry)
            who = f"Layer '{name}' ({entry['class_name']})"
        self.linter.findings.append(
            Finding(
                name,
                f"{who} takes output {ref[2]} of call {ref[1]} of layer '{ref[0]}', which the "
                "model config does not define, so it and the layers after it were not checked.",
                None,
                "info",
            )
        )
        return UNKNOWN


def _declared_shape(entry):
    config = entry.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None:
        return None
    if not _is_shape(shape):
        raise ValueError(
            f"Input layer '{entry_name(entry)}' declares an invalid shape, expected a list of "
            f"non-negative integers or None. Received: batch_shape={short_repr(shape)}"
        )
    return tuple(shape)


def _is_shape(value):
    return isinstance(value, (list, tuple)) and all(_valid_dim(d) for d in value)


def _valid_dim(dim):
    return dim is None or (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0)


def _valid_input_shape(input_shape):
    if input_shape is None:
        return None
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if not shape or not all(_valid_dim(d) for d in shape):
        raise ValueError(
            "Received an invalid value for `input_shape`, expected the batch shape as a "
            "tuple of integers or None, as for `model.build`, e.g. (None, 5, 1). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _lint(config, source, name, input_shape, fallback_shapes=()):
    """A `ShapeReport` for a model config, `source` providing its layers."""
    if not is_model_config(config):
        return ShapeReport(
            name,
            (
                Finding(
                    name,
                    f"Model '{name}' is a subclassed model, so its layers cannot be "
                    "checked before it runs.",
                    "check_fit_data(model, x, y)  # or wrap the fit in explain_shape_errors()",
                    "info",
                ),
            ),
        )
    linter = _Linter()
    functional = "input_layers" in config
    if functional and input_shape is not None:
        raise ValueError(
            f"`input_shape` applies only to Sequential models; the inputs of the "
            f"Functional model '{name}' fix its shapes. Received: input_shape={input_shape}"
        )
    inputs = []
    if not functional:
        shape = input_shape
        if shape is None and not any(
            e["class_name"] == "InputLayer" for e in layer_entries(config)
        ):
            shape = next((tuple(s) for s in fallback_shapes if s and _is_shape(s)), None)
        if shape is not None:
            inputs = [Tensor(shape, "input", True)]
    try:
        linter.model(config, source, inputs)
    except _NoInputShape as missing:
        if not str(missing):
            raise ValueError(
                f"Sequential model '{name}' has no input shape, so its layers cannot be "
                "checked.\n"
                "  Fix: check_model(model, input_shape=(None, timesteps, features))  "
                "# or start the model with keras.Input((timesteps, features))"
            ) from None
        raise ValueError(
            f"The nested Sequential model '{missing}' has no input shape, so model "
            f"'{name}' cannot be checked.\n"
            "  Fix: start the nested model with keras.Input((timesteps, features))"
        ) from None
    return ShapeReport(name, tuple(linter.findings), linter.checked)


def _live_fallback_shapes(model):
    shapes = []
    with contextlib.suppress(Exception):
        shapes.append(tuple(model.inputs[0].shape))
    return shapes


def check_model(model, input_shape=None, *, raise_on_error=True):
    """Lints a model for sequence-shape mistakes, before Keras builds or runs it.

    Shapes are propagated layer by layer with `compute_output_shape`, without
    building anything, through Sequential models (built or not), Functional
    models and models nested in either. Three mistakes are errors:

    - a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `ConvLSTM*D`, or
      `Bidirectional` of one) with `return_sequences=False` feeding a layer
      that needs a time axis (`TimeDistributed`, `TimeDistributedDense`,
      another recurrent layer, `Conv1D`, the 1D pooling layers), even through
      layers that keep the rank, such as `Dropout` or `Dense`;
    - a per-step layer fed a tensor without a time axis;
    - a recurrent layer fed an input without a time axis.

    Any other input a layer rejects (by its `input_spec` or its
    `compute_output_shape`) is an error too. A layer whose output shape cannot
    be inferred statically gives an `"info"` finding, and the layers after it
    on that path are not checked.

    Args:
        model: A `keras.Model`. Subclassed models get an `"info"` finding only.
        input_shape: Optional batch shape, as for `model.build`, e.g.
            `(None, 5, 1)`; needed for a Sequential model without a
            `keras.Input` that is not built, and used instead of the built
            shape when given. Not accepted for Functional models.
        raise_on_error: If True, raise the first error as `SequenceShapeError`.

    Returns:
        A `ShapeReport`; `report.ok` is True when no error was found.

    Raises:
        SequenceShapeError: With `raise_on_error`, on the first error.
        ValueError: A Sequential model has no input shape and none was given,
            or `input_shape` is invalid or given for a Functional model.

    Example:

    >>> model = keras.Sequential([keras.layers.LSTM(5, name="encoder"),
    ...     keras.layers.TimeDistributed(keras.layers.Dense(1), name="head")])
    >>> report = check_model(model, (None, 5, 1), raise_on_error=False)
    >>> print(report.findings[0])
    Layer 'encoder' (LSTM) returns only its last step, but layer 'head' (TimeDistributed) after it needs a time axis.
      Received: shape (None, 5) at the input of 'head'
      Expected: shape (batch, time, ..., features), rank >= 3
      Fix: LSTM(5, return_sequences=True)  # layer 'encoder'
    """  # noqa: E501
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Received an invalid value for `model`, expected a `keras.Model`. "
            f"Received: model={short_repr(model)} of type {type(model).__name__}"
        )
    input_shape = _valid_input_shape(input_shape)
    if isinstance(model, keras.Sequential):
        try:
            config = model.get_config()
        except Exception:
            # A layer without a working `get_config` still has a class and a name.
            config = {
                "layers": [
                    {"class_name": type(layer).__name__, "config": {"name": layer.name}}
                    for layer in model.layers
                ]
            }
        fallback = [config.get("build_input_shape"), *_live_fallback_shapes(model)]
    else:
        try:
            config = model.get_config()
        except Exception:
            config = None
        fallback = []
    report = _lint(config, _LiveSource(model), model.name, input_shape, fallback)
    if raise_on_error and report.errors:
        raise SequenceShapeError(str(report.errors[0]))
    return report


def check_saved_config(saved, input_shape=None):
    """A `ShapeReport` for a saved model's config, such as a `.keras` file's config.json.

    Each layer is rebuilt on its own from its config, unbuilt, so no weights
    are created and one layer Keras cannot rebuild spoils nothing else.
    """
    config = saved["config"]
    name = config.get("name") if isinstance(config.get("name"), str) else "model"
    class_name = saved.get("class_name")
    try:
        _, config = read_model_config(saved)
    except ValueError:
        config = None
    if not is_model_config(config):
        module = saved.get("module")
        where = f" from module {short_repr(module)}" if module else ""
        return ShapeReport(
            name,
            (
                Finding(
                    name,
                    f"Model '{name}' is of class {short_repr(class_name)}{where}, not a "
                    "Sequential or Functional model, so its layers cannot be checked from "
                    "its config.",
                    "check_fit_data(model, x, y)  # in code that trusts and imports the model",
                    "info",
                ),
            ),
        )
    # The config holds the saved build shape now (see `read_model_config`).
    fallback = [config.get("build_input_shape")]
    return _lint(config, _ConfigSource(), name, _valid_input_shape(input_shape), fallback)
