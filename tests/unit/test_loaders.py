"""File loaders: CSV and Markdown into passages, and the errors a staff member would see."""

from __future__ import annotations

import codecs
import csv
import itertools
from collections import defaultdict
from pathlib import Path

import pytest

from knowledge_base.chunking import MAX_CHARS
from knowledge_base.loaders import load_csv, load_document, load_markdown
from knowledge_base.records import IngestError, ParsedDocument, PassageDraft
from tests.conftest import SAMPLE_DATA, SHARED_DATA


def by_entry(doc: ParsedDocument) -> dict[str, list[PassageDraft]]:
    out: dict[str, list[PassageDraft]] = defaultdict(list)
    for p in doc.passages:
        out[p.entry_id].append(p)
    return dict(out)


def kinds(passages: list[PassageDraft]) -> list[str]:
    return [p.kind for p in passages]


def ingest_error(name: str, data: bytes) -> IngestError:
    with pytest.raises(IngestError) as info:
        load_document(name, data)
    err = info.value
    assert err.filename == name
    assert str(err).startswith(f"{name}: ")
    return err


# ---- CSV ----------------------------------------------------------------------------------

SHARED_ID_CSV = b"""id,question,answer,category,url
cancel,How do I cancel my order?,Cancel within 2 hours from Order History.,Orders,https://x.example/orders
cancel,Can I cancel an order I just placed?,Cancel within 2 hours from Order History.,Orders,https://x.example/orders
cancel,How do I cancel my order?,Cancel within 2 hours from Order History.,Orders,https://x.example/orders
ship,How long does shipping take?,3-5 business days.,Shipping,
"""


def test_csv_rows_sharing_an_id_are_one_entry_with_several_phrasings() -> None:
    doc = load_document("faq.csv", SHARED_ID_CSV)
    assert doc.name == "faq.csv"
    assert doc.source_type == "csv"
    entries = by_entry(doc)
    assert list(entries) == ["cancel", "ship"]
    cancel = entries["cancel"]
    # Two distinct phrasings (the repeated one is kept once) and one answer passage.
    assert kinds(cancel) == ["question", "question", "answer"]
    assert [p.text for p in cancel[:2]] == [
        "How do I cancel my order?",
        "Can I cancel an order I just placed?",
    ]
    answer = cancel[-1]
    assert answer.text == "How do I cancel my order?\nCancel within 2 hours from Order History."
    for p in cancel:
        assert p.title == "How do I cancel my order?"
        assert p.answer == "Cancel within 2 hours from Order History."
        assert p.category == "Orders"
        assert p.url == "https://x.example/orders"
    ship = entries["ship"]
    assert kinds(ship) == ["question", "answer"]
    assert ship[0].url is None  # empty optional value -> None


def test_csv_without_id_gives_one_entry_per_row() -> None:
    data = b"question,answer\nQ one?,A one.\nQ two?,A two.\nQ one?,A one again.\n"
    doc = load_document("My FAQ.csv", data)
    entries = by_entry(doc)
    assert len(entries) == 3
    assert len(set(entries)) == 3
    assert all(eid.startswith("my-faq-") for eid in entries)
    for passages in entries.values():
        assert kinds(passages) == ["question", "answer"]
        assert passages[0].category is None
        assert passages[0].url is None


def test_csv_optional_columns_are_optional_and_extra_columns_ignored() -> None:
    data = b"answer,notes,question,category\nIt is free.,internal,Is it free?,Billing\n"
    [q, a] = load_document("f.csv", data).passages
    assert (q.kind, q.text, q.answer, q.category, q.url) == (
        "question",
        "Is it free?",
        "It is free.",
        "Billing",
        None,
    )
    assert a.kind == "answer"


def test_csv_header_tolerates_case_and_whitespace() -> None:
    data = b" ID , Question ,ANSWER, Category \n x , Why?  ,  Because.  , Misc \n"
    [q, a] = load_document("f.csv", data).passages
    assert q.entry_id == "x"
    assert q.text == "Why?"
    assert a.answer == "Because."
    assert q.category == "Misc"


def test_csv_quoted_multiline_answer_and_blank_rows() -> None:
    data = b'question,answer\n"Why, though?","Line one,\nline two."\n,\n\nOther?,Yes.\n'
    entries = by_entry(load_document("f.csv", data))
    assert len(entries) == 2
    first = next(iter(entries.values()))
    assert first[0].text == "Why, though?"
    assert first[0].answer == "Line one,\nline two."


