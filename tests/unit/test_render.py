"""Safe rendering of untrusted text for Gradio Markdown and Chatbot (chatbot.ui.render).

The oracle is markdown-it-py (CommonMark, with GitHub tables and strikethrough), which renders
the markup these components share; GitHub's bare autolinks (e-mail addresses, ftp://), which
it does not do, are checked on the markdown itself.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from chatbot.ui.chat import format_sources
from chatbot.ui.render import (
    answer_markdown,
    code,
    escape_text,
    link,
    md_escape,
    one_line,
    safe_url,
)

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
TRACKER = "http://127.0.0.1:9/track.png"
BREAKOUT = "https://x.example/a) [evil](https://evil.example"


def render(markdown: str) -> str:
    return MD.render(markdown)


def hrefs(rendered: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', rendered)]


def text_of(rendered: str) -> str:
    """The visible text of one rendered paragraph."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


def no_gfm_autolink(markdown: str) -> bool:
    """No bare e-mail address or non-http(s) scheme:// that GitHub markdown would link."""
    return re.search(r"(?<!\\)@", markdown) is None and re.search(r"ftp://", markdown) is None


ATTACKS = [
    f"Oil it. ![x]({TRACKER})",
    f'<img src="{TRACKER}"> and <script>alert(1)</script>',
    "[click](javascript:alert(1)) or [x](data:text/html;base64,PHNjcmlwdD4=)",
    "<https://evil.example> <javascript:alert(1)>",
    "| a | b |\n|---|---|\n| c | d |",
    "`code` and ```fences``` and **bold** _it_ ~~gone~~",
    "email attacker@evil.example or ftp://evil.example/x",
    "&lt;img src=x&gt; &amp; \\[escaped\\] back\\slash",
    "$$\\href{https://evil.example}{x}$$",
    "[ref]: https://evil.example\n[ref]",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_escaped_text_renders_as_itself_with_no_markup(text: str) -> None:
    markdown = escape_text(text)
    rendered = render(markdown)
    assert "<img" not in rendered and "<a " not in rendered and "<script" not in rendered
    assert "<table" not in rendered and "<code" not in rendered and "<em" not in rendered
    assert "<del" not in rendered and "<strong" not in rendered
    assert text_of(rendered.replace("\n", " ")) == " ".join(text.split()) or "\n" in text
    assert no_gfm_autolink(markdown)


def test_escaping_keeps_ordinary_text_readable() -> None:
    text = "Returns are free within 30 days: see https://shop.example/returns (about $4.99)."
    assert escape_text(text) == text  # nothing in it is markup
    assert md_escape("a [b](c)") == escape_text("a [b](c)") == "a \\[b\\](c)"


def test_http_schemes_stay_and_others_lose_their_colon() -> None:
    assert escape_text("HTTPS://shop.example") == "HTTPS://shop.example"
    assert escape_text("ftp://x.example sftp://y") == "ftp\\://x.example sftp\\://y"
    assert escape_text("Note: read this") == "Note: read this"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "/relative/path",
        "//evil.example/x",
        "https://shop.example@evil.example/",
        "https://user:pw@shop.example/",
        "http://[::1",
        "https://shop.example/\x00x",
        "",
        None,
        "https://" + "a" * 3000 + ".example",
    ],
)
def test_only_absolute_http_urls_become_links(url: str | None) -> None:
    assert safe_url(url) is None
    markdown = link("Returns [policy]", url)
    assert markdown == "Returns \\[policy\\]"
    assert "<a " not in render(markdown)


def test_a_crafted_url_cannot_end_the_link_early() -> None:
    markdown = link("Warranty", BREAKOUT)
    rendered = render(markdown)
    assert hrefs(rendered) == ["https://x.example/a%29%20%5Bevil%5D%28https://evil.example"]
    assert unquote(hrefs(rendered)[0]) == BREAKOUT  # the same address, encoded
    assert text_of(rendered) == "Warranty"
    for url in ('https://x.example/"onmouseover="alert(1)', "https://x.example/a\\b|c`d<e>"):
        [href] = hrefs(render(link("t", url)))
        assert not set(href) & set(" \"'<>()\\|`")


def as_gradio_reads_link_text(markdown: str) -> str:
    """Gradio's markdown (marked) removes backslash escapes from a link's text and parses it
    again: the same done here, so the oracle sees what the browser would."""
    return re.sub(
        r"\[((?:\\.|[^\[\]\\])*)\]\(",
        lambda m: "[" + re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", m.group(1)) + "](",
        markdown,
    )


