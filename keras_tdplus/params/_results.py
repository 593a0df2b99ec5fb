"""The results of parameter counting: weights, per-layer explanations, model tables."""

import dataclasses
import math

from keras_tdplus._messages import format_shape

__all__ = ["ParamExplanation", "ParamRow", "ParamTable", "WeightSpec", "format_output_shape"]


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
                format_output_shape(r.output_shape),
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
