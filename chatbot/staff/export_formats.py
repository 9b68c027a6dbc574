"""Export files written from the conversation records of `chatbot.staff.export`, streamed.

- **CSV**: one row per message, the conversation's columns repeated on each of its rows (a
  conversation without messages is one row with empty message columns). Sources and notes are
  JSON in their cells. Every cell is quoted, and a text cell that a spreadsheet would run as
  a formula (starting with =, +, -, @, a tab or a carriage return) starts with a single quote.
  The conversation's language is `conversation_language`.
- **JSON Lines**: one conversation per line, with its notes and its messages nested, each
  bot answer with its sources.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy.orm import Session, sessionmaker

from chatbot.staff.export import ExportFilter, iter_conversations

FORMATS = ("csv", "jsonl")

CONVERSATION_COLUMNS = [
    "conversation_id",
    "conversation_created_at",
    "conversation_updated_at",
    "channel",
    "title",
    "outcome",
    "needs_human",
    "handoff_reason",
    "contact",
    "handled_at",
    "handled_by",
    "labels",
    "notes",
]
MESSAGE_COLUMNS = [
    "message_id",
    "role",
    "content",
    "created_at",
    "decision",
    "reason",
    "answer_mode",
    "grounded",
    "status",
    "latency_ms",
    "first_token_ms",
    "rating",
    "rating_reason",
    "sources",
    # A generated draft the answer check withheld from the customer, and why (new columns go
    # last, so existing columns keep their positions).
    "draft",
    "draft_rejection",
    "language",
]
# The conversation's language was added after the message columns: it goes after them too,
# so every earlier column keeps its position.
LATER_CONVERSATION_COLUMNS = ["conversation_language", "customer_id"]
CSV_COLUMNS = CONVERSATION_COLUMNS + MESSAGE_COLUMNS + LATER_CONVERSATION_COLUMNS


def csv_rows(conversation: dict[str, Any]) -> Iterator[list[Any]]:
    """The CSV rows of one conversation (CSV_COLUMNS order)."""
    conv = [
        conversation["id"],
        conversation["created_at"],
        conversation["updated_at"],
        conversation["channel"],
        conversation["title"],
        conversation["outcome"],
        conversation["needs_human"],
        conversation["handoff_reason"],
        conversation["contact"],
        conversation["handled_at"],
        conversation["handled_by"],
        ",".join(conversation["labels"]),
        json.dumps(conversation["notes"], ensure_ascii=False) if conversation["notes"] else "",
    ]
    later = [conversation["language"], conversation["customer_id"]]
    messages = conversation["messages"]
    if not messages:
        yield [*conv, *([None] * len(MESSAGE_COLUMNS)), *later]
        return
    for m in messages:
        yield [
            *conv,
            m["id"],
            m["role"],
            m["content"],
            m["created_at"],
            m["decision"],
            m["reason"],
            m["answer_mode"],
            m["grounded"],
            m["status"],
            m["latency_ms"],
            m["first_token_ms"],
            m["rating"],
            m["rating_reason"],
            json.dumps(m["sources"], ensure_ascii=False) if m["sources"] else "",
            m["draft"],
            m["draft_rejection"],
            m["language"],
            *later,
        ]


# A cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...) opens a
# link, =cmd|... runs a program), also after a tab or carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet shows as text, as OWASP recommends for CSV files: one that
    would start a formula gets a leading single quote. Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def iter_csv(sessions: sessionmaker[Session], flt: ExportFilter = ExportFilter()) -> Iterator[str]:
    """The CSV text, a header line then a chunk per conversation. Every cell is quoted and
    text that would start a formula is neutralised (`spreadsheet_safe`): the messages,
    titles, notes and rating reasons are customers' and staff's words, drafts model output."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for conversation in iter_conversations(sessions, flt):
        writer.writerows([spreadsheet_safe(v) for v in row] for row in csv_rows(conversation))
        yield flush()


def iter_jsonl(
    sessions: sessionmaker[Session], flt: ExportFilter = ExportFilter()
) -> Iterator[str]:
    """One JSON object and a newline per conversation."""
    for conversation in iter_conversations(sessions, flt):
        yield json.dumps(conversation, ensure_ascii=False) + "\n"


def write_export(
    sessions: sessionmaker[Session], out: TextIO, fmt: str, flt: ExportFilter = ExportFilter()
) -> int:
    """Write the export to `out` (open it with newline="" for CSV); returns the number of
    conversations written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "jsonl":
        for line in iter_jsonl(sessions, flt):
            out.write(line)
            count += 1
        return count
    chunks = iter_csv(sessions, flt)
    out.write(next(chunks))
    for chunk in chunks:
        out.write(chunk)
        count += 1
    return count
