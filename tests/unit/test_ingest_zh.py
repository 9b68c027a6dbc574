"""Chinese documents of every main type (FAQ CSV, Markdown, Word, PDF), built at test time:
the passages each becomes, with the Chinese text intact (nothing lost, no spaces put in where
lines were wrapped) and split at the same headings and paragraphs as English."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from pathlib import Path

import pytest

from chatbot.container import Services
from knowledge_base.loaders import load_document
from knowledge_base.records import ParsedDocument, PassageDraft

# fpdf2 needs a font with the characters. It must be a TrueType-outline font: fpdf2 writes a
# CFF-outline one (Noto Sans CJK's .ttc) with its own encoding table, which pypdf reads one
# byte per character, so every character comes back after a NUL and more than 255 distinct
# characters come back garbled. WenQuanYi's fonts are TrueType (Debian: fonts-wqy-microhei or
# fonts-wqy-zenhei).
CJK_TRUETYPE_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

FAQ_CSV = (
    "id,question,answer,category,url\n"
    'returns,如何退货？,"请在“订单记录”页面发起退货，\n我们会通过电子邮件发送退货标签。",'
    "退货,https://shop.example/help/returns\n"
    'returns,怎样把商品寄回去？,"请在“订单记录”页面发起退货，\n我们会通过电子邮件发送退货标签。",'
    "退货,https://shop.example/help/returns\n"
    ",礼品卡会过期吗？,不会，礼品卡永不过期，也不收取任何费用。,付款,\n"
)
RETURNS_ANSWER = "请在“订单记录”页面发起退货，\n我们会通过电子邮件发送退货标签。"

# Wrapped the way an editor wraps Chinese: mid-sentence, with no space at the break.
MARKDOWN = """# 保养指南

洗涤前请先阅读
本指南。

## 洗涤

冲锋衣请用冷水、轻柔模式洗涤，
洗涤前拉好所有拉链（zip）。

羽绒服不要干洗。

### 尺码

M 码胸围 96 cm，L 码胸围 104 cm。

## 可以用烘干机烘干外套吗？

不可以。请将外套挂起，
远离热源自然晾干。

## 常见问题

