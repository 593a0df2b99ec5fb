"""A griffe extension that reads Keras-style docstrings for the API reference.

The package writes its docstrings the way Keras does. A `>>>` example starts at
the left margin, one blank line under `Example:`, and `Call arguments:` lists
`name: description` lines. Griffe's Google parser expects section content to be
indented under its title, so it would show the examples as nested quotes and
run the call arguments together into one paragraph. This extension rewrites the
docstring text before griffe parses it:

- the doctest block under `Example:` or `Examples:` is indented under the title,
  which becomes `Examples:` (the title griffe knows), so that griffe renders it
  as a highlighted `pycon` example;
- each `name: description` entry under `Call arguments:` becomes a list item.

The docstrings in the package are not changed, and doctest reads them as before.
"""

import re

import griffe

_EXAMPLE_TITLE = re.compile(r"^Examples?:\s*$")
_CALL_ARGUMENTS_TITLE = re.compile(r"^Call arguments:\s*$")
_ARGUMENT = re.compile(r"^(\s+)(\w+): (.*)$")
# Section titles that can follow an example at the left margin.
_SECTION_TITLE = re.compile(
    r"^(Args|Arguments|Attributes|Call arguments|Example|Examples|Input shape|Note|Notes"
    r"|Output shape|Raises|Returns|See Also|Warning|Warnings|Yields):\s*$"
)


def _indent_examples(lines):
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if not _EXAMPLE_TITLE.match(line):
            continue
        first = i
        while first < len(lines) and not lines[first].strip():
            first += 1
        if first == len(lines) or not lines[first].startswith(">>>"):
            continue
        out[-1] = "Examples:"
        i = first
        while i < len(lines) and not _SECTION_TITLE.match(lines[i]):
            out.append("    " + lines[i] if lines[i].strip() else "")
            i += 1
    return out


def _list_call_arguments(lines):
    out, inside = [], False
    for line in lines:
        if _CALL_ARGUMENTS_TITLE.match(line):
            inside = True
        elif line.strip() and not line.startswith(" "):
            inside = False
        match = _ARGUMENT.match(line) if inside else None
        if match and len(match.group(1)) == 4:
            indent, name, text = match.groups()
            line = f"{indent}- `{name}`: {text}"
        out.append(line)
    return out


def rewrite(text):
    """The docstring `text` with its examples and call arguments in Google form."""
    lines = text.split("\n")
    return "\n".join(_list_call_arguments(_indent_examples(lines)))


class KerasDocstrings(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
