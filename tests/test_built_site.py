"""The built docs site, read as a reader sees it: every included example is there.

`tox -e docs` builds the site (`mkdocs build --strict`) and runs this file on it with
TDPLUS_SITE_DIR naming the built folder; the backend envs deselect it. The strict build
alone passes when a formatter has turned an include line into text the snippets
extension no longer knows (`--8 < --"docs/examples/home.py:convert"`): the page then
shows that line where the code should be. So the pages are parsed as HTML and compared
with what their Markdown sources include:

- no page shows an include line;
- each fenced block that includes example sections shows exactly those sections' code;
- each generated output included as Markdown shows its text;
- every internal link and image names a file of the site, and its `#anchor` an id there.

HTML through the standard library's html.parser; the generated outputs through mkdocs'
own Markdown, so the docs env needs nothing but mkdocs and pytest.
"""

import html
import os
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

pytestmark = pytest.mark.docs_site

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
INCLUDE = re.compile(r'^(?P<indent>\s*)--8<-- "(?P<target>[^"]+)"\s*$')
# What a reader would see of an include line the snippets extension did not take,
# however a formatter spaced it.
SHOWN_INCLUDE = re.compile(r"-\s*-\s*8\s*<\s*-\s*-")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})")
SECTION_MARK = re.compile(r"--8<-- \[(start|end):[\w-]+\]")
# How the site renders a generated output: the same extensions as mkdocs.yml's.
GENERATED_EXTENSIONS = ["tables", "attr_list", "md_in_html", "pymdownx.superfences"]


def _site():
    site = os.environ.get("TDPLUS_SITE_DIR")
    if not site:
        pytest.fail("TDPLUS_SITE_DIR is not set: run this file through `tox -e docs`")
    site = Path(site)
    if not (site / "index.html").is_file():
        pytest.fail(f"{site} holds no built site (no index.html): build it with mkdocs first")
    return site


def _pages():
    return sorted(p.relative_to(DOCS) for p in DOCS.rglob("*.md") if _is_page(p))


def _is_page(path):
    return path.relative_to(DOCS).parts[0] not in ("examples", "scripts", "generated")


def _html_of(site, page):
    """mkdocs' directory URLs: tutorial.md -> tutorial/index.html, index.md -> index.html."""
    stem = page.with_suffix("")
    if stem.name == "index":
        return site / stem.parent / "index.html"
    return site / stem / "index.html"


# Elements with no end tag: they open nothing the parser has to close.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Page(HTMLParser):
    """The article's text, its code blocks' text, and every id, link and image."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []
        self.text, self.code_blocks = [], []
        self._article_depth = 0
        self._code = None
        self._in_pre = False
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.links.append(attrs["src"])
        if tag in VOID:
            return
        self._depth += 1
        if tag == "article" and not self._article_depth:
            self._article_depth = self._depth
        if tag == "code" and self._in_pre:
            self._code = []
        if tag == "pre":
            self._in_pre = True

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag == "code" and self._code is not None:
            self.code_blocks.append("".join(self._code))
            self._code = None
        if tag == "pre":
            self._in_pre = False
        if self._depth == self._article_depth:
            self._article_depth = 0
        self._depth -= 1

    def handle_data(self, data):
        if self._code is not None:
            self._code.append(data)
        if self._article_depth:
            self.text.append(data)


@cache
def _parse(path):
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _words(text):
    return " ".join(html.unescape(text).split())


def _code(text):
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def _section(target):
    """The lines the snippets extension puts in place of `file:section`."""
    name, _, section = target.partition(":")
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    if not section:
        return [line for line in lines if not SECTION_MARK.search(line)]
    start = [i for i, line in enumerate(lines) if f"--8<-- [start:{section}]" in line]
    end = [i for i, line in enumerate(lines) if f"--8<-- [end:{section}]" in line]
    assert len(start) == 1 and len(end) == 1 and start[0] < end[0], (
        f"{name} has no single section `{section}` (start and end markers)"
    )
    return [line for line in lines[start[0] + 1 : end[0]] if not SECTION_MARK.search(line)]


def _includes(page):
    """(code blocks the page includes examples into, generated Markdown it includes)."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    blocks, generated = [], []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            include = INCLUDE.match(lines[i])
            if include:
                generated.append(include["target"])
            i += 1
            continue
        indent, marker = len(fence["indent"]), fence["fence"]
        body, i = [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i][indent:])
            i += 1
        i += 1
        if any(INCLUDE.match(line) for line in body):
            code = []
            for line in body:
                include = INCLUDE.match(line)
                code.extend(_section(include["target"]) if include else [line])
            blocks.append((body, _code("\n".join(code))))
    return blocks, generated


PAGES = _pages()


def test_the_site_has_a_page_for_every_markdown_page():
    site = _site()
    missing = [str(page) for page in PAGES if not _html_of(site, page).is_file()]
    assert PAGES and not missing, f"pages not built: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_no_page_shows_an_include_line(page):
    parsed = _parse(_html_of(_site(), page))
    shown = [
        line.strip()
        for chunk in (*parsed.code_blocks, "".join(parsed.text))
        for line in chunk.splitlines()
        if SHOWN_INCLUDE.search(line)
    ]
    assert not shown, f"{page} shows include lines instead of what they include: {shown[:3]}"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_included_example_shows_its_code(page):
    blocks, _ = _includes(page)
    shown = {_code(block) for block in _parse(_html_of(_site(), page)).code_blocks}
    for source, expected in blocks:
        assert expected in shown, (
            f"{page}: the block that includes {[line.strip() for line in source]} does not show "
            f"that code; it should begin:\n{expected[:300]}"
        )


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_generated_output_is_on_its_page(page):
    import markdown  # mkdocs' own Markdown; only the docs env has it

    _, generated = _includes(page)
    text = _words("".join(_parse(_html_of(_site(), page)).text))
    for target in generated:
        rendered = markdown.markdown(
            (REPO / target).read_text(encoding="utf-8"), extensions=GENERATED_EXTENSIONS
        )
        expected = _words(re.sub(r"<[^>]+>", "", rendered))
        assert expected, f"{target} is empty"
        assert expected in text, f"{page} does not show {target}: {expected[:200]!r}"


def test_every_internal_link_resolves():
    site = _site()
    broken = []
    for path in sorted(site.rglob("*.html")):
        parsed = _parse(path)
        url = "/" + path.relative_to(site).as_posix()
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:")):
                continue
            target = urlsplit(urljoin(url, link))
            file = site / unquote(target.path).lstrip("/")
            if target.path.endswith("/") or file.is_dir():
                file = file / "index.html"
            if not file.is_file():
                broken.append(f"{url}: {link} (no {file.relative_to(site)})")
            elif parts.fragment and file.suffix == ".html":
                if unquote(parts.fragment) not in _parse(file).ids:
                    broken.append(f"{url}: {link} (no id {parts.fragment!r})")
    assert not broken, f"{len(broken)} broken links, first: {broken[:5]}"
