"""Parameter counts with their working, computed without building any weights.

Keras counts parameters only after `build` has created the weights, and never
says where the number comes from. `count_params` and `explain_params` derive
the weight shapes of a layer from its configuration and an input shape, the
way the weights would be created, and show the formula: an `LSTM(5)` on one
feature has `4 * ((1 + 1) * 5 + 5^2) = 140` parameters. `param_table` does the
same for every layer of a model, a model config or a `.keras` file, reading
its config and loading no weights.

A layer this module has no formula for raises a `ValueError` that names its
class; `allow_build=True` counts it by building a throwaway copy instead.
"""

import argparse
import dataclasses
import json
import math
import numbers
import os
import re
import sys
import warnings
import zipfile
import zlib

import keras
from keras import layers

from keras_tdplus._time_axis import format_shape
from keras_tdplus.errors import SequenceShapeError
from keras_tdplus.time_distributed import TimeDistributed as _TdplusTimeDistributed
from keras_tdplus.time_distributed_dense import TimeDistributedDense as _TimeDistributedDense

_ZERO_PARAM_CLASSES = (
    "InputLayer",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Masking",
    "Reshape",
    "Flatten",
    "RepeatVector",
    "Permute",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Identity",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
    "UpSampling1D",
    "UpSampling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
)
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One weight a layer would create: its name, shape and trainability."""

    name: str
    shape: tuple
    trainable: bool

    @property
    def size(self):
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class ParamExplanation:
    """A layer's parameter count with the formula that gives it.

    Attributes:
        class_name: The layer's class, e.g. `"LSTM"`.
        layer_name: The layer's `name`.
        signature: The arguments that set the count, e.g. `"LSTM(units=5)"`.
        variables: The sizes read from the input shape, e.g. `{"inputs": 1}`.
        formula: The count in symbols, e.g.
            `"4 * ((inputs + 1) * units + units^2)"`.
        substituted: The same with the numbers in, e.g.
            `"4 * ((1 + 1) * 5 + 5^2)"`.
        weights: The `WeightSpec`s the layer would create when built.
        total: The number of parameters.
        trainable: How many of them are trainable.
        non_trainable: How many are not (moving statistics, frozen layers).

    Example:

    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> explanation = tdp.explain_params(layers.GRU(3), (None, 4, 2))
    >>> explanation.formula
    '3 * ((inputs + 2) * units + units^2)'
    >>> explanation.total, explanation.trainable, explanation.non_trainable
    (63, 63, 0)
    """

    class_name: str
    layer_name: str
    signature: str
    variables: dict
    formula: str
    substituted: str
    weights: tuple

    @property
    def total(self):
        return sum(w.size for w in self.weights)

    @property
    def trainable(self):
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable(self):
        return self.total - self.trainable

    def __str__(self):
        head = self.signature
        if self.variables:
            head += " on " + ", ".join(f"{k}={v}" for k, v in self.variables.items())
        working = f"n = {self.substituted}"
        if self.substituted != str(self.total):
            working += f" = {self.total}"
        if self.non_trainable:
            working += f" ({self.trainable} trainable, {self.non_trainable} non-trainable)"
        return f"{head}: {working}"

    def __repr__(self):
        return (
            f"ParamExplanation(layer_name={self.layer_name!r}, class_name={self.class_name!r}, "
            f"total={self.total}, trainable={self.trainable}, "
            f"non_trainable={self.non_trainable}, formula={self.formula!r})"
        )

    def to_dict(self):
        """A JSON-serializable dict of every field and count."""
        return {
            "class_name": self.class_name,
            "layer_name": self.layer_name,
            "signature": self.signature,
            "variables": dict(self.variables),
            "formula": self.formula,
            "substituted": self.substituted,
            "total": self.total,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "weights": [
                {"name": w.name, "shape": list(w.shape), "trainable": w.trainable}
                for w in self.weights
            ],
        }


@dataclasses.dataclass(frozen=True)
class ParamRow:
    """One layer of a `ParamTable`: its name, class, output shape and count."""

    name: str
    class_name: str
    output_shape: object
    explanation: ParamExplanation

    @property
    def formula(self):
        return self.explanation.formula

    @property
    def substituted(self):
        return self.explanation.substituted

    @property
    def total(self):
        return self.explanation.total

    @property
    def trainable(self):
        return self.explanation.trainable

    @property
    def non_trainable(self):
        return self.explanation.non_trainable


@dataclasses.dataclass(frozen=True)
class ParamTable:
    """Per-layer parameter counts of a model, printed like `model.summary()`.

    Attributes:
        name: The model's name.
        class_name: `"Sequential"` or `"Functional"`.
        rows: One `ParamRow` per layer, in the order of `model.layers`.
        output_shape: The model's output shape (a list for several outputs).
        weights: Every `WeightSpec` of the model, named `"layer/weight"`, with
            the trainable flag its variable would get.
        model_trainable: The model's own `trainable` flag.
        total: The number of parameters.
        trainable: How many of them are trainable, counted the way
            `model.trainable_weights` counts them.
        non_trainable: How many are not.

    Example:

    >>> import keras
    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([
    ...     keras.Input((5, 1)),
    ...     layers.LSTM(5, return_sequences=True, name="lstm"),
    ...     tdp.TimeDistributedDense(1, name="head"),
    ... ])
    >>> table = tdp.param_table(model)
    >>> [(row.name, row.explanation.total) for row in table.rows]
    [('lstm', 140), ('head', 6)]
    >>> table.total, table.trainable, table.non_trainable
    (146, 146, 0)
    """

    name: str
    class_name: str
    rows: tuple
    output_shape: object
    weights: tuple
    model_trainable: bool = True

    @property
    def total(self):
        return sum(w.size for w in self.weights)

    @property
    def trainable(self):
        if not self.model_trainable:
            return 0
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable(self):
        return self.total - self.trainable

    def __str__(self):
        headers = ("Layer (type)", "Output Shape", "Formula", "Param #")
        cells = [
            (
                f"{r.name} ({r.class_name})",
                _format_output_shape(r.output_shape),
                r.substituted,
                f"{r.total:,}",
            )
            for r in self.rows
        ]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) + 2 for i, h in enumerate(headers)]

        def line(left, fill, sep, right):
            return left + sep.join(fill * w for w in widths) + right

        def row(values, bar):
            padded = [
                f" {v:>{w - 2}} " if i == 3 else f" {v:<{w - 2}} "
                for i, (v, w) in enumerate(zip(values, widths, strict=True))
            ]
            return bar + bar.join(padded) + bar

        out = [
            f'Model: "{self.name}"',
            line("┏", "━", "┳", "┓"),
            row(headers, "┃"),
            line("┡", "━", "╇", "┩"),
        ]
        for i, values in enumerate(cells):
            if i:
                out.append(line("├", "─", "┼", "┤"))
            out.append(row(values, "│"))
        out.append(line("└", "─", "┴", "┘"))
        out += [
            f" Total params: {self.total:,}",
            f" Trainable params: {self.trainable:,}",
            f" Non-trainable params: {self.non_trainable:,}",
        ]
        return "\n".join(out)

    def __repr__(self):
        return (
            f"ParamTable(name={self.name!r}, class_name={self.class_name!r}, "
            f"rows={len(self.rows)}, total={self.total}, trainable={self.trainable}, "
            f"non_trainable={self.non_trainable})"
        )

    def to_dict(self):
        """A JSON-serializable dict of the rows and totals."""
        return {
            "name": self.name,
            "class_name": self.class_name,
            "output_shape": _jsonable_shape(self.output_shape),
            "rows": [
                {
                    "name": r.name,
                    "class_name": r.class_name,
                    "output_shape": _jsonable_shape(r.output_shape),
                    **r.explanation.to_dict(),
                }
                for r in self.rows
            ],
            "total": self.total,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
        }


def count_params(layer, input_shape, allow_build=False):
    """Counts a layer's parameters without building it.

    The count is derived from the layer's configuration and `input_shape`,
    exactly as `layer.count_params()` would report it once built. The layer
    stays unbuilt: no weights are created.

    Args:
        layer: A `keras.layers.Layer` (built or not), a Sequential or
            Functional model, or a serialized layer config
            (`{"class_name": ..., "config": ...}`).
        input_shape: The input shape including the batch axis, e.g.
            `(None, 5, 1)`; a list of shapes for a merging layer.
        allow_build: For a layer without a formula here, count it by building
            a throwaway copy instead of raising.

    Returns:
        The number of parameters, an `int`.

    Example:

    >>> count_params(keras.layers.LSTM(5), (None, 1, 1))
    140
    """
    return explain_params(layer, input_shape, allow_build=allow_build).total


def explain_params(layer, input_shape, allow_build=False):
    """Counts a layer's parameters without building it and shows the working.

    Args:
        layer: A `keras.layers.Layer` (built or not), a Sequential or
            Functional model, or a serialized layer config
            (`{"class_name": ..., "config": ...}`).
        input_shape: The input shape including the batch axis, e.g.
            `(None, 5, 1)`; a list of shapes for a merging layer.
        allow_build: For a layer without a formula here, count it by building
            a throwaway copy instead of raising.

    Returns:
        A `ParamExplanation` with `total`, `trainable`, `non_trainable`,
        `formula` and `substituted`.

    Raises:
        ValueError: For a layer class with no formula here (unless
            `allow_build=True`) or an input shape the layer cannot take.
        SequenceShapeError: For an input shape of the wrong rank.

    Example:

    >>> explanation = explain_params(keras.layers.LSTM(5), (None, 1, 1))
    >>> print(explanation)
    LSTM(units=5) on inputs=1: n = 4 * ((1 + 1) * 5 + 5^2) = 140
    >>> explanation.formula
    '4 * ((inputs + 1) * units + units^2)'
    """
    shape = _normalize_shape(input_shape, "input_shape")
    if isinstance(layer, dict):
        if _is_model_config(layer):
            return _table_explanation(_table(_model_config(layer), shape, allow_build))
        layer = _deserialize_layer(layer)
    elif not isinstance(layer, layers.Layer):
        raise TypeError(
            "Received an invalid value for `layer`, expected a `keras.layers.Layer` or a "
            f"serialized layer config. Received: layer={layer!r} of type {type(layer).__name__}"
        )
    return _layer_view(layer, _explain(layer, shape, allow_build))


def param_table(source, input_shape=None, allow_build=False):
    """The per-layer parameter counts of a model, with their formulas.

    Works from the model's config: no layer is built and no weights are
    loaded, so a `.keras` file is read for its `config.json` alone.

    Args:
        source: A Sequential or Functional model (built or not), its config
            (`keras.saving.serialize_keras_object(model)` or
            `model.get_config()`), or the path to a `.keras` file.
        input_shape: The input shape including the batch axis, for a
            Sequential model that has no `Input` and was never built.
        allow_build: For layers without a formula here, count them by
            building throwaway copies instead of raising.

    Returns:
        A `ParamTable`; `print()` it for a `model.summary()`-like table.

    Example:

    >>> model = keras.Sequential(
    ...     [keras.Input((1, 1)), keras.layers.LSTM(5), keras.layers.Dense(1)]
    ... )
    >>> table = param_table(model)
    >>> [(row.substituted, row.total) for row in table.rows]
    [('4 * ((1 + 1) * 5 + 5^2)', 140), ('5 * 1 + 1', 6)]
    >>> table.total
    146
    """
    config = _model_config(source)
    shape = None if input_shape is None else _normalize_shape(input_shape, "input_shape")
    return _table(config, shape, allow_build)


def read_keras_config(path):
    """The model config stored in a `.keras` file, read without its weights.

    Args:
        path: Path to a `.keras` file.

    Returns:
        The parsed `config.json`: a serialized model dict.

    Raises:
        FileNotFoundError: If there is no file at `path`.
        ValueError: If the file is not a readable `.keras` archive.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such .keras file: '{path}'")
    if os.path.isdir(path):
        raise ValueError(f"'{path}' is a folder, expected a .keras file")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(
                    f"'{path}' is not a .keras model file: its archive has no config.json"
                )
            raw = archive.read("config.json")
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(
            f"Could not read '{path}' as a .keras file: it is not a zip archive or it is "
            f"truncated or corrupt ({error})"
        ) from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"Could not read '{path}': its config.json is not valid JSON ({error})"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"Could not read '{path}': its config.json does not hold a model config")
    return config