Q：防水涂层多久需要重新处理？
A：一般每洗涤十次左右
处理一次。
Q: 可以熨烫吗？
A: 不建议熨烫。
"""

# Pages as the lines they are set in: two broken mid-sentence by hand (so the breaks fall
# between Chinese characters whatever the font), one wrapped by fpdf2 itself.
PDF_LINES = [
    [
        "标准配送需要3-5个工作日，加急配送需要1-2个工",
        "作日。工作日美国东部时间下午1点前下单，",
        "当天即可发货。",
    ],
    ["我们可配送至加拿大（Canada）、英国和欧盟。", "国际配送统一收费$24.95。"],
]
PDF_WRAPPED = (
    "这一段只有汉字和中文标点，排版时会在任意两个汉字之间自动换行，读回来的文字应该和写进去的"
    "一模一样，既不多出空格，也不丢掉任何一个字。"
) * 2
PDF_PAGES = ["".join(lines) for lines in PDF_LINES] + [PDF_WRAPPED]


def by_entry(doc: ParsedDocument) -> dict[str, list[PassageDraft]]:
    out: dict[str, list[PassageDraft]] = defaultdict(list)
    for p in doc.passages:
        out[p.entry_id].append(p)
    return dict(out)


def kinds(passages: list[PassageDraft]) -> list[str]:
    return [p.kind for p in passages]


def cjk_font() -> Path:
    for path in CJK_TRUETYPE_FONTS:
        if path.is_file():
            return path
    pytest.fail(
        "no Chinese TrueType font to build the test PDF with: install Debian's "
        "fonts-wqy-microhei (apt-get install fonts-wqy-microhei)"
    )


def docx_bytes() -> bytes:
    """Title, text before the first heading, Heading 1/2 sections, a table, and a heading that
    is a question (an FAQ entry), in Chinese."""
    import docx

    document = docx.Document()
    document.core_properties.title = "保养指南"
    document.add_paragraph("洗涤前请先阅读本指南。")
    document.add_heading("洗涤", level=1)
    document.add_paragraph("冲锋衣请用冷水、轻柔模式洗涤。")
    document.add_paragraph("洗涤前拉好所有拉链。")
    document.add_heading("尺码", level=2)
    table = document.add_table(rows=3, cols=2)
    for r, (size, chest) in enumerate(
        [("尺码", "胸围"), ("M 码", "96 厘米"), ("L 码", "104 厘米")]
    ):
        table.cell(r, 0).text = size
        table.cell(r, 1).text = chest
    document.add_heading("可以用烘干机烘干外套吗？", level=1)
    document.add_paragraph("不可以。请将外套挂起，远离热源自然晾干。")
    document.add_paragraph("烘干机的高温会让压胶接缝开胶。")
    document.add_heading("维修", level=1)
    document.add_paragraph("外套破损请寄到我们的维修中心。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes(title: str = "配送手册") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_font("CJK", fname=str(cjk_font()))
    pdf.set_font("CJK", size=14)
    for lines in PDF_LINES:
        pdf.add_page()
        for line in lines:
            pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 8, PDF_WRAPPED)
    return bytes(pdf.output())


# ---- FAQ CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_faq_csv_becomes_questions_and_answers(encoding: str) -> None:
    # utf-8-sig is Excel's "CSV UTF-8"; GB18030 (a superset of GBK) is what Excel on Chinese
    # Windows saves as plain "CSV".
    doc = load_document("常见问题.csv", FAQ_CSV.encode(encoding))
    entries = by_entry(doc)
    assert list(entries) == ["returns", "常见问题-3"]  # a row without an id: file name + row
    returns = entries["returns"]
    assert kinds(returns) == ["question", "question", "answer"]
    assert [p.text for p in returns[:2]] == ["如何退货？", "怎样把商品寄回去？"]
    assert returns[2].text == f"如何退货？\n{RETURNS_ANSWER}"
    assert {(p.answer, p.category, p.url) for p in returns} == {
        (RETURNS_ANSWER, "退货", "https://shop.example/help/returns")
    }
    gift = entries["常见问题-3"]
    assert [(p.kind, p.text) for p in gift] == [
        ("question", "礼品卡会过期吗？"),
        ("answer", "礼品卡会过期吗？\n不会，礼品卡永不过期，也不收取任何费用。"),
    ]
    assert gift[0].category == "付款" and gift[0].url is None


def test_a_gb18030_export_of_the_chinese_sample_faq_reads_the_same() -> None:
    path = Path(__file__).parents[2] / "chatbot" / "sample_data" / "zh" / "shop_faq_zh.csv"
    text = path.read_text(encoding="utf-8")
    as_utf8 = load_document(path.name, text.encode("utf-8"))
    as_gb = load_document(path.name, text.encode("gb18030"))
    assert as_gb.passages == as_utf8.passages
    assert len(by_entry(as_gb)) == 30


# ---- Markdown -------------------------------------------------------------------------------


def test_chinese_markdown_splits_at_headings_and_joins_wrapped_lines() -> None:
    doc = load_document("保养指南.md", MARKDOWN.encode())
    entries = by_entry(doc)
    assert list(entries) == [
        "保养指南#保养指南",
        "保养指南#洗涤",
        "保养指南#尺码",
        "保养指南#可以用烘干机烘干外套吗",
        "保养指南#防水涂层多久需要重新处理",
        "保养指南#可以熨烫吗",
    ]
    [preface] = entries["保养指南#保养指南"]
    assert (preface.kind, preface.title, preface.text) == (
        "text",
        "保养指南",
        "洗涤前请先阅读本指南。",
    )
    [washing] = entries["保养指南#洗涤"]
    assert washing.title == "保养指南 > 洗涤"
    assert washing.text == (
        "冲锋衣请用冷水、轻柔模式洗涤，洗涤前拉好所有拉链（zip）。\n\n羽绒服不要干洗。"
    )
    [sizes] = entries["保养指南#尺码"]
    assert (sizes.title, sizes.text) == (
        "保养指南 > 洗涤 > 尺码",
        "M 码胸围 96 cm，L 码胸围 104 cm。",
    )
    # A heading ending in a full-width question mark is an FAQ entry, like one ending in "?".
    dry = entries["保养指南#可以用烘干机烘干外套吗"]
    assert kinds(dry) == ["question", "answer"]
    assert dry[0].text == "可以用烘干机烘干外套吗？"
    assert dry[0].answer == "不可以。请将外套挂起，远离热源自然晾干。"
    # Q/A pairs with a full-width colon (as Chinese is typed) or an ASCII one.
    coating = entries["保养指南#防水涂层多久需要重新处理"]
    assert [(p.kind, p.title) for p in coating] == [
        ("question", "防水涂层多久需要重新处理？"),
        ("answer", "防水涂层多久需要重新处理？"),
    ]
    assert coating[0].answer == "一般每洗涤十次左右处理一次。"
    assert entries["保养指南#可以熨烫吗"][0].answer == "不建议熨烫。"
    assert not [p for p in doc.passages if "常见问题" in p.title]  # only Q/A pairs in it


def test_a_line_break_next_to_latin_text_still_becomes_a_space() -> None:
    text = "# 说明\n\n请使用 Order\nHistory 页面\n查看订单。\n\nOpening hours\nare 9 to 5.\n"
    [passage] = load_document("说明.md", text.encode()).passages
    assert passage.text == "请使用 Order History 页面查看订单。\n\nOpening hours are 9 to 5."


# ---- Word -----------------------------------------------------------------------------------


def test_chinese_docx_sections_tables_and_question_headings() -> None:
    doc = load_document("保养指南.docx", docx_bytes())
    entries = by_entry(doc)
    assert [(p.title, p.text) for p in entries["保养指南#保养指南"]] == [
        ("保养指南", "洗涤前请先阅读本指南。")
    ]
    [washing] = entries["保养指南#洗涤"]
    assert (washing.title, washing.text) == (
        "洗涤",
        "冲锋衣请用冷水、轻柔模式洗涤。\n\n洗涤前拉好所有拉链。",
    )
    [sizes] = entries["保养指南#尺码"]
    assert (sizes.title, sizes.text) == (
        "洗涤 > 尺码",
        "尺码 | 胸围\n\nM 码 | 96 厘米\n\nL 码 | 104 厘米",
    )
    dry = entries["保养指南#可以用烘干机烘干外套吗"]
    assert kinds(dry) == ["question", "answer"]
    assert dry[0].text == "可以用烘干机烘干外套吗？"
    assert dry[0].answer == (
        "不可以。请将外套挂起，远离热源自然晾干。\n\n烘干机的高温会让压胶接缝开胶。"
    )
    [repairs] = entries["保养指南#维修"]
    assert (repairs.title, repairs.text) == ("维修", "外套破损请寄到我们的维修中心。")


# ---- PDF ------------------------------------------------------------------------------------


def test_chinese_pdf_pages_come_back_whole() -> None:
    from pypdf import PdfReader

    data = pdf_bytes()
    raw = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
    assert [text.count("\n") for text in raw[:2]] == [2, 1]  # read back as separate lines
    assert raw[2].count("\n") >= 2  # the long paragraph really was wrapped

    doc = load_document("配送手册.pdf", data)
    assert [(p.entry_id, p.page, p.title, p.kind) for p in doc.passages] == [
        ("配送手册#page-1", 1, "配送手册, page 1", "text"),
        ("配送手册#page-2", 2, "配送手册, page 2", "text"),
        ("配送手册#page-3", 3, "配送手册, page 3", "text"),
    ]
    # Every character back, in order, with no space or line break where the lines wrapped.
    assert [p.text for p in doc.passages] == PDF_PAGES
    assert all("\x00" not in p.text for p in doc.passages)


# ---- through the knowledge base -------------------------------------------------------------


def test_chinese_documents_are_stored_and_read_back_intact(services: Services) -> None:
    files = {
        "常见问题.csv": FAQ_CSV.encode("utf-8-sig"),
        "保养指南.md": MARKDOWN.encode(),
        "保养指南.docx": docx_bytes(),
        "配送手册.pdf": pdf_bytes(),
    }
    for name, data in files.items():
        result = services.kb.ingest_bytes(name, data)
        assert (result.status, result.message) == ("added", ""), name
        parsed = load_document(name, data).passages
        stored = services.kb.preview(name)
        assert stored is not None
        assert [(p.kind, p.entry_id, p.title, p.page, p.text) for p in stored] == [
            (p.kind, p.entry_id, p.title, p.page, p.text) for p in parsed
        ], name
    assert sorted(d.name for d in services.kb.documents()) == sorted(files)
    entry = services.kb.get_faq_entry("returns")
    assert entry is not None
    assert (entry.questions, entry.answer) == (("如何退货？", "怎样把商品寄回去？"), RETURNS_ANSWER)
    assert services.kb.get_faq_entry("保养指南#可以用烘干机烘干外套吗") is not None
    assert not any(re.search(r"\ufffd", p.text) for p in services.kb.preview("保养指南.md") or [])
