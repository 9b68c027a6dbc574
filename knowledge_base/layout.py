"""Paragraphs, headings and list items of text laid out in lines.

A PDF page's text comes back one printed line per line, with no blank line between paragraphs
and each heading on a line of its own; an answer written in a text editor is often wrapped at
about 80 columns, with one list item per line; and a passage whose lines were joined into one
("Our stores: - Portland: 410 Alder Street - Denver: ...") holds its list on one line.
`blocks` finds the structure again:

- A line break is where wrapping put it, and the lines join into one paragraph, when the line
  before it is about as wide as the text's widest lines: the next word would not have fitted
  on it. A line that ends well short of that was ended by its author.
- A line that starts with a list marker (`-`, `*`, `•`, `1.`, `1)`, `(1)`, `①`, `一、` ...) starts
  a list item; a list run into one line is split into its items again.
- A short line without final punctuation, alone before the text under it, is a heading (so is
  a Markdown `#` heading).
- A blank line ends a paragraph.

Lines joined across a wrap get a space between them, except next to a Chinese or Japanese
character: those scripts put no spaces between words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

PARAGRAPH: Final = "paragraph"
HEADING: Final = "heading"
ITEM: Final = "item"

# A line that reaches this share of the text's width was wrapped where it ends. Below 1, as
# a PDF's proportional font makes the lines of one paragraph differ in characters.
FILL: Final = 0.8
# The widest a heading can be, in columns (a CJK character is two).
HEADING_MAX_COLS: Final = 60
# What ends a line that is no heading: sentence and clause punctuation, or a broken word.
_NOT_HEADING_END = ".,;:!?…。，；：！？、-"
_SENTENCE_END = ".!?…。！？"
# Han, kana and CJK and full-width punctuation: no space where a line next to one of them was
# wrapped.
_UNSPACED = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff60\uffe0-\uffe6"
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")


# The wide and full-width characters (East Asian Width W and F: CJK, Hangul, full-width
# forms, emoji), two columns each.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
    "\U0001f300-\U0001f64f\U0001f900-\U0001f9ff\U00020000-\U0003fffd]"
)
_HAN_DIGITS: Final = "一二三四五六七八九"
# A list item's marker at the start of a line. "-", "*", "+" and "1." need a space after
# them ("-5 °C", "+1 555", "1.5 kg" are text); the others are markers by themselves.
_BULLETS = "•·◦▪▫‣●○■□►▸➢✓✔"
_ITEM = re.compile(
    r"(?:(?P<ascii>[-*+])\s+"
    rf"|(?P<bullet>[{_BULLETS}])\s*"
    r"|(?P<num>\d{1,3})(?P<delim>[.)])\s+"
    r"|[(（](?P<paren>\d{1,3})[)）]\s*"
    r"|(?P<circled>[\u2460-\u2473])\s*"
    rf"|(?P<han>[{_HAN_DIGITS}十]{{1,3}})[、\uff0e]\s*)"
    r"(?=\S)"
)
_ATX_HEADING = re.compile(r"#{1,6}\s+(?P<text>.*?)(?:\s+#+)?")
# Where the next item of a list run into one line starts: the marker again, then a capital or
# a letter of another script ("10 am - 8 pm" is a range, not two items).
_ITEM_START = "A-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_RUN_INTO_LIST = re.compile(rf"[:：]\s*(?=(?:[-*+{_BULLETS}]|1[.)])\s+[{_ITEM_START}])")


@dataclass(frozen=True)
class Block:
    """A paragraph (its lines, as their author ended them), a heading or a list item (one
    line each). `marker` is an item's marker as written, with the space after it if any
    ("- ", "1. ", "一、"); `number` a numbered item's number (None for a bullet)."""

    kind: str
    lines: tuple[str, ...]
    marker: str = ""
    number: int | None = None


@dataclass
class _Line:
    """A line of a block being built: `text` holds the source lines it joined."""

    text: str
    physical: int = 1
    item: re.Match[str] | None = None
    heading: bool = False  # a Markdown "#" heading