def covered_layers():
    """The names of the layer classes `count_params` has a formula for."""
    return tuple(sorted({*_formula_handlers(), *_ZERO_PARAM_CLASSES, *_MODEL_CLASSES[:2]}))


# Formulas, one per layer class. Each gives the weights with the trainable flag
# their variables would get; `_layer_view` applies the counted layer's own flag.


def _explain(layer, shape, allow_build):
    if type(layer) is keras.Sequential or _is_functional(layer):
        return _table_explanation(_table(_model_config(layer), shape, allow_build), view=False)
    class_name = type(layer).__name__
    handler = _formula_handlers().get(class_name)
    if handler is None and class_name in _ZERO_PARAM_CLASSES:
        handler = _zero
    if handler is not None and not _is_exact(layer, class_name):
        handler = None
    if handler is None:
        if allow_build:
            return _explain_by_building(layer, shape)
        raise ValueError(
            f"Layer '{layer.name}' ({class_name}) has no parameter formula in keras_tdplus. "
            "Fix: pass allow_build=True to count it by building a throwaway copy"
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
    return handler(layer, shape, allow_build)


def _layer_view(layer, explanation):
    """What `layer.trainable_weights` reports: nothing when `layer` is frozen."""
    return explanation if layer.trainable else _frozen(explanation)


def _is_exact(layer, class_name):
    """True when `layer` is the very class the formula is for, not a subclass."""
    known = getattr(layers, class_name, None)
    if class_name == "TimeDistributed" and type(layer) is _TdplusTimeDistributed:
        return True
    if class_name == "TimeDistributedDense":
        return type(layer) is _TimeDistributedDense
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


def _leaf(layer, signature, template, values, on, weights, owner=None):
    # Keras marks a variable non-trainable when the layer that creates it is
    # not trainable; the layers around it only filter what they report.
    trainable = (owner or layer).trainable
    return ParamExplanation(
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=signature,
        variables={name: values[name] for name in on},
        formula=template.format_map({name: name for name in values}),
        substituted=template.format_map(values),
        weights=tuple(
            WeightSpec(name, tuple(shape), train and trainable) for name, shape, train in weights
        ),
    )


def _zero(layer, shape, allow_build):
    name = type(layer).__name__
    return ParamExplanation(name, layer.name, name, {}, "0", "0", ())


def _no_bias(layer):
    return "" if layer.use_bias else ", use_bias=False"


def _dense(layer, shape, allow_build):
    _require_rank(layer, shape, min_rank=2, expected="(batch, ..., inputs)")
    inputs = _known(layer, shape, -1, "inputs")
    units = layer.units
    weights = [("kernel", (inputs, units), True)]
    template = "{inputs} * {units}"
    if layer.use_bias:
        weights.append(("bias", (units,), True))
        template += " + {units}"
    signature = f"{type(layer).__name__}(units={units}{_no_bias(layer)})"
    values = {"inputs": inputs, "units": units}
    return _leaf(layer, signature, template, values, ("inputs",), weights)


def _time_distributed_dense(layer, shape, allow_build):
    _require_rank(layer, shape, min_rank=3, expected="(batch, time, ..., inputs)")
    return _dense(layer, shape, allow_build)


_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _recurrent(layer, shape, allow_build):
    _require_rank(layer, shape, rank=3, expected="(batch, time, features)")
    cell = layer.cell
    inputs = _known(layer, shape, -1, "inputs")
    units = cell.units
    gates = _GATES[type(layer).__name__]
    reset_after = type(layer).__name__ == "GRU" and cell.reset_after
    weights = [
        ("kernel", (inputs, gates * units), True),
        ("recurrent_kernel", (units, gates * units), True),
    ]
    if cell.use_bias:
        bias_shape = (2, gates * units) if reset_after else (gates * units,)
        weights.append(("bias", bias_shape, True))
        biases = " + 2" if reset_after else " + 1"
        inner = f"({{inputs}}{biases}) * {{units}} + {{units}}^2"
    else:
        inner = "{inputs} * {units} + {units}^2"
    template = inner if gates == 1 else f"{gates} * ({inner})"
    signature = f"{type(layer).__name__}(units={units}{_no_bias(cell)}"
    if type(layer).__name__ == "GRU" and cell.use_bias:
        signature += f", reset_after={cell.reset_after}"
    signature += ")"
    values = {"inputs": inputs, "units": units}
    return _leaf(layer, signature, template, values, ("inputs",), weights, owner=cell)


def _kernel_terms(kernel_size):
    names = [f"k{i + 1}" for i in range(len(kernel_size))]
    return names, dict(zip(names, kernel_size, strict=True))


def _conv(layer, shape, allow_build):
    rank = len(layer.kernel_size)
    spatial = ", ".join(f"d{i + 1}" for i in range(rank))
    if layer.data_format == "channels_last":
        expected, axis = f"(batch, {spatial}, channels)", -1
    else:
        expected, axis = f"(batch, channels, {spatial})", 1
    _require_rank(layer, shape, rank=rank + 2, expected=expected)
    channels = _known(layer, shape, axis, "channels")
    groups = layer.groups
    if channels % groups:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs input channels divisible by "
            f"`groups`. Received: groups={groups}, channels={channels}, "
            f"input_shape={format_shape(shape)}"
        )
    filters = layer.filters
    names, values = _kernel_terms(layer.kernel_size)
    values.update(channels=channels, groups=groups, filters=filters)
    weights = [("kernel", (*layer.kernel_size, channels // groups, filters), True)]
    per_filter = "({channels} / {groups})" if groups > 1 else "{channels}"
    template = " * ".join(f"{{{n}}}" for n in names) + f" * {per_filter} * {{filters}}"
    if layer.use_bias:
        weights.append(("bias", (filters,), True))
        template += " + {filters}"
    kernel_size = layer.kernel_size[0] if rank == 1 else tuple(layer.kernel_size)
    signature = f"{type(layer).__name__}(filters={filters}, kernel_size={kernel_size}"
    signature += (f", groups={groups}" if groups > 1 else "") + _no_bias(layer) + ")"
    return _leaf(layer, signature, template, values, ("channels",), weights)


def _conv_lstm(layer, shape, allow_build):
    cell = layer.cell
    rank = len(cell.kernel_size)
    spatial = ", ".join(f"d{i + 1}" for i in range(rank))
    if cell.data_format == "channels_last":
        expected, axis = f"(batch, time, {spatial}, channels)", -1
    else:
        expected, axis = f"(batch, time, channels, {spatial})", 2
    _require_rank(layer, shape, rank=rank + 3, expected=expected)
    channels = _known(layer, shape, axis, "channels")
    filters = cell.filters
    names, values = _kernel_terms(cell.kernel_size)
    values.update(channels=channels, filters=filters)
    kernels = " * ".join(f"{{{n}}}" for n in names)
    weights = [
        ("kernel", (*cell.kernel_size, channels, 4 * filters), True),
        ("recurrent_kernel", (*cell.kernel_size, filters, 4 * filters), True),
    ]
    if cell.use_bias:
        weights.append(("bias", (4 * filters,), True))
        template = f"4 * ({kernels} * ({{channels}} + {{filters}}) * {{filters}} + {{filters}})"
    else:
        template = f"4 * {kernels} * ({{channels}} + {{filters}}) * {{filters}}"
    kernel_size = cell.kernel_size[0] if rank == 1 else tuple(cell.kernel_size)
    signature = (
        f"{type(layer).__name__}(filters={filters}, kernel_size={kernel_size}{_no_bias(cell)})"
    )
    return _leaf(layer, signature, template, values, ("channels",), weights, owner=cell)


def _embedding(layer, shape, allow_build):
    values = {"input_dim": layer.input_dim, "output_dim": layer.output_dim}
    signature = f"Embedding(input_dim={layer.input_dim}, output_dim={layer.output_dim})"
    weights = [("embeddings", (layer.input_dim, layer.output_dim), True)]
    return _leaf(layer, signature, "{input_dim} * {output_dim}", values, (), weights)


def _axes_shape(layer, shape, axes):
    for axis in axes:
        if not -len(shape) <= axis < len(shape):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) normalizes over `axis`={axis}, "
                f"which input_shape {format_shape(shape)} does not have. "
                f"Received: axis={layer.axis}, input_shape={format_shape(shape)}"
            )
        _known(layer, shape, axis, "features")
    return tuple(shape[axis] for axis in axes)


def _layer_normalization(layer, shape, allow_build):
    axes = sorted(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    weight_shape = _axes_shape(layer, shape, axes)
    weights = []
    if layer.scale or layer.rms_scaling:
        weights.append(("gamma", weight_shape, True))
    if layer.center and not layer.rms_scaling:
        weights.append(("beta", weight_shape, True))
    template = {0: "0", 1: "{features}", 2: "2 * {features}"}[len(weights)]
    options = [
        f"{name}={getattr(layer, name)}"
        for name, default in (("center", True), ("scale", True), ("rms_scaling", False))
        if getattr(layer, name) != default
    ]
    signature = "LayerNormalization" + (f"({', '.join(options)})" if options else "")
    values = {"features": math.prod(weight_shape)}
    return _leaf(layer, signature, template, values, ("features",), weights)


def _batch_normalization(layer, shape, allow_build):
    weight_shape = _axes_shape(layer, shape, [layer.axis])
    weights = []
    if layer.scale:
        weights.append(("gamma", weight_shape, True))
    if layer.center:
        weights.append(("beta", weight_shape, True))
    moving = ["moving_mean", "moving_variance"]
    if layer.renorm:
        moving += ["moving_stddev", "renorm_mean", "renorm_stddev"]
    weights += [(name, weight_shape, False) for name in moving]
    learned = {0: "", 1: "{features} + ", 2: "2 * {features} + "}[len(weights) - len(moving)]
    template = f"{learned}{len(moving)} * {{features}}"
    options = [
        f"{name}={getattr(layer, name)}"
        for name, default in (("center", True), ("scale", True), ("renorm", False))
        if getattr(layer, name) != default
    ]
    signature = "BatchNormalization" + (f"({', '.join(options)})" if options else "")
    values = {"features": weight_shape[0]}
    return _leaf(layer, signature, template, values, ("features",), weights)


def _einsum_dense(layer, shape, allow_build):
    equation = layer.equation
    spec = _einsum_spec(layer, shape)
    input_spec, weight_spec, output_spec, left_elided, elided = spec
    output_shape = [shape[0], *layer.partial_output_shape]
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, shape[i])
    elif elided > 0:
        output_shape.extend(shape[len(shape) - elided :])
    offset = elided if left_elided else 0
    input_axis = {
        dim: (i + elided - len(shape) if left_elided else i) for i, dim in enumerate(input_spec)
    }
    output_axis = {dim: i + offset for i, dim in enumerate(output_spec)}
    for dim in input_spec:
        size, out = shape[input_axis[dim]], output_shape[output_axis.get(dim, 0)]
        if dim in output_axis and out is not None and out != size:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) has `output_shape` {out} at shared "
                f"dimension '{dim}' of equation '{equation}', but the input has {size}. "
                f"Received: output_shape={layer.partial_output_shape}, "
                f"input_shape={format_shape(shape)}"
            )
    values, from_input = {}, []
    for dim in weight_spec:
        if dim in output_axis:
            values[dim] = output_shape[output_axis[dim]]
        elif dim in input_axis:
            values[dim] = shape[input_axis[dim]]
            from_input.append(dim)
        else:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense): weight dimension '{dim}' of equation "
                f"'{equation}' is in neither the input nor the output spec"
            )
        if values[dim] is None:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) needs a known size for dimension '{dim}' "
                f"of equation '{equation}' to count its kernel. "
                f"Received: input_shape={format_shape(shape)}, "
                f"output_shape={layer.partial_output_shape}"
            )
    weights = [("kernel", tuple(values[dim] for dim in weight_spec), True)]
    template = " * ".join(f"{{{dim}}}" for dim in weight_spec)
    bias_axes = layer.bias_axes
    if bias_axes is not None:
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(
                    f"Layer '{layer.name}' (EinsumDense) has `bias_axes`='{bias_axes}', but "
                    f"'{char}' is not in the output spec '{output_spec}' of equation '{equation}'"
                )
        first = min(output_spec.find(char) for char in bias_axes)
        bias_dims = output_spec[first:]
        bias_shape = [output_shape[output_axis[c]] if c in bias_axes else 1 for c in bias_dims]
        if not left_elided:
            bias_shape += [1] * elided
        if None in bias_shape:
            raise ValueError(
                f"Layer '{layer.name}' (EinsumDense) needs known sizes for `bias_axes`="
                f"'{bias_axes}'. Received: input_shape={format_shape(shape)}"
            )
        weights.append(("bias", tuple(bias_shape), True))
        for char in bias_dims:
            if char in bias_axes:
                values.setdefault(char, output_shape[output_axis[char]])
        template += " + " + " * ".join(f"{{{c}}}" for c in bias_dims if c in bias_axes)
    partial = layer.partial_output_shape
    signature = f"EinsumDense(equation={equation!r}, output_shape={partial}"
    signature += (f", bias_axes={bias_axes!r}" if bias_axes is not None else "") + ")"
    return _leaf(layer, signature, template, values, tuple(dict.fromkeys(from_input)), weights)


