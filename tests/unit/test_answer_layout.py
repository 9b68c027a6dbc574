"""Answers laid out as the customer should read them (chatbot.ui.render.answer_markdown and
knowledge_base.layout): a paragraph a source file wrapped is one paragraph, list items are a
list, a heading is a paragraph of its own; and PDF pages (pypdf gives their printed lines) are
stored with their headings and list items apart from the text around them.

The oracle is markdown-it-py (CommonMark), rendering single line breaks as the Chat's Chatbot
does (`breaks`, as Gradio's `line_breaks=True`) or as gr.Markdown does (soft breaks).
"""

from __future__ import annotations

import re
import time

import pytest
from markdown_it import MarkdownIt

from chatbot.ui.render import answer_markdown
from knowledge_base.layout import HEADING, ITEM, PARAGRAPH, blocks, paragraphs
from knowledge_base.loaders import load_document
from tests.unit.test_ingest_zh import cjk_font

CHAT = MarkdownIt("commonmark", {"breaks": True})
MARKDOWN = MarkdownIt("commonmark")
HAN_SPACE = re.compile(r"[\u4e00-\u9fff]\s+[\u4e00-\u9fff]")

# An FAQ answer as a text editor wrapped it (the sample store policies, 80 columns).
WRAPPED = (
    "No. Northwind-brand products carry a 2-year warranty against defects in\n"
    "materials and workmanship, not a lifetime warranty. After the warranty period\n"
    "ends, our repair partner can still fix many items for a fee; email\n"
    "us for a repair quote."
)


def chat_html(text: str) -> str:
    return CHAT.render(answer_markdown(text))


def tags(rendered: str) -> list[str]:
    return re.findall(r"<([a-z0-9]+)[ >]", rendered)


def texts_of(rendered: str, tag: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", t).strip()
        for t in re.findall(rf"<{tag}>(.*?)</{tag}>", rendered, re.S)
    ]


def test_a_wrapped_paragraph_is_one_paragraph() -> None:
    rendered = chat_html(WRAPPED)
    assert tags(rendered) == ["p"]  # no <br> where the file wrapped
    assert texts_of(rendered, "p") == [" ".join(WRAPPED.split())]


def test_blank_lines_separate_paragraphs() -> None:
    more = "Price matches can be requested before you order or within 14 days of\ndelivery."
    text = f"{WRAPPED}\n\n{more}"
    assert texts_of(chat_html(text), "p") == [
        " ".join(WRAPPED.split()),
        "Price matches can be requested before you order or within 14 days of delivery.",
    ]


@pytest.mark.parametrize("marker", ["-", "*", "•", "·", "●"])
def test_bullets_are_list_items(marker: str) -> None:
    text = (
        "To return an item:\n"
        f"{marker} Print the return label from your order page.\n"
        f"{marker} Pack the item in its original box and seal it well with tape so it\n"
        "  arrives safely.\n"
        f"{marker} Drop the parcel at any post office."
    )
    rendered = chat_html(text)
    assert texts_of(rendered, "p") == ["To return an item:"]
    assert texts_of(rendered, "li") == [
        "Print the return label from your order page.",
        "Pack the item in its original box and seal it well with tape so it arrives safely.",
        "Drop the parcel at any post office.",
    ]
    assert "<ul>" in rendered and "<br" not in rendered


@pytest.mark.parametrize(
    ("items", "start"),
    [
        (["1. Open Settings.", "2. Choose Security.", "3. Press Reset."], None),
        (["1) Open Settings.", "2) Choose Security.", "3) Press Reset."], None),
        (["(1) Open Settings.", "(2) Choose Security.", "(3) Press Reset."], None),
        (["① Open Settings.", "② Choose Security.", "③ Press Reset."], None),
        (["3. Open Settings.", "4. Choose Security.", "5. Press Reset."], "3"),
    ],
)
def test_numbered_items_are_a_numbered_list(items: list[str], start: str | None) -> None:
    rendered = chat_html("\n".join(items))
    assert texts_of(rendered, "li") == ["Open Settings.", "Choose Security.", "Press Reset."]
    assert (f'<ol start="{start}">' if start else "<ol>") in rendered