def blocks(text: str, min_wrap: int = 0) -> list[Block]:
    """The paragraphs, headings and list items of `text`, in order. Line breaks join only
    when the text's width is at least `min_wrap` columns: text that narrow was not wrapped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    width = _wrap_width(lines)
    wrap = width if width >= max(min_wrap, 1) else None
    out: list[Block] = []
    group: list[str] = []
    for raw in [*lines, ""]:
        if raw.strip():
            group.append(raw)
        elif group:
            out.extend(_group_blocks(group, wrap))
            group = []
    return out


def paragraphs(text: str, min_wrap: int = 0) -> str:
    """`text` as plain paragraphs separated by blank lines: every paragraph line, heading and
    list item (with its marker) one paragraph."""
    out: list[str] = []
    for block in blocks(text, min_wrap):
        if block.kind == ITEM:
            out.append(block.marker + block.lines[0])
        else:
            out.extend(block.lines)
    return "\n\n".join(out)


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced font: two for a wide (CJK) character."""
    if text.isascii():
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def _wrap_width(lines: list[str]) -> int:
    """The width lines were wrapped to: that of the widest, leaving out the widest tenth (a
    long address that could not be wrapped is wider than the rest)."""
    widths = sorted((display_width(" ".join(x.split())) for x in lines if x.strip()), reverse=True)
    return widths[len(widths) // 10] if widths else 0


def _group_blocks(group: list[str], wrap: int | None) -> list[Block]:
    """The blocks of lines with no blank line between them."""
    units: list[_Line] = []
    previous = ""
    for raw in group:
        line = " ".join(raw.split())
        item = _ITEM.match(line)
        heading = _ATX_HEADING.fullmatch(line)
        last = units[-1] if units else None
        # An indented line under a list item continues it, however short the line above.
        if (
            last is not None
            and not last.heading
            and item is None
            and heading is None
            and (_wrapped(previous, line, wrap) or (raw[:1].isspace() and last.item is not None))
        ):
            last.text, last.physical = _join(last.text, line), last.physical + 1
        elif heading is not None:
            units.append(_Line(heading["text"], heading=True))
        else:
            units.append(_Line(line, item=item))
        previous = line
    if len(group) == 1:
        units = _split_run_into_list(units[0])
    return _as_blocks(units)


def _wrapped(before: str, line: str, wrap: int | None) -> bool:
    """Whether the break between `before` and `line` is where wrapping put it: the first
    word of `line` would not have fitted on `before`."""
    if wrap is None:
        return False
    unspaced = _UNSPACED_CHAR.match(line[:1]) or _UNSPACED_CHAR.match(before[-1:])
    word = line[:1] if unspaced else line.split(" ", 1)[0]
    gap = 0 if unspaced else 1
    return display_width(before) + gap + display_width(word) > FILL * wrap


def _join(before: str, line: str) -> str:
    """Two lines as one: with a space between them, except where either side is Chinese or
    Japanese ("下午" + "1点" is "下午1点")."""
    if _UNSPACED_CHAR.match(before[-1:]) or _UNSPACED_CHAR.match(line[:1]):
        return before + line
    return f"{before} {line}"


def _as_blocks(units: list[_Line]) -> list[Block]:
    out: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(Block(PARAGRAPH, tuple(paragraph)))
            paragraph.clear()

    for i, unit in enumerate(units):
        if unit.item is not None:
            flush()
            marker, number = _marker(unit.item)
            out.append(Block(ITEM, (unit.text[unit.item.end() :],), marker, number))
        elif unit.heading or _is_heading(units, i):
            flush()
            out.append(Block(HEADING, (unit.text,)))
        else:
            paragraph.append(unit.text)
    flush()
    return out


def _is_heading(units: list[_Line], i: int) -> bool:
    """A short line of its own, without final punctuation, first or after a sentence's end,
    with text under it: a section title (as a PDF prints one above its text)."""
    unit = units[i]
    if unit.physical > 1 or i + 1 >= len(units) or unit.text.endswith(tuple(_NOT_HEADING_END)):
        return False
    if display_width(unit.text) > HEADING_MAX_COLS or not any(c.isalpha() for c in unit.text):
        return False
    before = units[i - 1] if i else None
    return (
        before is None
        or before.item is not None
        or before.heading
        or before.text.endswith(tuple(_SENTENCE_END))
    )


def _marker(m: re.Match[str]) -> tuple[str, int | None]:
    """An item's marker as written, and its number (None for a bullet)."""
    marker = m.group()
    if m["ascii"] or m["bullet"]:
        return marker, None
    if m["num"] or m["paren"]:
        return marker, int(m["num"] or m["paren"])
    if m["circled"]:
        return marker, ord(m["circled"]) - 0x2460 + 1
    return marker, _han_number(m["han"])


def _han_number(numeral: str) -> int:
    """一 .. 九十九 as a number."""
    if "十" not in numeral:
        return _HAN_DIGITS.index(numeral[-1]) + 1
    tens, _, ones = numeral.partition("十")
    return (_HAN_DIGITS.index(tens) + 1 if tens else 1) * 10 + (
        _HAN_DIGITS.index(ones) + 1 if ones else 0
    )


def _split_run_into_list(unit: _Line) -> list[_Line]:
    """A list run into one line (its line breaks turned into spaces), as its items: after
    an introduction ending in a colon, or from the line's own first marker. A bullet must
    come back at least twice after the first ("Open Monday - Friday" is one item), a number
    once, in order (1. ... 2. ...)."""
    if unit.heading:
        return [unit]
    intro = None
    text = unit.text
    if unit.item is None:
        colon = _RUN_INTO_LIST.search(text)
        if colon is None:
            return [unit]
        intro, text = text[: colon.start() + 1], text[colon.end() :].lstrip()
    first = _ITEM.match(text)
    pieces = _items_of(text, first) if first is not None else None
    if pieces is None:
        return [unit]
    items = [_Line(p, item=_ITEM.match(p)) for p in pieces]
    return ([_Line(intro)] if intro else []) + items


def _items_of(text: str, first: re.Match[str]) -> list[str] | None:
    """`text` (starting with the marker `first`) cut where the same marker comes again, or
    None when it does not come back often enough to be a list."""
    marker, number = _marker(first)
    if number is None:
        bullet = re.escape(marker.strip())
        starts = [m.start() + 1 for m in re.finditer(rf"\s{bullet}\s+(?=[{_ITEM_START}])", text)]
        needed = 2 if first["ascii"] else 1
    else:
        if not first["num"]:
            return None
        # Only the next number in turn starts an item: "Allow 2. Then ..." in item 5 is text.
        delim = re.escape(first["delim"])
        starts = []
        for m in re.finditer(rf"\s(\d{{1,3}}){delim}\s+(?=[{_ITEM_START}])", text):
            if int(m[1]) == number + 1:
                starts.append(m.start() + 1)
                number += 1
        needed = 1
    if len(starts) < needed:
        return None
    cuts = [0, *starts, len(text)]
    return [text[a:b].strip() for a, b in pairwise(cuts)]