def _einsum_spec(layer, shape):
    equation = layer.equation.replace("...", "0")
    patterns = (
        (r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),
        (r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
        (r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False),
    )
    for pattern, left in patterns:
        match = re.match(pattern, equation)
        if match:
            left_elided = left
            break
    else:
        raise ValueError(
            f"Layer '{layer.name}' (EinsumDense) has an equation it cannot take. Expected the "
            "form [X],[Y]->[Z], ...[X],[Y]->...[Z] or [X]...,[Y]->[Z].... "
            f"Received: equation={layer.equation!r}"
        )
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(shape) - len(input_spec)
    if elided < 0 or ("..." not in layer.equation and elided != 0):
        rank = len(input_spec)
        expected = f"rank {rank}" if "..." not in layer.equation else f"rank >= {rank}"
        _raise_rank(layer, shape, expected, f"input_spec '{input_spec}'", rank)
    return input_spec, weight_spec, output_spec, left_elided, elided


def _time_distributed(layer, shape, allow_build):
    _require_rank(layer, shape, min_rank=3, expected="(batch, time, ...)")
    step = (shape[0], *shape[2:])
    try:
        inner = _explain(layer.layer, step, allow_build)
    except SequenceShapeError as error:
        problem = getattr(error, "rank_problem", None)
        if problem is None:
            raise _inside_error(layer, error) from None
        _raise_step_rank(layer, shape, layer.layer, problem)
    return dataclasses.replace(
        inner,
        class_name=type(layer).__name__,
        layer_name=layer.name,
        signature=f"TimeDistributed({inner.signature})",
    )


def _bidirectional(layer, shape, allow_build):
    forward = _inside(layer, _explain, layer.forward_layer, shape, allow_build)
    backward = _inside(layer, _explain, layer.backward_layer, shape, allow_build)
    merge = f"merge_mode={layer.merge_mode!r}"
    twin = (
        forward.substituted == backward.substituted
        and forward.formula == backward.formula
        and [(w.shape, w.trainable) for w in forward.weights]
        == [(w.shape, w.trainable) for w in backward.weights]
    )
    weights = tuple(
        dataclasses.replace(w, name=f"{side}/{w.name}")
        for side, part in (("forward", forward), ("backward", backward))
        for w in part.weights
    )
    if twin:
        signature = f"Bidirectional({forward.signature}, {merge})"
        formula, substituted = f"2 * ({forward.formula})", f"2 * ({forward.substituted})"
    else:
        signature = (
            f"Bidirectional({forward.signature}, backward_layer={backward.signature}, {merge})"
        )
        formula = f"({forward.formula}) + ({backward.formula})"
        substituted = f"({forward.substituted}) + ({backward.substituted})"
    variables = {**forward.variables, **backward.variables}
    return ParamExplanation(
        "Bidirectional", layer.name, signature, variables, formula, substituted, weights
    )


def _inside_error(wrapper, error):
    """The inner layer's `error` with an `Inside:` line naming the wrapper."""
    where = f"layer '{wrapper.name}' ({type(wrapper).__name__})"
    return SequenceShapeError(f"{error}\n  Inside: {where}")


def _inside(wrapper, explain, inner, shape, allow_build):
    try:
        return explain(inner, shape, allow_build)
    except SequenceShapeError as error:
        raise _inside_error(wrapper, error) from None


def _formula_handlers():
    return {
        "Dense": _dense,
        "TimeDistributedDense": _time_distributed_dense,
        "EinsumDense": _einsum_dense,
        "TimeDistributed": _time_distributed,
        "Bidirectional": _bidirectional,
        "LSTM": _recurrent,
        "GRU": _recurrent,
        "SimpleRNN": _recurrent,
        "Embedding": _embedding,
        "Conv1D": _conv,
        "Conv2D": _conv,
        "Conv3D": _conv,
        "ConvLSTM1D": _conv_lstm,
        "ConvLSTM2D": _conv_lstm,
        "LayerNormalization": _layer_normalization,
        "BatchNormalization": _batch_normalization,
    }


def _explain_by_building(layer, shape):
    """Counts `layer` by building a copy from its config; `layer` stays unbuilt."""
    name = f"Layer '{layer.name}' ({type(layer).__name__})"
    try:
        copy = layer.__class__.from_config(layer.get_config())
        _build_copy(copy, shape)
    except Exception as error:
        raise ValueError(
            f"{name} could not be counted by building a copy on input_shape "
            f"{_format_output_shape(shape)}: {type(error).__name__}: {error}"
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


def _build_copy(copy, shape):
    if _is_shape_list(shape):
        copy([keras.KerasTensor(s) for s in shape])
    else:
        copy(keras.KerasTensor(shape))


# Shapes.


def _normalize_shape(shape, argument):
    if (
        isinstance(shape, (list, tuple))
        and shape
        and all(isinstance(s, (list, tuple)) for s in shape)
    ):
        return [_normalize_shape(s, argument) for s in shape]
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


def _is_shape_list(shape):
    return isinstance(shape, list)


def _require_rank(layer, shape, expected, rank=None, min_rank=None):
    if _is_shape_list(shape):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes one input, expected one "
            f"input_shape such as {expected}. Received: input_shape={shape}"
        )
    too_short = min_rank is not None and len(shape) < min_rank
    if too_short or (rank is not None and len(shape) != rank):
        wanted = f"rank {rank}" if rank is not None else f"rank >= {min_rank}"
        _raise_rank(layer, shape, wanted, expected, rank if rank is not None else min_rank)


def _rank_fixes(shape, expected, rank):
    """`(shape, comment)` suggestions for an input_shape of the wrong rank."""
    if len(shape) != rank - 1:
        return []
    fixes = []
    if shape[0] is None:
        if expected.endswith("channels)"):
            fixes.append(((*shape, 1), "add a channels axis"))
        elif expected.startswith("(batch, channels"):
            fixes.append(((None, 1, *shape[1:]), "add a channels axis"))
        elif "time" in expected:
            fixes.append(((None, 1, *shape[1:]), "one time step"))
        else:
            fixes.append(((None, 1, *shape[1:]), "add the missing axis"))
    else:
        fixes.append(((None, *shape), "input_shape includes the batch axis"))
    return fixes


def _rank_error(first, received, expected, wanted, rank, fixes, fallback):
    """A `SequenceShapeError` for a wrong rank, with what a wrapper needs to restate it."""
    if fixes:
        fix = "\n   or: ".join(f"input_shape={format_shape(f)}  # {c}" for f, c in fixes)
    else:
        fix = fallback
    error = SequenceShapeError(
        f"{first}\n  Received: {received}\n  Expected: input_shape={expected}, {wanted}\n"
        f"  Fix: {fix}"
    )
    error.rank_problem = {"expected": expected, "rank": rank, "at_least": "=" in wanted}
    return error


def _raise_rank(layer, shape, wanted, expected, rank):
    raise _rank_error(
        f"Layer '{layer.name}' ({type(layer).__name__}) needs an input of {wanted}, "
        f"but input_shape has rank {len(shape)}.",
        f"input_shape={format_shape(shape)}",
        expected,
        wanted,
        rank,
        _rank_fixes(shape, expected, rank),
        f"pass an input_shape of {wanted} including the batch axis",
    )


def _raise_step_rank(wrapper, shape, inner, problem):
    """A TimeDistributed's inner layer got a step of the wrong rank: say it in outer terms."""
    expected = problem["expected"]
    if expected.startswith("(batch, "):
        rest = re.sub(r"\b(?<!inner_)time\b", "inner_time", expected[len("(batch, ") :])
        expected = "(batch, time, " + rest
    rank = problem["rank"] + 1
    wanted = f"rank >= {rank}" if problem["at_least"] else f"rank {rank}"
    # The fixes for one step, with its batch axis taken as unknown, then the time axis put back.
    fixes = [
        ((shape[0], shape[1], *fixed[1:]), comment)
        for fixed, comment in _rank_fixes((None, *shape[2:]), problem["expected"], rank - 1)
    ]
    if shape[0] is not None and len(shape) == rank - 1:
        fixes.append(((None, *shape), "input_shape includes the batch axis"))
    raise _rank_error(
        f"Layer '{wrapper.name}' ({type(wrapper).__name__}) calls '{inner.name}' "
        f"({type(inner).__name__}) on each time step, so it needs an input of {wanted}, "
        f"but input_shape has rank {len(shape)}.",
        f"input_shape={format_shape(shape)}; each step is {format_shape((shape[0], *shape[2:]))}",
        expected,
        wanted,
        rank,
        fixes,
        f"pass an input_shape of {wanted} including the batch and time axes",
    ) from None


def _known(layer, shape, axis, symbol):
    size = shape[axis]
    if size is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs a known `{symbol}` size "
            f"(axis {axis}) to count its parameters. Received: input_shape={format_shape(shape)}"
        )
    return size


