"""The package's messages: the Received/Expected/Fix format and how values are shown in it.

Every module that writes a "Received / Expected / Fix" message builds it with
`message`, shows a value with `short_repr` and a shape with `format_shape`.
"""

__all__ = ["fix_lines", "format_shape", "message", "short_repr"]


def message(first_line, received, expected, fixes=()):
    """The package's message format: the culprit, `Received:`, `Expected:`, then the fixes.

    Without fixes it ends at `Expected:`, for a `Finding`, which keeps its fix apart.
    """
    lines = [first_line, f"  Received: {received}", f"  Expected: {expected}"]
    return "\n".join(lines + fix_lines(fixes))


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