def test_csv_crlf_line_endings() -> None:
    data = b"question,answer\r\nQ1?,A1.\r\nQ2?,A2.\r\n"
    doc = load_document("f.csv", data)
    assert [p.text for p in doc.passages if p.kind == "question"] == ["Q1?", "Q2?"]
    assert all("\r" not in p.answer for p in doc.passages)


CAFE_CSV = "question,answer\nDo you sell café crème?,Oui — every day.\n"


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + CAFE_CSV.encode("utf-8"),
        CAFE_CSV.encode("utf-16"),  # BOM + native order
        codecs.BOM_UTF16_LE + CAFE_CSV.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + CAFE_CSV.encode("utf-16-be"),
    ],
    ids=["utf-8-bom", "utf-16", "utf-16-le", "utf-16-be"],
)
def test_csv_decodes_bom_marked_encodings(data: bytes) -> None:
    [q, a] = load_document("f.csv", data).passages
    assert q.text == "Do you sell café crème?"  # no BOM glued to the header or first cell
    assert a.answer == "Oui — every day."


@pytest.mark.parametrize("data", [b"", b"   \n\n", codecs.BOM_UTF8])
def test_csv_empty_file_is_an_error(data: bytes) -> None:
    err = ingest_error("empty.csv", data)
    assert "empty" in err.problem


def test_csv_header_only_is_an_error() -> None:
    err = ingest_error("header.csv", b"id,question,answer\n")
    assert "no FAQ rows" in err.problem


def test_csv_with_only_blank_rows_is_an_error() -> None:
    err = ingest_error("blank.csv", b"question,answer\n,\n , \n")
    assert "no FAQ rows" in err.problem


@pytest.mark.parametrize(
    "header,missing",
    [
        (b"id,answer\nx,yes\n", "question"),
        (b"question,category\nwhy?,misc\n", "answer"),
        (b"q,a\nwhy?,because\n", "question, answer"),
    ],
)
def test_csv_missing_required_column_names_it(header: bytes, missing: str) -> None:
    err = ingest_error("cols.csv", header)
    assert f"missing required column(s) {missing};" in err.problem


def test_csv_row_with_empty_answer_names_the_row() -> None:
    err = ingest_error("rows.csv", b"question,answer\nQ1?,A1.\nQ2?,  \n")
    assert "row 3" in err.problem
    assert "empty answer" in err.problem


def test_csv_row_with_empty_question_names_the_row() -> None:
    err = ingest_error("rows.csv", b"question,answer\n,An orphan answer.\n")
    assert "row 2" in err.problem
    assert "empty question" in err.problem


def test_csv_undecodable_bytes_is_an_error() -> None:
    err = ingest_error("latin1.csv", b"question,answer\ncaf\xe9\xff?,yes\n")
    assert "not UTF-8" in err.problem
    assert "position 19" in err.problem


def test_csv_binary_data_is_an_error() -> None:
    err = ingest_error("bin.csv", b"question,answer\nq\x00,a\n")
    assert "binary" in err.problem


def test_csv_malformed_is_an_error() -> None:
    huge = b"x" * 200_000  # longer than the csv module's field limit
    err = ingest_error("big.csv", b'question,answer\nq,"' + huge + b'"\n')
    assert "malformed" in err.problem


@pytest.mark.parametrize(
    "name,shown",
    [("setup.exe", "'.exe'"), ("README", "'(none)'"), ("slides.pptx", "'.pptx'")],
)
def test_unknown_extension_is_an_error(name: str, shown: str) -> None:
    err = ingest_error(name, b"question,answer\nq,a\n")
    assert f"unsupported file type {shown}" in err.problem
    assert ".csv" in err.problem and ".md" in err.problem


def test_extension_is_case_insensitive() -> None:
    assert load_document("FAQ.CSV", b"question,answer\nq?,a.\n").source_type == "csv"
    assert load_document("Notes.MarkDown", b"# T\n\nbody\n").source_type == "markdown"


# ---- Markdown -----------------------------------------------------------------------------

POLICY_MD = b"""# Store Guide

Welcome to the guide.

## Warranty

Two years on everything.

### Claims

Email us with photos.

## Do gift cards expire?

No, never.
They have no fees.

## Common questions

Q: Can I pay with PayPal?
A: Yes, at checkout.
Q: Do you ship abroad?
A: Yes, to Canada
and the EU.

Some closing prose after the pairs.
"""


