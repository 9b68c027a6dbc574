"""HTML pages: the visible text only (no scripts, styles, navigation...), split into sections
at h1-h6 like Markdown, with `<title>` as the document title. Tables become "cell | cell"
rows; headings ending in `?` are FAQ entries."""

from __future__ import annotations

import re
from pathlib import PurePath

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from knowledge_base.formats.common import heading_sections, section_passages
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, TextBudget
from knowledge_base.records import IngestError, ParsedDocument
from knowledge_base.text import decode

# Never shown to a reader (or, for nav, page furniture repeated on every page).
_DROP = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "head",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "select",
    "button",
)
_HEADING = re.compile(r"^h([1-6])$")
_BLOCKS = frozenset(
    (
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "ul",
        "caption",
    )
)
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)


class _Collector:
    """Walks the tree once, gathering paragraphs into the current section."""

    def __init__(self, budget: TextBudget) -> None:
        self.budget = budget
        self.preface: list[str] = []
        self.sections: list[tuple[int, str, list[str]]] = []
        self.inline: list[str] = []

    @property
    def paragraphs(self) -> list[str]:
        return self.sections[-1][2] if self.sections else self.preface

    def add(self, paragraph: str) -> None:
        paragraph = " ".join(paragraph.split())
        if paragraph:
            self.paragraphs.append(self.budget.take(paragraph))

    def flush(self) -> None:
        self.add("".join(self.inline))
        self.inline = []

    def walk(self, root: Tag) -> None:
        """Document order, with an explicit stack: pages nest thousands of levels deep."""
        stack: list[PageElement | None] = list(reversed(root.contents))
        while stack:
            node = stack.pop()
            if node is None:  # the end of a block element
                self.flush()
            elif isinstance(node, Tag):
                stack.extend(self.visit(node))
            elif isinstance(node, NavigableString) and not isinstance(node, _NOT_TEXT):
                self.inline.append(str(node))

    def visit(self, tag: Tag) -> list[PageElement | None]:
        """Handle `tag`; return what to walk next (reversed, for the stack)."""
        name = tag.name.lower()
        heading = _HEADING.match(name)
        if heading:
            self.flush()
            text = " ".join(tag.get_text(" ").split())
            if text:
                self.sections.append((int(heading[1]), self.budget.take(text), []))
            return []
        if name == "br":
            self.flush()
            return []
        if name == "tr":
            self.flush()
            cells = [
                " ".join(c.get_text(" ").split())
                for c in tag.find_all(["td", "th"], recursive=False)
            ]
            self.add(" | ".join(c for c in cells if c))
            return []
        children: list[PageElement | None] = list(reversed(tag.contents))
        if name in _BLOCKS:
            self.flush()
            return [None, *children]
        return children


def _hidden(tag: Tag) -> bool:
    return tag.has_attr("hidden") or tag.get("aria-hidden") == "true"


def load_html(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    text = decode(name, data)
    if not text.strip():
        raise IngestError(name, "the file is empty")
    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    page_title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(_hidden):
        tag.decompose()
    collector = _Collector(TextBudget(name, limits))
    collector.walk(soup)
    collector.flush()
    stem = PurePath(name).stem
    first_h1 = next((h for level, h, _ in collector.sections if level == 1), "")
    doc_title = page_title or first_h1 or stem
    sections = heading_sections(
        doc_title,
        "\n\n".join(collector.preface),
        [(level, heading, "\n\n".join(body)) for level, heading, body in collector.sections],
    )
    doc = ParsedDocument(name, "html")
    doc.passages.extend(section_passages(stem, sections, set(), PassageBudget(name, limits)))
    if not doc.passages:
        raise IngestError(
            name,
            "no visible text found to add to the knowledge base (pages whose text is loaded "
            "by JavaScript have none; save the page's text instead)",
        )
    return doc
