"""Every uploadable type (XLSX, JSON, TXT, HTML, PDF, DOCX, and legacy-encoded text), built as
real files at test time: the passages each becomes, and the error a staff member sees for a
broken, mislabelled, oversized or malicious file."""

from __future__ import annotations

import codecs
import io
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.container import Services, build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import IngestSettings, Settings
from knowledge_base.chunking import MAX_CHARS
from knowledge_base.embedders import HashEmbedder
from knowledge_base.formats.common import section_passages
from knowledge_base.formats.faq import FaqRow, faq_document
from knowledge_base.limits import MB, Limits, PassageBudget
from knowledge_base.loaders import LOADERS, load_document
from knowledge_base.records import IngestError, ParsedDocument, PassageDraft
from knowledge_base.text import decode
from tests.conftest import SAMPLE_DATA
from tests.unit import fixtures as fx


def by_entry(doc: ParsedDocument) -> dict[str, list[PassageDraft]]:
    out: dict[str, list[PassageDraft]] = defaultdict(list)
    for p in doc.passages:
        out[p.entry_id].append(p)
    return dict(out)


def kinds(passages: list[PassageDraft]) -> list[str]:
    return [p.kind for p in passages]


def ingest_error(name: str, data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(IngestError) as info:
        load_document(name, data, limits or Limits())
    err = info.value
    assert err.filename == name
    assert str(err) == f"{name}: {err.problem}"
    return err.problem


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return fx.write_all(tmp_path / "uploads")


# ---- registry -----------------------------------------------------------------------------


def test_every_type_is_registered() -> None:
    assert set(LOADERS) == {
        ".csv",
        ".xlsx",
        ".json",
        ".md",
        ".markdown",
        ".txt",
        ".html",
        ".htm",
        ".pdf",
        ".docx",
    }
    problem = ingest_error("old.doc", b"whatever")
    assert "unsupported file type '.doc'" in problem
    assert ".docx" in problem and ".pdf" in problem and ".xlsx" in problem


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pages"):
        Limits(max_pages=0)


# ---- FAQ tables: XLSX and JSON ------------------------------------------------------------


def test_xlsx_first_sheet_with_shared_ids_and_numbers(files: dict[str, Path]) -> None:
    doc = load_document("faq.xlsx", files["faq.xlsx"].read_bytes())
    assert doc.source_type == "xlsx"
    entries = by_entry(doc)
    assert list(entries) == ["returns", "giftcards", "7"]  # id 7 is a number in Excel
    returns = entries["returns"]
    assert kinds(returns) == ["question", "question", "answer"]
    assert [p.text for p in returns[:2]] == [
        "How do I return an item?",
        "Can I send something back?",
    ]
    assert {(p.answer, p.category, p.url) for p in returns} == {
        ("Start a return from Order History.", "Returns", None)
    }
    seven = entries["7"]
    assert seven[0].answer == "1234"  # 1234.0 in the cell, not "1234.0"
    assert seven[0].url == "https://x.example/7"
    # The second sheet ("Notes") is not read.
    assert all("sheet" not in p.text for p in doc.passages)


def test_xlsx_header_may_follow_blank_rows_and_ids_are_optional() -> None:
    data = fx.xlsx_bytes(
        [["Question", "Answer"], ["Q one?", "A one."], ["Q two?", "A two."]],
        leading_blank_rows=2,
    )
    entries = by_entry(load_document("My Sheet.xlsx", data))
    assert list(entries) == ["my-sheet-1", "my-sheet-2"]
    assert entries["my-sheet-2"][0].text == "Q two?"


def test_csv_xlsx_and_json_build_the_same_entries() -> None:
    rows = [
        ["id", "question", "answer", "category", "url"],
        ["a", "How do I pay?", "By card.", "Billing", "https://x.example/pay"],
        ["a", "Which cards work?", "By card.", "Billing", "https://x.example/pay"],
        ["", "Do you ship abroad?", "Yes.", "", ""],
    ]
    csv_data = "\n".join(",".join(r) for r in rows).encode()
    json_data = fx.json_bytes([dict(zip(rows[0], r, strict=True)) for r in rows[1:]])
    docs = [
        load_document("faq.csv", csv_data),
        load_document("faq.xlsx", fx.xlsx_bytes([list(r) for r in rows])),
        load_document("faq.json", json_data),
    ]
    assert [d.source_type for d in docs] == ["csv", "xlsx", "json"]
    assert docs[0].passages == docs[1].passages == docs[2].passages
    assert list(by_entry(docs[0])) == ["a", "faq-3"]


def test_json_list_and_faqs_object_are_the_same(files: dict[str, Path]) -> None:
    data = files["faq.json"].read_bytes()
    doc = load_document("faq.json", data)
    assert doc.source_type == "json"
    entries = by_entry(doc)
    assert list(entries) == ["returns", "faq-3"]
    assert kinds(entries["returns"]) == ["question", "question", "answer"]
    assert entries["faq-3"][0].category == "Payments"
    wrapped = fx.json_bytes({"faqs": fx.FAQ_JSON})
    assert load_document("faq.json", wrapped).passages == doc.passages


def test_json_accepts_numbers_and_nulls_and_a_bom() -> None:
    data = codecs.BOM_UTF8 + fx.json_bytes(
        [{"ID": 12, "Question": "Opening time?", "Answer": 9, "url": None}]
    )
    [q, a] = load_document("faq.json", data).passages
    assert (q.entry_id, q.text, q.answer, q.url) == ("12", "Opening time?", "9", None)
    assert a.kind == "answer"


# ---- prose: TXT, HTML, PDF, DOCX ----------------------------------------------------------


@pytest.mark.parametrize("name", ["hours.txt", "hours-utf16.txt"])
def test_txt_in_windows_1252_and_utf16(files: dict[str, Path], name: str) -> None:
    doc = load_document(name, files[name].read_bytes())
    assert doc.source_type == "text"
    stem = name.removesuffix(".txt")
    entries = by_entry(doc)
    reservations = entries[f"{stem}#do-you-take-reservations"]
    assert kinds(reservations) == ["question", "answer"]
    assert reservations[0].answer == "Only for groups of six or more."
    [text] = entries[f"{stem}#{stem}"]
    assert text.title == stem
    assert text.text == (
        "Opening hours\n\nOur café is open from 8 to 18 on weekdays — and on Saturdays from 9."
    )


def test_txt_long_paragraphs_are_split_with_overlap() -> None:
    sentences = [f"Sentence {i} describes one more delivery rule in detail." for i in range(60)]
    text = "Intro paragraph.\n\n" + " ".join(sentences) + "\n\nClosing paragraph.\n"
    passages = load_document("rules.txt", text.encode()).passages
    assert len(passages) >= 3
    assert all(p.kind == "text" and p.title == "rules" for p in passages)
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    assert [p.entry_id for p in passages][:2] == ["rules#rules", "rules#rules-2"]
    joined = " ".join(p.text for p in passages)
    assert all(s in joined for s in sentences)


def test_html_visible_text_sections_and_faq(files: dict[str, Path]) -> None:
    doc = load_document("help.html", files["help.html"].read_bytes())
    assert doc.source_type == "html"
    entries = by_entry(doc)
    assert [(p.title, p.text) for p in entries["help#help-centre"]] == [
        ("Help Centre", "Welcome to the help centre.")  # text before h1: the <title>
    ]
    [delivery] = entries["help#delivery"]
    assert delivery.title == "Delivery"
    assert delivery.text == "We deliver on weekdays.\n\nWeekend delivery costs extra."
    sundays = entries["help#do-you-deliver-on-sundays"]
    assert kinds(sundays) == ["question", "answer"]
    assert sundays[0].answer == (
        "No, we do not deliver on Sundays.\n\nSaturday delivery is available in cities."
    )
    [rates] = entries["help#rates"]
    assert rates.title == "Delivery > Rates"
    assert rates.text == "Zone | Price\n\nLocal | $5"
    [returns] = entries["help#returns"]
    assert returns.title == "Returns"  # a new h1 does not inherit the previous one
    assert returns.text == "Returns within 30 days.\n\nKeep the receipt."
    everything = " ".join(p.text for p in doc.passages)
    for hidden in ("tracking", "color", "Shop all products", "JavaScript", "promo", "console"):
        assert hidden not in everything


def test_html_without_title_uses_first_h1_then_file_name() -> None:
    [p] = load_document("a.htm", b"<p>Intro.</p><h1>Guide</h1>").passages
    assert (p.title, p.text) == ("Guide", "Intro.")
    [p] = load_document("plain-page.html", b"<div>Just text.</div>").passages
    assert p.title == "plain-page"


def test_html_nested_thousands_deep() -> None:
    deep = b"<p>a<b>b</b>c</p>" + b"<div>" * 5000 + b"deep text" + b"</div>" * 5000
    [p] = load_document("deep.html", deep).passages
    assert p.text == "abc\n\ndeep text"


def test_pdf_pages_titles_and_page_numbers(files: dict[str, Path]) -> None:
    doc = load_document("shipping.pdf", files["shipping.pdf"].read_bytes())
    assert doc.source_type == "pdf"
    assert [(p.entry_id, p.page, p.title) for p in doc.passages] == [
        ("shipping#page-1", 1, "Shipping Handbook, page 1"),
        ("shipping#page-2", 2, "Shipping Handbook, page 2"),
        ("shipping#page-3", 3, "Shipping Handbook, page 3"),
    ]
    assert doc.passages[0].text.startswith("How long does shipping take?")
    assert "Canada" in doc.passages[2].text
    assert all(p.kind == "text" and p.answer == p.text for p in doc.passages)


def test_pdf_long_page_is_chunked_and_every_chunk_keeps_its_page() -> None:
    long_page = " ".join(f"Rule {i} of the warranty applies to tents." for i in range(40))
    data = fx.pdf_bytes(["Short first page.", long_page], title="")
    passages = load_document("Warranty Terms.pdf", data).passages
    assert passages[0].title == "Warranty Terms, page 1"  # no title metadata: the file name
    second = [p for p in passages if p.page == 2]
    assert len(second) >= 2
    assert all(p.title == "Warranty Terms, page 2" for p in second)
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    assert [p.entry_id for p in second][:2] == ["warranty-terms#page-2", "warranty-terms#page-2-2"]


def test_docx_sections_tables_and_question_headings(files: dict[str, Path]) -> None:
    doc = load_document("care guide.docx", files["care guide.docx"].read_bytes())
    assert doc.source_type == "docx"
    entries = by_entry(doc)
    assert [(p.title, p.text) for p in entries["care-guide#care-guide"]] == [
        ("Care Guide", "Read this before washing anything.")  # core title heads the preface
    ]
    [washing] = entries["care-guide#washing"]
    assert (washing.title, washing.text) == (
        "Washing",
        "Wash jackets cold, on a gentle cycle.\n\nClose every zip first.",
    )
    [sizes] = entries["care-guide#sizes"]
    assert sizes.title == "Washing > Sizes"
    assert sizes.text == "Size | Chest\n\nM | 96 cm\n\nL | 104 cm"
    dry = entries["care-guide#can-i-tumble-dry-my-jacket"]
    assert kinds(dry) == ["question", "answer"]
    assert dry[0].text == "Can I tumble dry my jacket?"
    assert dry[0].answer == (
        "No. Hang it to dry away from direct heat.\n\nTumble drying melts the taped seams."
    )
    [repairs] = entries["care-guide#repairs"]
    assert repairs.title == "Repairs"


# ---- encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,encoding",
    [
        ("Do you sell café crème? Oui — every day, 5 €.", "cp1252"),
        ("Größe und Preis: Überweisung möglich.", "latin-1"),
        ("Zwroty są przyjmowane w ciągu 30 dni. Zażółć gęślą jaźń.", "cp1250"),
        ("Доставка занимает три дня. Возврат в течение тридцати дней.", "cp1251"),
        ("ご注文は三日以内にお届けします。返品は三十日以内です。", "shift_jis"),
        ("Returns within 30 days.", "utf-16-le"),  # with its BOM, added below
        ("Returns within 30 days.", "utf-32"),
    ],
)
def test_decode_legacy_and_unicode_encodings(text: str, encoding: str) -> None:
    data = text.encode(encoding)
    if encoding == "utf-16-le":
        data = codecs.BOM_UTF16_LE + data
    assert decode("f.txt", data) == text