def _format_output_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, str):
        return shape
    if isinstance(shape, list):
        return "[" + ", ".join(_format_output_shape(s) for s in shape) + "]"
    return format_shape(shape)


def _jsonable_shape(shape):
    if isinstance(shape, str):
        return shape
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    return None if shape is None else list(shape)


def _output_shape(layer, shape):
    """`layer`'s output shape, computed without building it."""
    try:
        out = layer.compute_output_shape(shape)
    except NotImplementedError:
        tensors = (
            [keras.KerasTensor(s) for s in shape]
            if _is_shape_list(shape)
            else keras.KerasTensor(shape)
        )
        out = keras.tree.map_structure(lambda t: tuple(t.shape), layer.compute_output_spec(tensors))
    return _as_shape(out)


def _as_shape(out):
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
        return [_as_shape(o) for o in out]
    if isinstance(out, dict):
        return [_as_shape(o) for o in out.values()]
    return tuple(out)


# Configs and models.


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


def _is_model_config(config):
    return (
        config.get("class_name") in _MODEL_CLASSES
        or "input_layers" in config
        or ("layers" in config and "class_name" not in config)
    )


def _model_config(source):
    """`(class_name, config)` of a model, a model config or a `.keras` path."""
    if isinstance(source, (str, os.PathLike)):
        source = read_keras_config(source)
    elif isinstance(source, keras.Model):
        if type(source) is not keras.Sequential and not _is_functional(source):
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
    elif class_name in _MODEL_CLASSES and isinstance(source.get("config"), dict):
        config = dict(source["config"])
        build_shape = (source.get("build_config") or {}).get("input_shape")
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