def test_a_list_run_into_one_line_is_split_into_its_items() -> None:
    # What prose passages hold: the loader's chunking turned the list's line breaks into spaces.
    stores = (
        "- Portland, Oregon: 410 Alder Street - Denver, Colorado: 1225 Larimer Street "
        "- Burlington, Vermont: 88 Church Street"
    )
    assert texts_of(chat_html(stores), "li") == [
        "Portland, Oregon: 410 Alder Street",
        "Denver, Colorado: 1225 Larimer Street",
        "Burlington, Vermont: 88 Church Street",
    ]
    steps = "To reset it: 1. Open Settings. 2. Choose Security. 3. Press Reset."
    rendered = chat_html(steps)
    assert texts_of(rendered, "p") == ["To reset it:"]
    assert texts_of(rendered, "li") == ["Open Settings.", "Choose Security.", "Press Reset."]
    zh = (
        "- 俄勒冈州波特兰：410 Alder Street - 科罗拉多州丹佛：1225 Larimer Street "
        "- 佛蒙特州伯灵顿：88 Church Street"
    )
    assert len(texts_of(chat_html(zh), "li")) == 3


@pytest.mark.parametrize(
    "text",
    [
        "- Open Monday - Friday, 9 am - 5 pm",  # a range, not a second item
        "Open 10 am - 8 pm - closed on Sundays - and holidays",
        "Hours: Monday - Friday",
        "Call +1 555 0142 or write. 2 kg max, 1.5 kg typical.",
    ],
)
def test_dashes_in_a_line_are_not_items(text: str) -> None:
    assert len(texts_of(chat_html(text), "li")) <= 1


def test_a_heading_is_a_paragraph_of_its_own() -> None:
    text = (
        "Returns policy\n"
        "Items can be returned within 30 days of delivery for a full refund, provided\n"
        "they are unused.\n"
        "How to return\n"
        "- Print the return label."
    )
    rendered = chat_html(text)
    assert texts_of(rendered, "p") == [
        "Returns policy",
        "Items can be returned within 30 days of delivery for a full refund, provided they "
        "are unused.",
        "How to return",
    ]
    assert texts_of(rendered, "li") == ["Print the return label."]
    # Markdown's own heading too: a paragraph, its markers gone (no <h1> in a chat bubble).
    assert texts_of(chat_html("# Returns\nItems can be returned."), "p") == [
        "Returns",
        "Items can be returned.",
    ]


def test_lines_their_author_ended_stay_lines() -> None:
    text = "Call us:\nMon-Fri 9-5\nSat 10-2"
    # A hard break, in the chat and in a gr.Markdown (staff transcripts) alike.
    for md in (CHAT, MARKDOWN):
        assert (
            md.render(answer_markdown(text))
            == "<p>Call us:<br />\nMon-Fri 9-5<br />\nSat 10-2</p>\n"
        )
    # Not headings: the line before does not end a sentence, and the last has nothing under it.
    assert [b.kind for b in blocks(text, 40)] == [PARAGRAPH]
    assert [b.kind for b in blocks("Thanks.\nThe Shop Team")] == [PARAGRAPH]


def test_chinese_lines_join_without_a_space() -> None:
    text = (
        "退货政策\n"
        "标准配送需要3-5个工作日，加急配送需要1-2个工作日。工作日美国东部时间下午\n"
        "1点前下单，当天即可发货。这一段只有汉字和中文标点，排版时会在任意两个汉字之间\n"
        "自动换行。\n"
        "一、保留收据\n"
        "二、三十天内寄回"
    )
    rendered = chat_html(text)
    assert texts_of(rendered, "p") == [
        "退货政策",
        "标准配送需要3-5个工作日，加急配送需要1-2个工作日。工作日美国东部时间下午1点前下单，"
        "当天即可发货。这一段只有汉字和中文标点，排版时会在任意两个汉字之间自动换行。",
    ]
    assert texts_of(rendered, "li") == ["保留收据", "三十天内寄回"]
    assert not HAN_SPACE.search(rendered)


