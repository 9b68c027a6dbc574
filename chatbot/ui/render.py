"""Untrusted text (knowledge-base answers and titles, customer and staff messages) made safe
for Gradio's Markdown and Chatbot components.

Gradio renders markdown with GitHub extensions and sanitises the HTML, but what survives is
enough to attack a reader: an image (`![x](url)`) makes every browser that shows it fetch a
remote URL, a link may have any scheme, a crafted URL can end a link early and add its own,
and e-mail addresses and `ftp://` text turn into links by themselves. So such text never
reaches those components as markdown:

- `escape_text`: plain text. The characters that make links, images, HTML, code or tables
  are backslash-escaped (CommonMark renders an escaped punctuation character as itself), so
  are every `@` (a bare e-mail address becomes a mailto: link), the `:` of a non-http(s)
  `scheme://`, `$$` (LaTeX) and the `&` of a character reference.
  Line breaks, lists and headings stay: they cannot fetch or hide anything. Bare http(s)
  and `www.` addresses still become links, as Gradio makes them: those are allowed.
- `customer_text`: what a customer typed, shown exactly as typed: every ASCII punctuation
  character is escaped, so nothing in it is markup, not even a list, a heading or an address
  that would become a link; line breaks stay.
- `link`: a markdown link only to an absolute http(s) URL without user info, percent-encoded
  so nothing in it can end the link, its text written with character references; anything
  else is the label alone, as text.
- `answer_markdown`: an answer the customer reads: plain text, with its markdown links kept
  when they point to http(s) and images reduced to their description (nothing is fetched),
  laid out again (knowledge_base.layout): the lines of a paragraph wrapped in its source
  file join, list items become a markdown list, a heading is a paragraph of its own.
- `code`: an identifier as inline code, or as plain text when code would not hold it.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, urlsplit

from knowledge_base import layout

LINK_SCHEMES: Final = frozenset({"http", "https"})
MAX_URL_CHARS: Final = 2048

_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]|<>~@"})
# Every ASCII punctuation character: CommonMark renders each, escaped, as itself.
_ALL_PUNCTUATION = str.maketrans(
    {chr(c): f"\\{chr(c)}" for c in range(33, 127) if not chr(c).isalnum()}
)
# Indentation would make a code block; as character references it is just spaces.
_INDENT = re.compile(r"^[ \t]+", re.M)
# A URL scheme followed by "//" (ftp://...): its ":" is escaped unless it is http(s).
# In a link's text Gradio's markdown (marked) drops backslash escapes and parses the text
# again, so "[!\\[x\\](url)](...)" would show an image: there, special characters are written
# as character references, which no markdown reads as markup.
_LABEL_SPECIAL = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*_[]|<>~@!&$:#"})
# A character reference (&lt; &#60;) would show as the character it names, not as typed.
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]{1,32};)")
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}):(?=//)")
# Characters kept as they are in a link destination: everything else (spaces, quotes,
# brackets, parentheses, backslashes, "|", "$", "*", non-ASCII) is percent-encoded.
_URL_SAFE = "/:?#@!&+,;=%-._~"
# A markdown link or image: [label](destination "title"), the destination anything on one line
# (with balanced parentheses) that `safe_url` then accepts or not. Lengths are bounded and the
# alternatives disjoint, so the scan is linear in the text.
_MD_LINK = re.compile(
    r"(?P<image>!?)\[(?P<label>[^\[\]\n]{0,500})\]"
    r"\((?P<target>(?:[^()\n\\]|\([^()\n\\]{0,500}\)){0,2048})\)"
)
# The destination without its <brackets> and "title".
_TARGET = re.compile(r"\s*<?(?P<url>[^\s<>]*)>?(?:\s+\"[^\"]*\")?\s*")


def escape_text(text: str) -> str:
    """`text` as markdown that renders as the text itself: no link (other than the bare
    http(s) addresses in it), image, HTML, code, table or LaTeX of its own."""
    escaped = _ENTITY.sub(r"\\&", text.translate(_SPECIAL)).replace("$$", "\\$\\$")
    return _SCHEME.sub(_escape_scheme, escaped)


def md_escape(text: str) -> str:
    """`text` as markdown that shows the text itself: no links, images, HTML or tables of
    its own (`escape_text`), for a chat or console message made of plain text."""
    return escape_text(text)


def _escape_scheme(m: re.Match[str]) -> str:
    scheme = m.group(1)
    return m.group() if scheme.lower() in LINK_SCHEMES else f"{scheme}\\:"


def safe_url(url: str | None) -> str | None:
    """`url` ready for a markdown link destination when it is an absolute http(s) URL with a
    host and no user info ("https://shop.example@evil.example" hides its real host); else
    None. Percent-encoded, so it cannot end the link or start another."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not host or "@" in parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE)


