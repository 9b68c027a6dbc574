"""Conversation export (CSV and JSON Lines), read back and compared with what was stored."""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import stat
import time
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from chatbot.container import Services
from chatbot.staff import export_files, export_formats
from chatbot.staff.export import ExportFilter, iter_conversations
from chatbot.staff.export_formats import CSV_COLUMNS, write_export
from chatbot.ui.export_panel import export_conversations
from chatbot.ui.review import language_choices
from tests.unit.conversation_data import Turn, add_conversation, at, source


@pytest.fixture
def stored(services: Services) -> dict[str, str]:
    """Four conversations on 1, 2, 3 and 5 March 2024: answered (rated, with sources, notes
    and labels), handed off, declined, and one without messages."""
    s = services.sessions
    return {
        "answered": add_conversation(
            s,
            at("2024-03-01"),
            [
                Turn(
                    "How do I return an item?",
                    answer="Start a return from Order History.",
                    sources=[source("returns", 0.91, "Returns"), source("refunds", 0.62)],
                    rating=1,
                ),
                Turn(
                    "And the refund?",
                    answer="Refunds take 5 days.",
                    sources=[source("refunds", 0.8)],
                    rating=-1,
                    rating_reason="wrong, it is 10 days",
                ),
            ],
            labels="wrong-answer,missing-faq",
            notes=[("ann", "Checked: refunds take 10 days."), ("bob", "FAQ updated")],
        ),
        "handoff": add_conversation(
            s,
            at("2024-03-02"),
            [
                Turn("Do you ship to Mars?", "fallback"),
                Turn("Mars, really?", "handoff", reason="repeated_declines"),
            ],
            contact="[email]",
        ),
        "fallback": add_conversation(s, at("2024-03-03"), [Turn("Capital of Peru?", "fallback")]),
        "none": add_conversation(s, at("2024-03-05"), []),
    }


def export_text(services: Services, fmt: str, flt: ExportFilter = ExportFilter()) -> str:
    out = io.StringIO(newline="")
    write_export(services.sessions, out, fmt, flt)
    return out.getvalue()


def jsonl(services: Services, flt: ExportFilter = ExportFilter()) -> list[dict[str, Any]]:
    return [json.loads(line) for line in export_text(services, "jsonl", flt).splitlines()]


def test_jsonl_is_one_nested_conversation_per_line(
    services: Services, stored: dict[str, str]
) -> None:
    conversations = jsonl(services)
    assert [c["id"] for c in conversations] == list(stored.values())  # oldest first
    answered = conversations[0]
    assert answered["outcome"] == "answered"
    assert answered["created_at"] == "2024-03-01T12:00:00+00:00"
    assert answered["labels"] == ["wrong-answer", "missing-faq"]
    assert [(n["author"], n["text"]) for n in answered["notes"]] == [
        ("ann", "Checked: refunds take 10 days."),
        ("bob", "FAQ updated"),
    ]
    roles = [(m["role"], m["content"]) for m in answered["messages"]]
    assert roles == [
        ("user", "How do I return an item?"),
        ("assistant", "Start a return from Order History."),
        ("user", "And the refund?"),
        ("assistant", "Refunds take 5 days."),
    ]
    first_answer = answered["messages"][1]
    assert first_answer["decision"] == "answer" and first_answer["rating"] == 1
    assert first_answer["latency_ms"] == 100.0 and first_answer["first_token_ms"] == 50.0
    assert first_answer["sources"] == [
        {"id": "returns", "title": "Returns", "score": 0.91},
        {"id": "refunds", "title": "Refunds", "score": 0.62},
    ]
    assert answered["messages"][3]["rating_reason"] == "wrong, it is 10 days"
    handoff = conversations[1]
    assert handoff["outcome"] == "handoff" and handoff["needs_human"] is True
    assert handoff["handoff_reason"] == "repeated_declines" and handoff["contact"] == "[email]"
    assert [c["outcome"] for c in conversations[2:]] == ["fallback", "none"]
    assert conversations[3]["messages"] == [] and conversations[3]["labels"] == []


def test_csv_is_one_row_per_message_with_conversation_columns_repeated(
    services: Services, stored: dict[str, str]
) -> None:
    text = export_text(services, "csv")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == CSV_COLUMNS
    rows = list(reader)
    assert len(rows) == 4 + 4 + 2 + 1  # a conversation without messages is one row
    answered = [r for r in rows if r["conversation_id"] == stored["answered"]]
    assert len(answered) == 4
    assert {r["outcome"] for r in answered} == {"answered"}
    assert {r["labels"] for r in answered} == {"wrong-answer,missing-faq"}
    assert json.loads(answered[0]["notes"])[0]["text"] == "Checked: refunds take 10 days."
    assert [r["role"] for r in answered] == ["user", "assistant", "user", "assistant"]
    assert answered[1]["decision"] == "answer" and answered[1]["rating"] == "1"
    assert json.loads(answered[1]["sources"])[0] == {
        "id": "returns",
        "title": "Returns",
        "score": 0.91,
    }
    assert answered[0]["sources"] == ""  # customer messages have none
    assert answered[3]["rating_reason"] == "wrong, it is 10 days"
    [empty] = [r for r in rows if r["conversation_id"] == stored["none"]]
    assert empty["message_id"] == "" and empty["outcome"] == "none"