def _is_functional(model):
    return type(model).__name__ == "Functional"


def _table_explanation(table, view=True):
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


def _table(model_config, shape, allow_build):
    class_name, config = model_config
    if class_name == "Sequential":
        counted, output = _sequential_rows(config, shape, allow_build)
    else:
        counted, output = _functional_rows(config, allow_build)
    weights = tuple(
        dataclasses.replace(w, name=f"{row.name}/{w.name}")
        for row, variables in counted
        for w in variables.weights
    )
    return ParamTable(
        name=config.get("name", class_name.lower()),
        class_name=class_name,
        rows=tuple(row for row, _ in counted),
        output_shape=output,
        weights=weights,
        model_trainable=bool(config.get("trainable", True)),
    )


def _row(layer_config, shape, allow_build):
    """One layer config on `shape`: `(row, variables, output shape)`.

    `row` holds what the layer reports of itself; `variables` the explanation
    with its variables' own trainable flags, which the model's totals use.
    """
    if layer_config.get("class_name") in _MODEL_CLASSES:
        model_config = _model_config(layer_config)
        table = _table(model_config, shape, allow_build)
        row = ParamRow(table.name, table.class_name, table.output_shape, _table_explanation(table))
        return row, _table_explanation(table, view=False), table.output_shape
    layer = _deserialize_layer(layer_config)
    explanation = _explain(layer, shape, allow_build)
    try:
        output = _output_shape(layer, shape)
    except Exception:
        if not allow_build:
            raise
        copy = layer.__class__.from_config(layer.get_config())
        output = _as_shape(
            keras.tree.map_structure(lambda t: tuple(t.shape), _symbolic_call(copy, shape))
        )
    row = ParamRow(layer.name, type(layer).__name__, output, _layer_view(layer, explanation))
    return row, explanation, output


