"""What the model lint reports: `Finding` and `ShapeReport`."""

import dataclasses

from keras_tdplus._messages import fix_lines

__all__ = ["Finding", "ShapeReport"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem `check_model` found.

    Attributes:
        layer: The culprit layer's name; nested layers are written
            `outer/inner`.
        message: The first line (what is wrong) and the `Received:` and
            `Expected:` lines.
        fix: The fix as code, or None; several options are joined by
            `"\\n   or: "`.
        severity: `"error"` (Keras would fail, or train the wrong thing) or
            `"info"` (a part of the model that could not be checked).

    Example:

    >>> import keras
    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([layers.LSTM(5, name="lstm"), tdp.TimeDistributedDense(1)])
    >>> report = tdp.check_model(model, input_shape=(None, 5, 1), raise_on_error=False)
    >>> finding = report.findings[0]
    >>> finding.layer, finding.severity
    ('lstm', 'error')
    >>> print(finding.fix)
    LSTM(5, return_sequences=True)  # layer 'lstm'
    """

    layer: str
    message: str
    fix: str | None = None
    severity: str = "error"

    def __str__(self):
        return "\n".join([self.message, *fix_lines([] if self.fix is None else [self.fix])])


@dataclasses.dataclass(frozen=True)
class ShapeReport:
    """What `check_model` found in one model.

    Attributes:
        model: The model's name.
        findings: A tuple of `Finding`s, in layer order.
        layers_checked: How many layers had a known input shape and were checked.

    Example:

    >>> import keras
    >>> from keras import layers
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([
    ...     keras.Input((5, 1)),
    ...     layers.LSTM(5, return_sequences=True),
    ...     tdp.TimeDistributedDense(1),
    ... ])
    >>> report = tdp.check_model(model)
    >>> report.ok, len(report.findings), report.layers_checked
    (True, 0, 2)
    """

    model: str
    findings: tuple = ()
    layers_checked: int = 0

    @property
    def errors(self):
        """The findings of severity `"error"`."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self):
        """True when there is no error; infos do not count."""
        return not self.errors

    def __str__(self):
        plural = "" if self.layers_checked == 1 else "s"
        head = f"Model '{self.model}': {self.layers_checked} layer{plural} checked, "
        if not self.findings:
            return head + "no sequence-shape problems found."
        counts = {}
        for finding in self.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        head += ", ".join(
            f"{n} {severity}{'s' if n != 1 and severity != 'info' else ''}"
            for severity, n in counts.items()
        )
        body = "\n\n".join(f"{f.severity}: {f}" for f in self.findings)
        return f"{head}.\n\n{body}"