def test_filter_by_dates_and_outcome(services: Services, stored: dict[str, str]) -> None:
    def ids(flt: ExportFilter) -> list[str]:
        return [c["id"] for c in jsonl(services, flt)]

    both_days = ExportFilter(since=date(2024, 3, 2), until=date(2024, 3, 3))
    assert ids(both_days) == [stored["handoff"], stored["fallback"]]
    assert ids(ExportFilter(since=date(2024, 3, 4))) == [stored["none"]]
    assert ids(ExportFilter(until=date(2024, 3, 1))) == [stored["answered"]]
    for outcome in ("answered", "handoff", "fallback", "none"):
        assert ids(ExportFilter(outcome=outcome)) == [stored[outcome]]
    with pytest.raises(ValueError):
        ExportFilter(outcome="great")
    with pytest.raises(ValueError):
        ExportFilter(since=date(2024, 3, 2), until=date(2024, 3, 1))
    with pytest.raises(ValueError):
        export_text(services, "xml")


def test_exports_carry_each_customer_message_and_conversation_language(
    services: Services,
) -> None:
    chinese = add_conversation(
        services.sessions,
        at("2024-03-01"),
        [Turn("退货要多久", language="zh"), Turn("ok thanks", language="en")],
    )
    german = add_conversation(
        services.sessions, at("2024-03-02"), [Turn("Wie lange dauert das?", language="de")]
    )
    unknown = add_conversation(services.sessions, at("2024-03-03"), [Turn("hello")])

    first, second, third = jsonl(services)
    # The conversation's language is its latest customer message's.
    assert (first["id"], first["language"]) == (chinese, "en")
    assert [(m["role"], m["language"]) for m in first["messages"]] == [
        ("user", "zh"),
        ("assistant", None),
        ("user", "en"),
        ("assistant", None),
    ]
    assert (second["language"], third["language"]) == ("de", None)

    rows = list(csv.DictReader(io.StringIO(export_text(services, "csv"), newline="")))
    assert CSV_COLUMNS[-3:-1] == ["language", "conversation_language"]
    assert [(r["role"], r["language"], r["conversation_language"]) for r in rows[:2]] == [
        ("user", "zh", "en"),
        ("assistant", "", "en"),
    ]
    assert {r["conversation_language"] for r in rows if r["conversation_id"] == unknown} == {""}

    def ids(flt: ExportFilter) -> list[str]:
        return [c["id"] for c in jsonl(services, flt)]

    assert ids(ExportFilter(language="de")) == [german]
    assert ids(ExportFilter(language=" EN ")) == [chinese]
    assert ids(ExportFilter(language="zh")) == []  # no longer the conversation's language
    with pytest.raises(ValueError, match="language code"):
        ExportFilter(language="   ")


def test_exports_carry_the_signed_in_customer_id(services: Services) -> None:
    """The shop's own customer id (verified when the conversation started) goes out with the
    conversation, in the last CSV column so earlier columns keep their positions."""
    signed = services.dialogue.start_conversation("api", customer_id="shop-customer-42")
    services.dialogue.respond("hello", conversation_id=signed, channel="api").close()
    anonymous = add_conversation(services.sessions, at("2024-03-03"), [Turn("hello")])

    by_id = {c["id"]: c for c in jsonl(services)}
    assert by_id[signed]["customer_id"] == "shop-customer-42"
    assert by_id[anonymous]["customer_id"] is None

    rows = list(csv.DictReader(io.StringIO(export_text(services, "csv"), newline="")))
    assert CSV_COLUMNS[-1] == "customer_id"
    assert {r["customer_id"] for r in rows if r["conversation_id"] == signed} == {
        "shop-customer-42"
    }
    assert {r["customer_id"] for r in rows if r["conversation_id"] == anonymous} == {""}


def test_export_streams_in_batches(services: Services) -> None:
    same_time = at("2024-04-01")
    ids = [add_conversation(services.sessions, same_time, [Turn(f"q{i}")]) for i in range(5)]
    ids.append(add_conversation(services.sessions, at("2024-04-02"), [Turn("later")]))
    stream = iter_conversations(services.sessions, batch=2)
    assert inspect.isgenerator(stream)
    got = [c["id"] for c in stream]
    assert sorted(got[:5]) == sorted(ids[:5]) and got[5] == ids[5]
    assert len(set(got)) == 6
    csv_chunks = list(export_formats.iter_csv(services.sessions))
    assert len(csv_chunks) == 1 + 6  # the header, then one chunk per conversation