def _symbolic_call(layer, shape):
    if _is_shape_list(shape):
        return layer([keras.KerasTensor(s) for s in shape])
    return layer(keras.KerasTensor(shape))


def _input_layer_shape(layer_config):
    config = layer_config.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("shape") is not None:
        shape = (None, *config["shape"])
    return _normalize_shape(shape, "batch_shape")


def _sequential_rows(config, shape, allow_build):
    layer_configs = list(config.get("layers", []))
    if layer_configs and layer_configs[0].get("class_name") == "InputLayer":
        first = layer_configs.pop(0)
        if shape is None:
            shape = _input_layer_shape(first)
    if shape is None and config.get("build_input_shape"):
        shape = _normalize_shape(config["build_input_shape"], "build_input_shape")
    name = config.get("name", "sequential")
    if shape is None:
        raise ValueError(
            f"Model '{name}' (Sequential) has no input shape: it has no Input layer and was "
            "never built. Fix: param_table(model, input_shape=(None, ...)) or start the model "
            "with keras.Input(shape=...)"
        )
    counted = []
    for layer_config in layer_configs:
        row, variables, shape = _row(layer_config, shape, allow_build)
        counted.append((row, variables))
        if isinstance(shape, list):
            shape = shape[0]
    return counted, shape


def _functional_rows(config, allow_build):
    outputs = {}
    counted = []
    for layer_config in config.get("layers", []):
        name = layer_config.get("name") or layer_config.get("config", {}).get("name")
        if layer_config.get("class_name") == "InputLayer":
            layer = _deserialize_layer(layer_config)
            shape = _input_layer_shape(layer_config)
            outputs[(name, 0)] = [shape]
            explanation = _zero(layer, shape, allow_build)
            counted.append((ParamRow(name, "InputLayer", shape, explanation), explanation))
            continue
        nodes = layer_config.get("inbound_nodes") or []
        if not nodes:
            raise ValueError(f"Layer '{name}' of the model config has no inbound node")
        for index, node in enumerate(nodes):
            shape = _node_input_shape(name, node, outputs)
            if index == 0:
                row, variables, output = _row(layer_config, shape, allow_build)
            else:
                output = _output_shape(_deserialize_layer(layer_config), shape)
            outputs[(name, index)] = output if isinstance(output, list) else [output]
        if len(nodes) > 1:
            row = dataclasses.replace(row, output_shape="multiple")
        counted.append((row, variables))
    output_refs = config.get("output_layers") or []
    if output_refs and not isinstance(output_refs[0], list):
        output_refs = [output_refs]
    model_outputs = [outputs.get((ref[0], ref[1]), [None])[ref[2]] for ref in output_refs]
    return counted, model_outputs[0] if len(model_outputs) == 1 else model_outputs