def test_markdown_sections_and_faq_entries() -> None:
    doc = load_document("store guide.md", POLICY_MD)
    assert doc.source_type == "markdown"
    entries = by_entry(doc)

    intro = entries["store-guide#store-guide"]
    assert [(p.kind, p.title, p.text) for p in intro] == [
        ("text", "Store Guide", "Welcome to the guide.")
    ]
    [warranty] = entries["store-guide#warranty"]
    assert (warranty.kind, warranty.title) == ("text", "Store Guide > Warranty")
    assert warranty.text == warranty.answer == "Two years on everything."
    [claims] = entries["store-guide#claims"]
    assert claims.title == "Store Guide > Warranty > Claims"
    assert claims.text == "Email us with photos."

    # A heading that is a question is an FAQ entry: question passage + answer passage.
    gift = entries["store-guide#do-gift-cards-expire"]
    assert kinds(gift) == ["question", "answer"]
    assert gift[0].text == "Do gift cards expire?"
    assert gift[0].answer == "No, never.\nThey have no fees."

    # Q:/A: pairs are FAQ entries; the answer may span lines.
    paypal = entries["store-guide#can-i-pay-with-paypal"]
    assert kinds(paypal) == ["question", "answer"]
    assert paypal[0].text == "Can I pay with PayPal?"
    assert paypal[0].answer == "Yes, at checkout."
    abroad = entries["store-guide#do-you-ship-abroad"]
    assert abroad[0].answer.startswith("Yes, to Canada and the EU.")

    # No passage carries a heading line or a `Q:` marker as text.
    for p in doc.passages:
        assert not p.text.startswith("#")
        assert not p.text.startswith("Q:")


def test_markdown_sibling_sections_do_not_inherit_each_other() -> None:
    md = b"# Doc\n\n## A\n\na body\n\n### A1\n\na1 body\n\n## B\n\nb body\n"
    titles = [p.title for p in load_document("d.md", md).passages]
    assert titles == ["Doc > A", "Doc > A > A1", "Doc > B"]


def test_markdown_text_before_the_first_heading_is_kept() -> None:
    md = b"Some preface text.\n\n# Title\n\n## Part\n\npart body\n"
    passages = load_document("guide.md", md).passages
    assert passages[0].kind == "text"
    assert passages[0].text == "Some preface text."
    assert passages[0].title == "Title"
    assert passages[-1].title == "Title > Part"
    assert len({p.entry_id for p in passages}) == len(passages)


def test_markdown_without_headings_is_one_section_titled_by_file_name() -> None:
    [p] = load_document("return-policy.md", b"Returns within 30 days.\n").passages
    assert (p.kind, p.title, p.text) == ("text", "return-policy", "Returns within 30 days.")
    assert p.entry_id == "return-policy#return-policy"


def test_markdown_long_section_is_split_into_overlapping_chunks() -> None:
    sentences = [f"Sentence number {i} explains one more detail of the policy." for i in range(80)]
    md = ("# Doc\n\n## Long policy\n\n" + " ".join(sentences) + "\n").encode()
    passages = load_document("long.md", md).passages
    assert len(passages) >= 4
    assert all(p.kind == "text" and p.title == "Doc > Long policy" for p in passages)
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    ids = [p.entry_id for p in passages]
    assert ids[:3] == ["long#long-policy", "long#long-policy-2", "long#long-policy-3"]
    assert len(set(ids)) == len(ids)
    for prev, nxt in itertools.pairwise(passages):
        # Overlap: the next chunk starts with the last sentence(s) of the previous one.
        first_sentence = nxt.text.split(". ")[0]
        assert first_sentence in prev.text
    joined = " ".join(p.text for p in passages)
    assert all(s in joined for s in sentences)


def test_markdown_hash_in_fenced_code_is_not_a_heading() -> None:
    md = b"# Setup\n\nRun this:\n\n```bash\n# not a heading\necho hi\n```\n\nDone.\n"
    [p] = load_document("setup.md", md).passages
    assert p.title == "Setup"
    assert "# not a heading" in p.text
    assert "Done." in p.text


def test_markdown_setext_headings_do_not_leak_their_underline() -> None:
    md = b"Guide\n=====\n\nIntro text.\n\nReturns\n-------\n\nThirty days.\n"
    passages = load_document("g.md", md).passages
    assert [(p.title, p.text) for p in passages] == [
        ("Guide", "Intro text."),
        ("Guide > Returns", "Thirty days."),
    ]