def test_cp1252_csv_decodes() -> None:
    doc = load_document("f.csv", b"question,answer\ncaf\xe9 cr\xe8me?,Oui.\n")
    assert [p.text for p in doc.passages] == ["café crème?", "café crème?\nOui."]


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"question,answer\ncaf\xe9\xff?,yes\n", "not UTF-8"),  # 0xFF: filler, not text
        (b"\xe9\xff", "not UTF-8"),
        (b"text\x00with a NUL", "binary"),
        (b"caf\xe9 \x01\x02\x03 control characters", "not UTF-8"),
        (b"\xff\xfe\x00", "byte-order mark"),  # UTF-16 BOM, then half a character
    ],
)
def test_decode_refuses_binary_and_garbage(data: bytes, expected: str) -> None:
    with pytest.raises(IngestError) as info:
        decode("f.txt", data)
    assert expected in info.value.problem
    assert "UTF-8" in info.value.problem  # always says what to do


# ---- broken and mislabelled files ---------------------------------------------------------


def test_truncated_pdf() -> None:
    data = fx.pdf_bytes()
    problem = ingest_error("cut.pdf", data[: len(data) // 2])
    assert "the PDF is incomplete" in problem
    assert "upload it again" in problem


def test_damaged_pdf_with_an_end_marker() -> None:
    problem = ingest_error("bad.pdf", b"%PDF-1.4\nnot really a pdf body\n%%EOF\n")
    assert "the PDF is damaged or incomplete and could not be read" in problem


@pytest.mark.parametrize(
    "data,looks_like",
    [
        (b"Just some notes.\n", "plain text"),
        (fx.docx_bytes(), "a Word document (.docx)"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "a PNG image"),
    ],
)
def test_pdf_that_is_something_else(data: bytes, looks_like: str) -> None:
    problem = ingest_error("scan.pdf", data)
    assert problem.startswith(f"this is not a PDF: it looks like {looks_like}")


def test_pdf_without_text_needs_ocr() -> None:
    problem = ingest_error("scan.pdf", fx.blank_pdf_bytes(pages=2))
    assert "no text could be extracted from any of its 2 page(s)" in problem
    assert "scanned image" in problem and "OCR" in problem


def test_password_protected_pdf() -> None:
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Secret.")
    pdf.set_encryption(
        owner_password="o", user_password="u", encryption_method=EncryptionMethod.RC4
    )
    problem = ingest_error("locked.pdf", bytes(pdf.output()))
    assert "password-protected" in problem


def test_docx_that_is_a_renamed_text_file() -> None:
    problem = ingest_error("notes.docx", b"Meeting notes\nnothing else\n")
    assert problem == (
        "this is not a Word document (.docx): it looks like plain text; save it from Word as "
        ".docx and upload it again"
    )


def test_docx_that_is_an_old_doc_or_an_xlsx() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    problem = ingest_error("old.docx", ole2)
    assert "old-format Office file" in problem and "without a password" in problem
    problem = ingest_error("sheet.docx", fx.xlsx_bytes())
    assert "it is an Excel workbook (.xlsx), with no word/document.xml inside" in problem


def test_truncated_docx() -> None:
    problem = ingest_error("cut.docx", fx.docx_bytes()[:4000])
    assert "damaged or incomplete" in problem


def test_zip_bomb_docx_is_refused_before_unpacking() -> None:
    bomb = fx.zip_bomb_docx(member_mb=20)
    assert len(bomb) < 100_000  # 20 MB of zeros in a few KB
    problem = ingest_error("bomb.docx", bomb)
    assert "word/media/padding.bin" in problem
    assert "zip bomb" in problem


def test_docx_over_the_unpacked_size_limit() -> None:
    problem = ingest_error(
        "big.docx", fx.docx_bytes(), Limits(max_zip_uncompressed_bytes=10 * 1024)
    )
    assert "would unpack to" in problem and "over the limit of 10.0 KB" in problem


def test_xlsx_missing_answer_column() -> None:
    data = fx.xlsx_bytes([["Question", "Notes"], ["Why?", "internal"]], title="Sheet A")
    problem = ingest_error("faq.xlsx", data)
    assert problem.startswith("missing required column(s) answer;")
    assert "'Sheet A'" in problem


def test_xlsx_row_with_empty_answer_names_the_excel_row() -> None:
    data = fx.xlsx_bytes([["question", "answer"], ["Q?", "A."], ["Q2?", None]])
    assert ingest_error("faq.xlsx", data) == (
        "row 3 has an empty answer; fill it in or remove the row"
    )


def test_xlsx_empty_first_sheet_and_header_only() -> None:
    problem = ingest_error("faq.xlsx", fx.xlsx_bytes([]))
    assert "the first sheet ('FAQ') is empty" in problem
    problem = ingest_error("faq.xlsx", fx.xlsx_bytes([["question", "answer"]]))
    assert "has a header but no FAQ rows" in problem


def test_xlsx_that_is_a_pdf() -> None:
    problem = ingest_error("faq.xlsx", fx.pdf_bytes())
    assert problem.startswith("this is not an Excel workbook (.xlsx): it looks like a PDF")


def test_invalid_json_says_where() -> None:
    data = b'[{"question": "a", "answer": "b"},\n {"question": "c" "answer": "d"}]'
    problem = ingest_error("faq.json", data)
    assert problem.startswith("the file is not valid JSON (Expecting ',' delimiter at line 2")


def test_json_that_is_not_json() -> None:
    problem = ingest_error("faq.json", b"question,answer\nq,a\n")
    assert problem.startswith("the file is not JSON (it looks like plain text)")


@pytest.mark.parametrize(
    "data,expected",
    [
        (b'{"items": []}', "the JSON has the wrong shape: expected a list of"),
        (b'"hello"', "found a string"),
        (b'[{"question": "a", "answer": "b"}, "c"]', "item 2 is a string, not an object"),
        (b'[{"question": "a", "response": "b"}]', "item 1 has no 'answer' field"),
        (b'[{"question": "a", "answer": ["b"]}]', "item 1: 'answer' must be text, not a list"),
        (b'[{"question": "a", "answer": ""}]', "item 1 has an empty answer"),
        (b"[]", "the JSON list has no FAQ items"),
    ],
)
def test_json_of_the_wrong_shape(data: bytes, expected: str) -> None:
    assert expected in ingest_error("faq.json", data)


def test_json_nested_too_deeply() -> None:
    assert "nested too deeply" in ingest_error("deep.json", b"[" * 100_000 + b"]" * 100_000)


def test_html_that_is_binary() -> None:
    problem = ingest_error("page.html", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "binary data, not text; it looks like a PNG image" in problem


def test_html_without_visible_text() -> None:
    problem = ingest_error("app.html", b"<html><body><script>render()</script></body></html>")
    assert "no visible text" in problem


# ---- limits -------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_before_parsing() -> None:
    # Not even a valid PDF: the size check comes first.
    problem = ingest_error("big.pdf", b"x" * 2048, Limits(max_file_bytes=1024))
    assert problem == (
        "the file is 2.0 KB, over the limit of 1.0 KB per file; split it into smaller files "
        "(or ask an administrator to raise the limit)"
    )


def test_pdf_over_the_page_limit() -> None:
    problem = ingest_error("shipping.pdf", fx.pdf_bytes(), Limits(max_pages=1))
    assert problem.startswith("the PDF has 3 pages, over the limit of 1 page per file")


@pytest.mark.parametrize(
    "name,data",
    [
        ("long.txt", b"word " * 100),
        ("long.pdf", fx.pdf_bytes()),
        ("long.docx", fx.docx_bytes()),
        ("long.html", fx.HTML.encode()),
        ("long.xlsx", fx.xlsx_bytes()),
    ],
)
def test_text_over_the_character_limit(name: str, data: bytes) -> None:
    problem = ingest_error(name, data, Limits(max_text_chars=60))
    assert "more than 60 characters of text" in problem


def faq_csv(rows: int) -> bytes:
    return b"id,question,answer\n" + b"".join(b"e%d,Q %d?,A.\n" % (i, i) for i in range(rows))


@pytest.mark.parametrize(
    "name,data,what",
    [
        ("big.csv", faq_csv(4), "the CSV has more than 3 rows"),
        ("big.csv", faq_csv(3) + b",,\n", "the CSV has more than 3 rows"),  # empty rows count
        (
            "big.xlsx",
            fx.xlsx_bytes([["question", "answer"]] + [[f"Q {i}?", "A."] for i in range(4)]),
            "the sheet 'FAQ' has more than 3 rows",
        ),
        (
            "big.xlsx",
            fx.xlsx_bytes([["question", "answer"], ["Q?", "A."]], leading_blank_rows=3),
            "the sheet 'FAQ' has more than 3 rows",
        ),
        (
            "big.json",
            b'[{"question": "Q?", "answer": "A."}'
            + b', {"question": "Q?", "answer": "A."}' * 4
            + b"]",
            "the JSON list has 5 items",
        ),
    ],
)
def test_faq_table_over_the_row_limit(name: str, data: bytes, what: str) -> None:
    problem = ingest_error(name, data, Limits(max_rows=3))
    assert problem.startswith(f"{what}, over the limit of 3 ")
    assert problem.endswith(
        "split it into smaller files, each within the limit (or ask an administrator to raise "
        "the limit)"
    )


def test_faq_table_at_the_row_limit_is_accepted() -> None:
    assert len(load_document("ok.csv", faq_csv(3), Limits(max_rows=3)).passages) == 6
    sheet = fx.xlsx_bytes([["question", "answer"]] + [[f"Q {i}?", "A."] for i in range(3)])
    assert len(load_document("ok.xlsx", sheet, Limits(max_rows=3)).passages) == 6


PASSAGES_OVER = (
    "the file would become more than 5 passages (each FAQ phrasing, answer and text section "
    "is one), over the limit per file; split it into smaller files (or ask an administrator to "
    "raise the limit)"
)


@pytest.mark.parametrize(
    "name,data",
    [
        ("many.csv", faq_csv(3)),  # 3 entries = 6 passages
        ("many.txt", b"".join(b"Q: q%d?\nA: a.\n" % i for i in range(3))),
        ("many.md", b"".join(b"## Question %d?\nAnswer.\n\n" % i for i in range(3))),
        ("many.txt", "\n\n".join("word " * 170 + str(i) for i in range(6)).encode()),
        ("many.pdf", fx.pdf_bytes(["Page text. " * 10] * 6)),
        ("many.html", fx.HTML.encode()),
        ("many.docx", fx.docx_bytes()),
        ("many.xlsx", fx.xlsx_bytes()),
        (
            "many.json",
            b"["
            + b", ".join([b'{"question": "Q%d?", "answer": "A."}' % i for i in range(3)])
            + b"]",
        ),
    ],
)
def test_file_over_the_passage_limit(name: str, data: bytes) -> None:
    assert len(load_document(name, data).passages) > 5  # within the default limits
    assert ingest_error(name, data, Limits(max_passages=5)) == PASSAGES_OVER


def test_a_million_row_csv_is_refused_in_seconds() -> None:
    # 4 MB, under the size and text limits; as passages it would take hours to embed.
    data = b"question,answer\n" + b"q,a\n" * 1_000_000
    assert len(data) < 5 * MB
    started = time.perf_counter()
    problem = ingest_error("huge.csv", data)
    assert time.perf_counter() - started < 5
    assert problem.startswith(
        "the CSV has more than 20,000 rows, over the limit of 20,000 rows per file (empty rows "
        "count too)"
    )


def test_passages_are_counted_while_they_are_made() -> None:
    # Refused just past the limit: no more rows or sections are read than that takes, so a
    # file of 50,000 entries never becomes 100,000 passages first.
    read: list[int] = []

    def rows() -> Iterator[FaqRow]:
        for i in range(50_000):
            read.append(i)
            yield FaqRow(f"row {i}", i, {"question": f"Q {i}?", "answer": "A."})

    with pytest.raises(IngestError, match="more than 10 passages"):
        faq_document("p.csv", "csv", rows(), Limits(max_passages=10), no_rows="none")
    assert len(read) == 6  # 5 entries fit in 10 passages; the 6th is one too many

    def sections() -> Iterator[tuple[list[str], str]]:
        for i in range(50_000):
            read.append(i)
            yield [f"Question {i}?"], "Answer."

    read.clear()
    with pytest.raises(IngestError, match="more than 10 passages"):
        section_passages("p", sections(), set(), PassageBudget("p.md", Limits(max_passages=10)))
    assert len(read) == 6


def test_the_bundled_sample_fits_the_default_limits_comfortably() -> None:
    limits = Limits()
    for path in sorted(p for p in SAMPLE_DATA.rglob("*") if p.is_file()):
        doc = load_document(path.name, path.read_bytes(), limits)
        assert 0 < len(doc.passages) * 100 < limits.max_passages, path.name


# ---- end to end ---------------------------------------------------------------------------

EXPECTED = {
    # file: (a question from it, the entry it must find)
    "faq.xlsx": ("Do gift cards expire?", "giftcards"),
    "care guide.docx": ("Can I tumble dry my jacket?", "care-guide#can-i-tumble-dry-my-jacket"),
    "shipping.pdf": ("Do you ship to Canada and the European Union?", "shipping#page-3"),
    "help.html": ("Do you deliver on Sundays?", "help#do-you-deliver-on-sundays"),
    "faq.json": ("Can I send something back?", "returns"),
    "hours.txt": ("Do you take reservations?", "hours#do-you-take-reservations"),
    "hours-utf16.txt": ("When is the café open on weekdays?", "hours-utf16#hours-utf16"),
}


def test_every_type_ingests_and_answers(services: Services, files: dict[str, Path]) -> None:
    kb = services.kb
    for name, path in files.items():
        result = kb.ingest_bytes(name, path.read_bytes())
        assert (result.status, result.message) == ("added", ""), name
        assert result.passages > 0
    for name, (question, entry_id) in EXPECTED.items():
        hits = kb.search(question, k=3)
        assert entry_id in [h.entry_id for h in hits], name
    pdf_hit = next(h for h in kb.search(EXPECTED["shipping.pdf"][0]) if h.page is not None)
    assert (pdf_hit.page, pdf_hit.title) == (3, "Shipping Handbook, page 3")


def test_ingest_paths_finds_every_type_in_a_folder(
    services: Services, files: dict[str, Path]
) -> None:
    results = services.kb.ingest_paths([next(iter(files.values())).parent])
    assert sorted(r.name for r in results) == sorted(files)
    assert all(r.status == "added" for r in results)


def test_ingest_settings_become_limits(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        load_sample_kb=False,
        ingest=IngestSettings(
            max_file_mb=0.001, max_pages=1, max_text_chars=1000, max_rows=7, max_passages=9
        ),
    )
    svc = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    try:
        assert svc.kb.limits == Limits(
            max_file_bytes=int(0.001 * MB),
            max_pages=1,
            max_text_chars=1000,
            max_rows=7,
            max_passages=9,
        )
        result = svc.kb.ingest_bytes("big.csv", b"question,answer\n" + b"q?,a.\n" * 300)
        assert result.status == "error"
        assert "over the limit of 1.0 KB per file" in result.message
    finally:
        svc.engine.dispose()


def test_default_limits() -> None:
    limits = Limits()
    assert limits.max_file_bytes == 50 * MB
    assert limits.max_pages == 2000
    assert limits.max_text_chars == 5_000_000
    assert limits.max_zip_uncompressed_bytes == 200 * MB
    assert limits.max_zip_ratio == 100
    assert limits.max_rows == 20_000
    assert limits.max_passages == 50_000
    assert limits.max_passages >= 2 * limits.max_rows  # any table within the rows fits
    assert Settings().ingest == IngestSettings()


def test_zip_members_are_not_decompressed_to_check_them() -> None:
    # The bomb check reads only the central directory: a member whose data is garbage (so
    # decompressing it would fail) is still judged by its declared sizes alone.
    bomb = bytearray(fx.zip_bomb_docx(member_mb=5))
    archive = zipfile.ZipFile(io.BytesIO(bytes(bomb)))
    info = archive.getinfo("word/media/padding.bin")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    bomb[start : start + 16] = b"\xff" * 16  # corrupt the compressed stream
    problem = ingest_error("bomb.docx", bytes(bomb))
    assert "zip bomb" in problem