def _node_input_shape(name, node, outputs):
    if not isinstance(node, dict) or "args" not in node:
        raise ValueError(
            f"Layer '{name}' has an inbound node in a format this reader does not know "
            "(expected a Keras 3 config). Received: " + repr(node)[:80]
        )

    def shape_of(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            tensor = value["config"]
            if tensor.get("shape") is not None:
                return _normalize_shape(tensor["shape"], "shape")
            producer, index, tensor_index = tensor["keras_history"]
            return outputs[(producer, index)][tensor_index]
        if isinstance(value, (list, tuple)):
            return [shape_of(v) for v in value]
        return None

    if not node["args"]:
        raise ValueError(f"Layer '{name}' has an inbound node without inputs")
    return shape_of(node["args"][0])


# The `keras-tdplus params` command.


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _parser():
    parser = _Parser(
        prog="keras-tdplus params",
        allow_abbrev=False,
        description="Explain a layer's parameter count, or print a saved model's parameter "
        "table. Any other --name VALUE is passed to the layer, e.g. --units 5, "
        "--kernel-size 3,3, --return-sequences, --reset-after false.",
    )
    parser.add_argument("target", help="a layer class such as LSTM, or a MODEL.keras file")
    parser.add_argument(
        "--input-shape",
        help="the layer's input shape without the batch axis, e.g. 5,1 (None for unknown)",
    )
    parser.add_argument(
        "--allow-build",
        action="store_true",
        help="count layers without a formula by building a throwaway copy",
    )
    return parser


def _parse_value(text):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if "," in text:
        parts = tuple(_parse_value(part) for part in text.split(",") if part.strip())
        # Numbers make a tuple (`3,3`); anything else stays text (an equation).
        if all(p is None or isinstance(p, (int, float)) for p in parts):
            return parts
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _layer_kwargs(extras):
    kwargs = {}
    i = 0
    while i < len(extras):
        token = extras[i]
        if not token.startswith("--") or len(token) == 2:
            raise _UsageError(f"unexpected argument {token!r}")
        key, _, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not _:
            following = extras[i + 1] if i + 1 < len(extras) else None
            if following is None or following.startswith("--"):
                value = "true"
            else:
                value = following
                i += 1
        kwargs[key] = _parse_value(value)
        i += 1
    return kwargs


def _input_shape_arg(text):
    dims = []
    for part in text.split(","):
        part = part.strip()
        if part.lower() in ("none", "?"):
            dims.append(None)
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise _UsageError(
                "Received an invalid value for `--input-shape`, expected comma-separated "
                "non-negative integers (or None) without the batch axis, e.g. 5,1. "
                f"Received: --input-shape={text}"
            )
    return (None, *dims)


def _layer_class(name):
    if name == "TimeDistributedDense":
        return _TimeDistributedDense
    cls = getattr(layers, name, None)
    if isinstance(cls, type) and issubclass(cls, layers.Layer):
        return cls
    raise _UsageError(
        f"unknown layer class {name!r}; expected a keras.layers class name such as LSTM, "
        "or a path to a .keras file"
    )


def _make_layer(name, kwargs):
    cls = _layer_class(name)
    if issubclass(cls, (layers.Wrapper, layers.Bidirectional)):
        inner_name = kwargs.pop("layer", None)
        if not isinstance(inner_name, str):
            raise _UsageError(f"{name} wraps a layer: pass --layer CLASS, e.g. --layer LSTM")
        own = {k: kwargs.pop(k) for k in ("merge_mode",) if k in kwargs}
        return cls(_make_layer(inner_name, kwargs), **own)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"could not create {name}({_kwargs_text(kwargs)}): {error}") from None