@pytest.mark.parametrize("label", [f"![t]({TRACKER})", f"<img src={TRACKER}>", "**b** `c` [d](e)"])
def test_link_text_holds_no_markup_even_unescaped(label: str) -> None:
    markdown = link(label, "https://shop.example/")
    rendered = render(as_gradio_reads_link_text(markdown))
    assert "<img" not in rendered and "<strong" not in rendered and "<code" not in rendered
    assert hrefs(rendered) == ["https://shop.example/"]
    assert text_of(rendered) == label
    # The quirk is real for backslash escapes: this is what the label must not rely on.
    escaped = f"[{escape_text(label)}](https://shop.example/)"
    assert render(as_gradio_reads_link_text(escaped)) != render(escaped)


def test_an_http_link_is_kept() -> None:
    assert link("Returns", "https://shop.example/returns?a=1&b=2#x") == (
        "[Returns](https://shop.example/returns?a=1&b=2#x)"
    )
    assert link("", "https://shop.example/") == ""  # no invisible links


def test_answers_keep_http_links_and_drop_images_and_other_links() -> None:
    answer = (
        f"Oil it monthly. ![how it looks]({TRACKER}) See [our guide](https://shop.example/oil) "
        "or [this](javascript:alert(1)) and [that](https://x.example/a_(b)). <b>Done</b>"
    )
    rendered = render(answer_markdown(answer))
    assert "<img" not in rendered and "<b>" not in rendered
    assert hrefs(rendered) == ["https://shop.example/oil", "https://x.example/a_%28b%29"]
    assert text_of(rendered) == (
        "Oil it monthly. how it looks See our guide or this and that. <b>Done</b>"
    )


def test_an_image_whose_address_was_removed_is_its_description() -> None:
    assert answer_markdown("Oil it. ![x]([link removed])") == "Oil it. x"


def test_an_image_link_inside_a_link_label_fetches_nothing() -> None:
    rendered = render(answer_markdown(f"[![x]({TRACKER})](https://shop.example)"))
    assert "<img" not in rendered
    assert all(h.startswith("https://shop.example") for h in hrefs(rendered))


@pytest.mark.parametrize("text", ATTACKS)
def test_answers_render_no_image_and_only_http_links(text: str) -> None:
    markdown = answer_markdown(text)
    rendered = render(markdown)
    assert "<img" not in rendered and "<script" not in rendered
    assert all(h.startswith(("http://", "https://")) for h in hrefs(rendered))
    assert no_gfm_autolink(markdown)


def test_code_spans_hold_only_what_cannot_end_them() -> None:
    assert code("acct-reset") == "`acct-reset`"
    for entry_id in ("a`b", "x|![i](http://t/p.png)|", "two\nlines", ""):
        assert code(entry_id) == escape_text(entry_id)
    row = f"| 1 | {code('x|![i](http://t/p.png)|')} | t |"
    rendered = render(f"| rank | id | title |\n|---|---|---|\n{row}")
    assert "<img" not in rendered and rendered.count("<td>") == 3


def test_sources_escape_titles_ids_documents_and_snippets() -> None:
    from chatbot.dialogue.manager import Source

    sources = [
        Source("a`b", f"![t]({TRACKER})", f"<img src={TRACKER}>", 0.9, BREAKOUT, "x|y.csv"),
        Source("ok-id", "Returns\npolicy", "Free returns.", 0.8, "javascript:alert(1)"),
    ]
    markdown = format_sources(sources)
    rendered = render(markdown)
    assert "<img" not in rendered and "<code>" not in rendered  # no ids for customers
    assert hrefs(rendered) == ["https://x.example/a%29%20%5Bevil%5D%28https://evil.example"]
    assert markdown.splitlines()[-1] == "2. Returns policy"  # one line, not linked
    assert no_gfm_autolink(markdown)


def test_one_line() -> None:
    assert one_line(" a\n b \t c ") == "a b c"


@pytest.mark.parametrize(
    "text",
    [
        "[a](" + "x" * 200_000,
        "[" * 100_000,
        "[a](" + "(" * 100_000,
        "![a](" + " " * 100_000 + "x",
        "[a](x" + " " * 100_000 + "y",
        "ftp" * 100_000 + "://",
        ("[a](x" + " " * 2000 + ")") * 100,
        ('[a](<x> "' + " " * 2000 + ")") * 100,
    ],
)
def test_rendering_is_linear_in_the_text(text: str) -> None:
    started = time.perf_counter()
    answer_markdown(text)
    escape_text(text)
    assert time.perf_counter() - started < 1.0
