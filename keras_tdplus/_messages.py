"""The package's messages: the Received/Expected/Fix format and how values are shown in it.

Every module that writes a "Received / Expected / Fix" message builds it with
`message`, shows a value with `short_repr` and a shape with `format_shape`.
An argument a message tells the user to pass is an `Argument`, kept in the
error (`worded`), so that the command line says it as its own option
(`reworded`) without reading the text again.
"""

import dataclasses

__all__ = [
    "Argument",
    "fix_lines",
    "format_shape",
    "message",
    "message_parts",
    "reworded",
    "short_repr",
    "worded",
]


@dataclasses.dataclass(frozen=True)
class Argument:
    """An argument a message names, typed: `input_shape=(None, 5, 1)`, `allow_build=True`.

    Attributes:
        name: The keyword: `"input_shape"`, `"allow_build"` or `"batch_size"`.
        value: Its value; for `input_shape`, None stands for "an input shape".
        code: How Python says it, when not `name=value`.
    """

    name: str
    value: object
    code: str = None

    def __str__(self):
        if self.code is not None:
            return self.code
        shown = format_shape(self.value) if self.name == "input_shape" else repr(self.value)
        return f"{self.name}={shown}"


def worded(kind, parts, *args):
    """`kind(text, *args)`, the text joined from `parts` (strings, `Argument`s), kept too."""
    error = kind("".join(map(str, parts)), *args)
    error.parts = tuple(parts)
    return error


def reworded(error, say):
    """`error`'s text with each `Argument` it keeps said by `say(argument)`."""
    parts = getattr(error, "parts", None)
    if parts is None:
        return str(error)
    return "".join(part if isinstance(part, str) else say(part) for part in parts)


def message(first_line, received, expected, fixes=()):
    """The package's message format: the culprit, `Received:`, `Expected:`, then the fixes.

    Without fixes it ends at `Expected:`, for a `Finding`, which keeps its fix apart.
    """
    return "".join(map(str, message_parts(first_line, received, expected, fixes)))


def message_parts(first_line, received, expected, fixes=()):
    """`message` as parts for `worded`: `received` and each fix may be a list of parts."""
    parts = [first_line, "\n  Received: ", *_listed(received), f"\n  Expected: {expected}"]
    for line, fix in zip(fix_lines([""] * len(fixes)), fixes, strict=True):
        parts += ["\n" + line, *_listed(fix)]
    return parts


def _listed(parts):
    return list(parts) if isinstance(parts, (list, tuple)) else [parts]


def fix_lines(fixes):
    """`["  Fix: first", "   or: second", ...]`: the last lines of a message."""
    return [("  Fix: " if i == 0 else "   or: ") + fix for i, fix in enumerate(fixes)]


def short_repr(value, limit=40):
    """`repr(value)`, cut to `limit` characters with a trailing `...`."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_shape(shape):
    """`(None, 5, 1)`; a one-axis shape keeps its comma, `(5,)`."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