def test_layout_keeps_answers_safe() -> None:
    # Lines that join cannot make a link, an image or a block of their own.
    text = (
        "See ![x](http://127.0.0.1:9/t.png) and [our\nguide](javascript:alert(1)) or\n"
        "[the policy](https://shop.example/p).\n# \n=====\n---\n1.5 kg\nend \\"
    )
    markdown = answer_markdown(text)
    rendered = MARKDOWN.render(markdown)
    assert "<img" not in rendered and "<h" not in rendered and "<hr" not in rendered
    assert re.findall(r'href="([^"]*)"', rendered) == ["https://shop.example/p"]
    assert "<ol" not in rendered and "<ul" not in rendered and "<code" not in rendered
    assert "end \\" in rendered  # a final backslash is text, not a line break


def test_layout_is_linear_in_the_text() -> None:
    for text in [
        "a\n" * 50_000,
        "- Item " * 30_000,
        "1. One " + " ".join(f"{i}. Item" for i in range(2, 20_000)),
        "x" * 80 + "\n" + "y " * 200_000,
        "Heading\n" * 50_000,
        "退货政策。" * 50_000,
    ]:
        started = time.perf_counter()
        answer_markdown(text)
        assert time.perf_counter() - started < 3.0, text[:20]


# ---- PDF pages -------------------------------------------------------------------------------


def pdf_page(lines: list[tuple[str, str]], font: str = "Helvetica") -> bytes:
    """One page: each (style, text) a heading ("h", bold, larger) or a paragraph wrapped to the
    page width ("p"), as a word processor prints them."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Returns")
    if font != "Helvetica":
        pdf.add_font(font, fname=str(cjk_font()))
    pdf.add_page()
    for style, text in lines:
        if style == "h":
            pdf.set_font(font, "B" if font == "Helvetica" else "", size=16)
            pdf.cell(text=text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font(font, size=12)
            pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


ENGLISH_PAGE = [
    ("h", "Returns policy"),
    (
        "p",
        "Items can be returned within 30 days of delivery for a full refund, provided they "
        "are unused and in their original packaging with all tags attached.",
    ),
    ("h", "How to return"),
    ("p", "- Print the return label from your order page."),
    ("p", "- Pack the item in its original box and seal it well with tape so it arrives safely."),
    ("p", "- Drop the parcel at any post office."),
    ("p", "Refunds reach your card within five business days after we receive the parcel."),
]


def test_a_pdf_page_keeps_its_headings_and_list_items_apart() -> None:
    [passage] = load_document("returns.pdf", pdf_page(ENGLISH_PAGE)).passages
    assert passage.text.split("\n\n") == [text for _, text in ENGLISH_PAGE]
    rendered = CHAT.render(answer_markdown(passage.answer))
    assert texts_of(rendered, "p")[:3] == [text for _, text in ENGLISH_PAGE[:3]]
    assert texts_of(rendered, "li") == [text[2:] for _, text in ENGLISH_PAGE[3:6]]


def test_a_chinese_pdf_page_keeps_its_heading_apart_and_joins_without_spaces() -> None:
    page = [
        ("h", "退货政策"),
        (
            "p",
            "商品自签收之日起三十天内可以退货，退货时请保留原包装和全部吊牌。退款会在我们收到包裹后"
            "五个工作日内退回您的原支付方式，节假日顺延。",
        ),
        ("p", "一、打印退货标签"),
        ("p", "二、把包裹交给任意邮局"),
    ]
    [passage] = load_document("退货.pdf", pdf_page(page, font="CJK")).passages
    assert passage.text.split("\n\n") == [text for _, text in page]


def test_paragraphs_lays_out_text_for_storage() -> None:
    text = (
        "Returns policy\nItems can be returned within 30 days of delivery for a full refund.\n"
        "- Keep the receipt.\n- Send it back."
    )
    assert paragraphs(text) == (
        "Returns policy\n\nItems can be returned within 30 days of delivery for a full refund."
        "\n\n- Keep the receipt.\n\n- Send it back."
    )
    assert [b.kind for b in blocks(text)] == [HEADING, PARAGRAPH, ITEM, ITEM]