def test_markdown_crlf_and_duplicate_headings() -> None:
    md = b"# Doc\r\n\r\n## Notes\r\n\r\nfirst\r\n\r\n## Notes\r\n\r\nsecond\r\n"
    passages = load_document("d.md", md).passages
    assert [(p.entry_id, p.text) for p in passages] == [
        ("d#notes", "first"),
        ("d#notes-2", "second"),
    ]


def test_markdown_question_heading_without_body_is_skipped() -> None:
    md = b"# Doc\n\n## Is this answered?\n\n## Shipping\n\nShips fast.\n"
    passages = load_document("d.md", md).passages
    assert [(p.kind, p.title) for p in passages] == [("text", "Doc > Shipping")]


@pytest.mark.parametrize("data", [b"", b"\n  \n"])
def test_markdown_empty_file_is_an_error(data: bytes) -> None:
    err = ingest_error("empty.md", data)
    assert "empty" in err.problem


def test_markdown_with_only_headings_is_an_error() -> None:
    err = ingest_error("bare.md", b"# Title\n\n## Section\n")
    assert "no text" in err.problem


def test_markdown_undecodable_is_an_error() -> None:
    err = ingest_error("bad.md", b"# Caf\xe9\xff\n\nbody\n")
    assert "not UTF-8" in err.problem


def test_markdown_in_windows_1252_decodes() -> None:
    # Valid legacy text is no longer refused: "# Caf\xe9" is "# Café" in Windows-1252.
    [p] = load_document("cafe.md", b"# Caf\xe9\n\nCr\xe8me br\xfbl\xe9e \x96 \x80 5.\n").passages
    assert (p.title, p.text) == ("Café", "Crème brûlée \u2013 € 5.")  # 0x96: en dash


def test_markdown_utf16_decodes() -> None:
    doc = load_markdown("u.md", "# Café\n\nCrème brûlée.\n".encode("utf-16"))
    [p] = doc.passages
    assert (p.title, p.text) == ("Café", "Crème brûlée.")


# ---- real data ----------------------------------------------------------------------------


def load_path(path: Path) -> ParsedDocument:
    return load_document(path.name, path.read_bytes())


def test_covid_faq_dataset() -> None:
    doc = load_path(SHARED_DATA / "covid_faq" / "faq.csv")
    entries = by_entry(doc)
    assert len(entries) == 213
    assert all(kinds(p) == ["question", "answer"] for p in entries.values())
    first = entries["covid-000"]
    assert first[0].text == "What is a novel coronavirus?"
    assert first[0].category == "Coronavirus Disease 2019 Basics"
    assert first[0].url == "https://www.cdc.gov/coronavirus/2019-ncov/faq.html"
    assert "\n\n" in first[0].answer  # multi-line quoted answer kept whole


def test_clinc_banking_dataset() -> None:
    doc = load_path(SHARED_DATA / "clinc150_banking" / "faq.csv")
    entries = by_entry(doc)
    assert len(entries) == 30
    for passages in entries.values():
        assert kinds(passages)[-1] == "answer"
        assert kinds(passages).count("answer") == 1
        assert len(passages) > 50  # many phrasings per intent
    with (SHARED_DATA / "clinc150_banking" / "faq.csv").open(encoding="utf-8", newline="") as f:
        phrasings = {(r["id"], r["question"].strip()) for r in csv.DictReader(f)}
    assert sum(1 for p in doc.passages if p.kind == "question") == len(phrasings)


def test_bundled_sample_faq() -> None:
    doc = load_path(SAMPLE_DATA / "shop_faq.csv")
    entries = by_entry(doc)
    assert len(entries) == 30
    assert kinds(entries["orders-cancel"]) == ["question"] * 3 + ["answer"]
    assert entries["orders-cancel"][0].url == "https://northwind.example/help/orders"


def test_bundled_store_policies() -> None:
    doc = load_path(SAMPLE_DATA / "store_policies.md")
    entries = by_entry(doc)
    assert kinds(entries["store-policies#do-gift-cards-expire"]) == ["question", "answer"]
    titles = {p.title for p in doc.passages if p.kind == "text"}
    assert "Northwind Outfitters store policies > Warranty" in titles
    assert "Northwind Outfitters store policies > Store locations & hours" in titles
    assert all(len(p.text) <= MAX_CHARS for p in doc.passages if p.kind == "text")


def test_load_csv_and_markdown_directly() -> None:
    assert load_csv("x.csv", b"question,answer\nq?,a.\n").source_type == "csv"
    assert load_markdown("x.md", b"hello\n").source_type == "markdown"