def link(label: str, url: str | None) -> str:
    """A markdown link with `label` as text, or the escaped label alone when `url` is not a
    safe http(s) URL (see `safe_url`)."""
    target = safe_url(url)
    if not target or not label.strip():
        return escape_text(label)
    return f"[{label.translate(_LABEL_SPECIAL)}]({target})"


def code(text: str) -> str:
    """`text` as inline code, or escaped text when a code span could not hold it (a
    backtick or line break would end it; a "|" would split a table cell)."""
    if text and not any(c in text for c in "`|\n\r"):
        return f"`{text}`"
    return escape_text(text)


def customer_text(text: str) -> str:
    """What a customer typed as markdown that renders exactly as typed: no markup and no
    link of its own (not even a bare http(s) address), its line breaks kept."""
    escaped = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ALL_PUNCTUATION)
    return _INDENT.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group()), escaped)


# Lines this short were not wrapped: an answer's line breaks join only in wider text.
ANSWER_MIN_WRAP_COLS: Final = 40
# What would start a block of its own at the start of a line: a heading, a list item, a
# heading's underline or a thematic break (the other markup characters are always escaped).
_BLOCK_START = re.compile(r"^(?:[#+=-]|\d{1,9}(?=[.)](?:\s|$)))")


def answer_markdown(text: str) -> str:
    """An answer (generated, a stored FAQ answer or a passage) as the customer should see
    it: plain text whose markdown links to http(s) URLs stay links (re-encoded), other links
    become their label and images their description, so the browser fetches nothing. Laid
    out as paragraphs (a line break its source file's wrapping put there joins the lines;
    one its author put there stays), headings (a paragraph of their own) and lists."""
    parts: list[list[str]] = []  # the lines of each markdown block
    numbered: bool | None = None  # whether the list being written is numbered; None: none
    for block in layout.blocks(text, ANSWER_MIN_WRAP_COLS):
        if block.kind == layout.ITEM:
            marker = "-" if block.number is None else f"{block.number}."
            item = f"{marker} {_answer_line(block.lines[0])}"
            if numbered is (block.number is not None):
                parts[-1].append(item)  # the same list, one item a line
            else:
                parts.append([item])
            numbered = block.number is not None
        else:
            # A line break that stays is a hard break in any markdown (not only in a chat
            # that shows single line breaks): a backslash at the end of the line.
            parts.append(["\\\n".join(_answer_line(line) for line in block.lines)])
            numbered = None
    return "\n\n".join("\n".join(lines) for lines in parts)


def _answer_line(text: str) -> str:
    """One line of an answer: escaped, links kept, and nothing at its start that would make
    it a heading or a list of its own."""
    return _BLOCK_START.sub(_escape_block_start, _with_links(text))


def _escape_block_start(m: re.Match[str]) -> str:
    start = m.group()
    # "1." is a list item's marker: its "." (or ")") is escaped, the number stays as it is.
    return f"{start}\\" if start[0].isdigit() else f"\\{start}"


def _with_links(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _MD_LINK.finditer(text):
        out.append(escape_text(text[last : m.start()]))
        label = m.group("label")
        if m.group("image"):
            out.append(escape_text(label))
        else:
            target = _TARGET.fullmatch(m.group("target"))
            out.append(link(label, target.group("url") if target else None))
        last = m.end()
    out.append(escape_text(text[last:]))
    return "".join(out)


def one_line(text: str) -> str:
    """`text` on one line (a table cell or a heading must not be broken by a line break)."""
    return " ".join(text.split())