def test_console_export_writes_a_download_and_audits_it(
    services: Services, stored: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # Gradio's upload folder
    path, message = export_conversations(services, "jsonl", "2024-03-01", "2024-03-02", "any")
    assert message == "✅ 2 conversations exported (downloadable for 5 min)."
    assert path is not None and path.endswith(".jsonl")
    assert Path(path).parent.parent == tmp_path / export_files.EXPORTS_FOLDER
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [stored["answered"], stored["handoff"]]
    [entry] = services.audit.recent(1)
    assert entry.action == "conversations.export" and "2 conversations" in entry.details

    path, _ = export_conversations(services, "csv", None, None, "fallback")
    assert path is not None
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["conversation_id"] for r in rows} == {stored["fallback"]}

    assert export_conversations(services, "csv", "soon", None, "any") == (
        None,
        "❌ from: 'soon' is not a date (YYYY-MM-DD)",
    )
    refused, why = export_conversations(services, "csv", request=gr.Request(username=None))
    assert refused is None and why.startswith("⛔")


def test_console_export_filters_by_language(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    chinese = add_conversation(
        services.sessions, at("2024-03-01"), [Turn("退货要多久", language="zh")]
    )
    add_conversation(services.sessions, at("2024-03-02"), [Turn("How long?", language="en")])

    # The panel offers the languages conversations are in (each with one here, so any order).
    values = [value for _, value in language_choices(services)["choices"]]
    assert values[0] == "all" and sorted(values[1:]) == ["en", "zh"]
    path, message = export_conversations(services, "jsonl", None, None, "any", "zh")
    assert message.startswith("✅ 1 conversation exported")
    assert path is not None
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [chinese]
    path, message = export_conversations(services, "jsonl", None, None, "any", "all")
    assert message.startswith("✅ 2 conversations exported")


FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
]


def test_csv_cells_that_would_be_formulas_are_neutralised(services: Services) -> None:
    turns = [Turn(f, answer=f, rating=-1, rating_reason=f) for f in FORMULAS]
    conv = add_conversation(services.sessions, at("2024-05-01"), turns, labels="=bad,ok")
    text = export_text(services, "csv")
    rows = [r for r in csv.DictReader(io.StringIO(text, newline="")) if r["content"]]
    assert len(rows) == 2 * len(FORMULAS)
    for row, formula in zip(rows, [f for f in FORMULAS for _ in (0, 1)], strict=True):
        assert row["content"] == "'" + formula  # the text is kept, after a single quote
        assert row["conversation_id"] == conv
        assert row["title"] == "'" + FORMULAS[0] and row["labels"] == "'=bad,ok"
    answers = [r for r in rows if r["role"] == "assistant"]
    assert {r["rating"] for r in answers} == {"-1"}  # a number, not text: unchanged
    assert {r["rating_reason"] for r in answers} == {"'" + f for f in FORMULAS}
    # Every cell is quoted, so no spreadsheet splits or evaluates one.
    for line in text.splitlines()[:2]:
        assert line.startswith('"') and line.endswith('"')
    assert '"\'=HYPERLINK(""http://evil.example"",""x"")"' in text


def test_plain_text_and_json_cells_are_unchanged(services: Services) -> None:
    assert export_formats.spreadsheet_safe("How do I return an item?") == "How do I return an item?"
    assert export_formats.spreadsheet_safe('[{"id": "x"}]') == '[{"id": "x"}]'
    assert (
        export_formats.spreadsheet_safe(-1) == -1 and export_formats.spreadsheet_safe(None) is None
    )
    assert export_formats.spreadsheet_safe(" =1") == " =1"  # a leading space is text already


def test_console_exports_are_private_and_deleted_soon(
    services: Services, stored: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    services.settings.privacy.export_keep_seconds = 0.5
    path, _ = export_conversations(services, "csv")
    assert path is not None
    file = Path(path)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(file.parent.parent.stat().st_mode) == 0o700
    deadline = time.monotonic() + 10
    while file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not file.exists() and not file.parent.exists()


def test_old_exports_are_swept_and_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    root = export_files.exports_root(tmp_path)
    old, _ = export_files.open_export(root, "old.csv")
    new, _ = export_files.open_export(root, "new.csv")
    an_hour_ago = time.time() - 3600
    os.utime(old.parent, (an_hour_ago, an_hour_ago))
    assert export_files.remove_expired(root, keep_seconds=60) == 1
    assert not old.exists() and new.exists()
    root.chmod(0o755)
    assert stat.S_IMODE(export_files.exports_root(tmp_path).stat().st_mode) == 0o700

    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / export_files.EXPORTS_FOLDER).symlink_to(root)
    with pytest.raises(export_files.ExportFolderError, match="remove it"):
        export_files.exports_root(elsewhere)
