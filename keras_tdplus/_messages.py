"""The package's message format: culprit, Received, Expected, Fix."""


def _message(first_line, received, expected, fixes):
    """The package's message format; the first fix is `Fix:`, the others `or:`."""
    lines = [first_line, f"  Received: {received}", f"  Expected: {expected}"]
    lines += [("  Fix: " if i == 0 else "   or: ") + fix for i, fix in enumerate(fixes)]
    return "\n".join(lines)


def _short_repr(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