def _kwargs_text(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _is_model_path(target):
    return target.endswith(".keras") or os.sep in target or os.path.exists(target)


def cli_main(argv):
    """Runs `keras-tdplus params ARGS`; returns the exit status.

    `keras-tdplus params LSTM --units 5 --input-shape 1,1` prints the layer's
    explanation; `keras-tdplus params MODEL.keras` prints the model's table.
    Errors go to stderr as one line, with status 2.

    Args:
        argv: The arguments after `params`.

    Returns:
        0 on success, 2 for bad arguments or an unreadable `.keras` file.
    """
    parser = _parser()
    try:
        args, extras = parser.parse_known_args(list(argv))
        if _is_model_path(args.target):
            if extras:
                raise _UsageError(f"unexpected arguments for a model file: {' '.join(extras)}")
            shape = _input_shape_arg(args.input_shape) if args.input_shape else None
            print(param_table(args.target, input_shape=shape, allow_build=args.allow_build))
            return 0
        kwargs = _layer_kwargs(extras)
        if args.input_shape is None:
            raise _UsageError(
                f"{args.target} needs --input-shape, without the batch axis, e.g. --input-shape 5,1"
            )
        shape = _input_shape_arg(args.input_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = _make_layer(args.target, kwargs)
        explanation = explain_params(layer, shape, allow_build=args.allow_build)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    except (_UsageError, ValueError, TypeError, OSError) as error:
        message = str(error).replace("pass allow_build=True", "pass --allow-build")
        message = "; ".join(line.strip() for line in message.splitlines() if line.strip())
        print(f"keras-tdplus params: {message}", file=sys.stderr)
        return 2
    print(explanation)
    print(f"  formula: n = {explanation.formula}")
    if explanation.weights:
        shapes = ", ".join(f"{w.name} {format_shape(w.shape)}" for w in explanation.weights)
        print(f"  weights: {shapes}")
    print(f"  trainable: {explanation.trainable:,}, non-trainable: {explanation.non_trainable:,}")
    return 0
