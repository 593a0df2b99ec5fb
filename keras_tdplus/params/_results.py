"""The results of parameter counting: weights, per-layer explanations, model tables."""

import dataclasses
import math

from keras_tdplus._messages import format_shape

__all__ = [
    "FlopExplanation",
    "ParamExplanation",
    "ParamRow",
    "ParamTable",
    "WeightSpec",
    "format_output_shape",
]


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One weight a layer would create: its name, shape and trainability."""

    name: str
    shape: tuple
    trainable: bool
    dtype: str = "float32"

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
    >>> explanation = tdp.explain_params(layers.SimpleRNN(3), (None, 4, 2))
    >>> explanation.formula
    '(inputs + 1) * units + units^2'
    >>> explanation.total, explanation.trainable, explanation.non_trainable
    (18, 18, 0)
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
        working = f"n = {self.substituted}"
        if self.substituted != str(self.total):
            working += f" = {self.total}"
        if self.non_trainable:
            working += f" ({self.trainable} trainable, {self.non_trainable} non-trainable)"
        return f"{_head(self)}: {working}"

    def __repr__(self):
        return _repr(self, f"trainable={self.trainable}, non_trainable={self.non_trainable}")

    def to_dict(self):
        """A JSON-serializable dict of every field and count."""
        return {
            **_explanation_fields(self),
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "weights": [
                {"name": w.name, "shape": list(w.shape), "trainable": w.trainable}
                for w in self.weights
            ],
        }


@dataclasses.dataclass(frozen=True)
class FlopExplanation:
    """A layer's FLOPs on one forward pass, with the formula that gives them.

    FLOPs count 2 per multiply-add of the matrix products, convolutions and
    attention products, as `torch.utils.flop_counter.FlopCounterMode` does;
    element-wise work (activations, biases, normalization, pooling) counts 0.

    Attributes:
        class_name: The layer's class, e.g. `"LSTM"`.
        layer_name: The layer's `name`.
        signature: The arguments that set the count, e.g. `"LSTM(units=5)"`.
        variables: The sizes the formula reads, e.g. `{"time": 10, "batch": 1}`.
        formula: The FLOPs in symbols, e.g.
            `"2 * time * batch * inputs * 4 * units + ..."`.
        substituted: The same with the numbers in.
        total: The FLOPs counted, an `int`: a lower bound when `partial`.
        missing: The layers inside that have no FLOPs formula, as
            `"name (Class)"`; empty when the count is complete.
        partial: True when some layer had no formula.
        training: True for one training step (forward and backward), False
            for one forward pass.
        padded: With `valid_steps`, what the same pass costs with every step
            valid; `total` is then the effective count. None without.

    Example:

    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> explanation = tdp.explain_flops(layers.Dense(4), (None, 3))
    >>> explanation.formula, explanation.substituted, explanation.total
    ('2 * rows * inputs * units', '2 * 1 * 3 * 4', 24)
    >>> tdp.explain_flops(layers.Dense(4), (None, 3), training=True).formula
    '(1 + 1) * 2 * rows * inputs * units'
    """

    class_name: str
    layer_name: str
    signature: str
    variables: dict
    formula: str
    substituted: str
    total: int
    missing: tuple = ()
    training: bool = False
    padded: int = None

    @property
    def partial(self):
        return bool(self.missing)

    def __str__(self):
        working = f"{'training step FLOPs' if self.training else 'FLOPs'} = {self.formula}"
        if self.substituted != self.formula:
            working += f" = {self.substituted}"
        if self.substituted != f"{self.total}":
            working += f" = {self.total:,}"
        if self.padded is not None:
            working += f" on the valid steps (padded: {self.padded:,})"
        if self.missing:
            working += f" (partial: no FLOPs formula for {', '.join(self.missing)})"
        return f"{_head(self)}: {working}"

    def __repr__(self):
        return _repr(self, f"partial={self.partial}")

    def to_dict(self):
        """A JSON-serializable dict of every field."""
        return {
            **_explanation_fields(self),
            "missing": list(self.missing),
            "training": self.training,
            **({} if self.padded is None else {"padded": self.padded}),
        }


@dataclasses.dataclass(frozen=True)
class ParamRow:
    """One layer of a `ParamTable`: its name, class, output shape and count."""

    name: str
    class_name: str
    output_shape: object
    explanation: ParamExplanation
    flops: FlopExplanation = None

    formula = property(lambda self: self.explanation.formula)
    substituted = property(lambda self: self.explanation.substituted)
    total = property(lambda self: self.explanation.total)
    trainable = property(lambda self: self.explanation.trainable)
    non_trainable = property(lambda self: self.explanation.non_trainable)


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
        activations: With FLOPs (`param_table(..., flops=True)`), the
            `(dtype, elements)` of every layer call's output.
        inputs: With FLOPs, the `(dtype, elements)` of every model input.
        total: The number of parameters.
        trainable: How many of them are trainable, counted the way
            `model.trainable_weights` counts them.
        non_trainable: How many are not.
        flops: With FLOPs, the FLOPs of one forward pass (a lower bound
            when `flops_missing` names layers without a formula); else None.
        flops_missing: The layers without a FLOPs formula, `"name (Class)"`.

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
    activations: tuple = ()
    inputs: tuple = ()

    @property
    def total(self):
        return sum(w.size for w in self.weights)

    @property
    def flops(self):
        if any(row.flops is None for row in self.rows):
            return None
        return sum(row.flops.total for row in self.rows)

    @property
    def flops_padded(self):
        """With `valid_steps`, the FLOPs with every step valid; else None."""
        if self.flops is None or all(row.flops.padded is None for row in self.rows):
            return None
        return sum(
            row.flops.total if row.flops.padded is None else row.flops.padded for row in self.rows
        )

    @property
    def flops_training(self):
        """True when the FLOPs are of one training step."""
        return self.flops is not None and any(row.flops.training for row in self.rows)

    @property
    def flops_missing(self):
        return tuple(m for row in self.rows if row.flops is not None for m in row.flops.missing)

    @property
    def trainable(self):
        if not self.model_trainable:
            return 0
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable(self):
        return self.total - self.trainable

    def __str__(self):
        with_flops = self.flops is not None
        padded = self.flops_padded
        headers = ("Layer (type)", "Output Shape", "Formula", "Param #")
        if with_flops:
            headers += ("Training FLOPs" if self.flops_training else "FLOPs",)
        if padded is not None:
            headers += ("Padded FLOPs",)
        cells = [
            (
                f"{r.name} ({r.class_name})",
                format_output_shape(r.output_shape),
                r.substituted,
                f"{r.total:,}",
            )
            + ((_flops_cell(r.flops),) if with_flops else ())
            + ((_padded_cell(r.flops),) if padded is not None else ())
            for r in self.rows
        ]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) + 2 for i, h in enumerate(headers)]

        def line(left, fill, sep, right):
            return left + sep.join(fill * w for w in widths) + right

        def row(values, bar):
            padded = [
                f" {v:>{w - 2}} " if i >= 3 else f" {v:<{w - 2}} "
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
        if with_flops:
            missing = self.flops_missing
            what = "Total FLOPs of one training step" if self.flops_training else "Total FLOPs"
            if padded is not None:
                what += f" on the valid steps (padded: {padded:,})"
            if missing:
                out.append(
                    f" {what}: at least {self.flops:,} (partial: no FLOPs formula for "
                    f"{', '.join(missing)})"
                )
            else:
                out.append(f" {what}: {self.flops:,}")
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
            **(
                {}
                if self.flops is None
                else {
                    "flops": self.flops,
                    "flops_training": self.flops_training,
                    **({} if self.flops_padded is None else {"flops_padded": self.flops_padded}),
                    "flops_missing": list(self.flops_missing),
                    "flops_rows": [r.flops.to_dict() for r in self.rows],
                }
            ),
        }


def _repr(explanation, counts):
    return (
        f"{type(explanation).__name__}(layer_name={explanation.layer_name!r}, "
        f"class_name={explanation.class_name!r}, total={explanation.total}, {counts}, "
        f"formula={explanation.formula!r})"
    )


def _head(explanation):
    """`LSTM(units=5) on inputs=1`: what an explanation is of, and the sizes it read."""
    sizes = ", ".join(f"{k}={v}" for k, v in explanation.variables.items())
    return explanation.signature + (f" on {sizes}" if sizes else "")


def _explanation_fields(explanation):
    """The fields a weights and a FLOPs explanation share, for `to_dict`."""
    names = ("class_name", "layer_name", "signature", "variables", "formula", "substituted")
    fields = {name: getattr(explanation, name) for name in (*names, "total")}
    return {**fields, "variables": dict(explanation.variables)}


def _flops_cell(flops):
    if flops.missing and not flops.total:
        return "?"
    return f"{flops.total:,}" + ("+?" if flops.missing else "")


def _padded_cell(flops):
    return _flops_cell(flops) if flops.padded is None else f"{flops.padded:,}"


def format_output_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, str):
        return shape
    if isinstance(shape, list):
        return "[" + ", ".join(format_output_shape(s) for s in shape) + "]"
    return format_shape(shape)


def _jsonable_shape(shape):
    if isinstance(shape, str):
        return shape
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    return None if shape is None else list(shape)
