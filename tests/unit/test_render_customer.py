"""The customer's own message in the chat (chatbot.ui.render.customer_text): exactly the
characters typed, with no markup and no link of its own, not even a bare address.

The oracle is markdown-it-py (CommonMark) with single line breaks shown, as the Chat's
Chatbot shows them; GitHub's bare autolinks (http(s)://, www., e-mail addresses), which it
does not make, are checked on the markdown itself: no punctuation in it is left unescaped.
"""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from chatbot.ui.render import customer_text

CHAT = MarkdownIt("commonmark", {"breaks": True}).enable(["table", "strikethrough"])

TYPED = [
    "<img src=x onerror=alert(1)> and [click](https://example.com)",
    "see https://example.com/x, www.example.com and me@example.com",
    "- not a list\n* nor this\n+ nor this\n1. nor a numbered one\n2) or this",
    "# not a heading\nnor this\n===\n---",
    "| a | b |\n|---|---|\n| c | d |",
    "**bold** _it_ `code` ~~gone~~ $$x^2$$ \\ back\\slash",
    "&lt;b&gt; &amp; &#60; <b>bold</b> <script>alert(1)</script>",
    "> a quote\n[ref]: https://evil.example\n[ref]",
    "first\n\n    four spaces are no code block\n\ttab",
    "退货？ 我的订单号是 #12345：请看 https://shop.example/订单",
]


def visible_text(rendered: str) -> str:
    """The text a browser shows: tags gone, references decoded, a <br> a line break."""
    text = re.sub(r"<br />\n?", "\n", rendered)
    text = re.sub(r"</p>\n<p>", "\n\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


@pytest.mark.parametrize("typed", TYPED)
def test_the_customers_text_renders_exactly_as_typed(typed: str) -> None:
    rendered = CHAT.render(customer_text(typed))
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= {"p", "br"}, rendered
    # Leading spaces are kept as spaces (a browser then shows them as one).
    assert visible_text(rendered) == typed.strip()


@pytest.mark.parametrize("typed", TYPED)
def test_no_punctuation_is_left_to_make_a_link(typed: str) -> None:
    markdown = customer_text(typed)
    # Without the character references written for indentation, every ASCII punctuation
    # character is escaped: "https\:\/\/", "www\.", "me\@" cannot become links.
    bare = re.sub(r"&#(?:32|9);", "", markdown)
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", bare)
    assert re.search(r"[!-/:-@\[-`{-~]", unescaped) is None, markdown


def test_line_breaks_and_paragraphs_stay() -> None:
    assert customer_text("a\r\nb\rc\n\nd") == "a\nb\nc\n\nd"
    assert customer_text("  indented") == "&#32;&#32;indented"
