"""The conversations an export holds: the filter, one streamed query, and each conversation
as a record with its notes, messages and sources (`iter_conversations`). The files written
from the records are `chatbot.staff.export_formats`.

Both formats carry, for a bot message, the generated draft the answer check withheld from the
customer (`draft`, model output) and why (`draft_rejection`); empty when nothing was withheld. A
customer message carries its language (`language`, ISO 639-1 such as `en` or `zh`) and a
conversation the language of its latest customer message; empty where it is not known.

Conversations are streamed from one query in batches, so an export of 100,000 conversations
never holds more than one batch in memory.

A conversation's **outcome**: `handoff` when it was handed to a person, else `fallback` when the
bot declined at least one question, else `answered` when the bot answered, else `none` (the
words files have always had; the console offers them as staff read them elsewhere, "handed
off" and "declined": `OUTCOME_CHOICES`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Executable, Row, case, exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.dates import DateRange
from chatbot.core.vocabulary import EXPORT_OUTCOME_LABELS, DecisionKind, ExportOutcome, Role
from chatbot.storage.models import (
    STAFF_VIEW_COLUMNS,
    Conversation,
    ConversationNote,
    Message,
    MessageSource,
)
from chatbot.storage.repositories import within

OUTCOMES: tuple[str, ...] = tuple(o.value for o in ExportOutcome)
# The choices a console offers: (what staff read, the value written in the file), so the
# console says "declined" and "handed off" as everywhere else while files keep their words.
OUTCOME_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (EXPORT_OUTCOME_LABELS[o].value, o.value) for o in ExportOutcome
)
BATCH = 500


@dataclass(frozen=True)
class ExportFilter:
    """Conversations started from `since` to `until` (both days included, UTC), optionally
    only those with one outcome, or in one language (the conversation's, an ISO 639-1 code)."""

    since: date | None = None
    until: date | None = None
    outcome: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if self.language is not None:
            code = self.language.strip().lower()
            if not code or len(code) > 8:
                raise ValueError(
                    f"language must be a language code such as en or zh, not {self.language!r}"
                )
            object.__setattr__(self, "language", code)
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if self.since and self.until and self.until < self.since:
            raise ValueError("--until is before --since")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def outcome_expression() -> ColumnElement[str]:
    """A conversation's outcome, as SQL (see the module docstring)."""

    def has(decision: DecisionKind) -> ColumnElement[bool]:
        return exists().where(
            Message.conversation_id == Conversation.id,
            Message.role == Role.ASSISTANT,
            Message.decision == decision,
        )

    handed_off = or_(Conversation.needs_human.is_(True), has(DecisionKind.HANDOFF))
    return case(
        (handed_off, ExportOutcome.HANDOFF.value),
        (has(DecisionKind.FALLBACK), ExportOutcome.FALLBACK.value),
        (has(DecisionKind.ANSWER), ExportOutcome.ANSWERED.value),
        else_=ExportOutcome.NONE.value,
    )


def _conditions(flt: ExportFilter, outcome: ColumnElement[str]) -> list[ColumnElement[bool]]:
    where = within(Conversation.created_at, DateRange(flt.since, flt.until))
    if flt.outcome is not None:
        where.append(outcome == flt.outcome)
    if flt.language is not None:
        where.append(Conversation.language == flt.language)
    return where


def _labels(raw: str | None) -> list[str]:
    return [label.strip() for label in (raw or "").split(",") if label.strip()]


_CONVERSATION_FIELDS = (
    Conversation.id,
    Conversation.created_at,
    Conversation.updated_at,
    Conversation.channel,
    *STAFF_VIEW_COLUMNS,
    Conversation.customer_id,
)
_MESSAGE_FIELDS = (
    Message.id,
    Message.conversation_id,
    Message.role,
    Message.content,
    Message.created_at,
    Message.decision,
    Message.reason,
    Message.answer_mode,
    Message.grounded,
    Message.status,
    Message.latency_ms,
    Message.first_token_ms,
    Message.rating,
    Message.rating_reason,
    Message.draft,
    Message.draft_rejection,
    Message.language,
)


def _message(m: Any, sources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": m.id,
        "role": m.role,
        "content": m.content,
        "created_at": _iso(m.created_at),
        "decision": m.decision,
        "reason": m.reason,
        "answer_mode": m.answer_mode,
        "grounded": m.grounded,
        "status": m.status,
        "latency_ms": m.latency_ms,
        "first_token_ms": m.first_token_ms,
        "rating": m.rating,
        "rating_reason": m.rating_reason,
        "sources": sources,
        "draft": m.draft,
        "draft_rejection": m.draft_rejection,
        "language": m.language,
    }


def _conversation(
    c: Any, notes: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": c.id,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "channel": c.channel,
        "title": c.title,
        "language": c.language,
        "outcome": c.outcome,
        "needs_human": bool(c.needs_human),
        "handoff_reason": c.handoff_reason,
        "contact": c.contact,
        # The shop's signed-in customer (verified signature from the website widget or API).
        "customer_id": c.customer_id,
        "handled_at": _iso(c.handled_at),
        "handled_by": c.handled_by,
        "labels": _labels(c.labels),
        "notes": notes,
        "messages": messages,
    }


_Key = TypeVar("_Key")


def _grouped(
    s: Session, query: Executable, item: Callable[[Row[Any]], tuple[_Key, dict[str, Any]]]
) -> dict[_Key, list[dict[str, Any]]]:
    """The rows of `query` as dicts (`item` gives each one's key and dict), listed by key in
    the query's order."""
    out: dict[_Key, list[dict[str, Any]]] = {}
    for row in s.execute(query):
        key, value = item(row)
        out.setdefault(key, []).append(value)
    return out


def _note(n: Any) -> dict[str, Any]:
    return {"author": n.author, "text": n.text, "created_at": _iso(n.created_at)}


def _batch(s: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The nested dicts of a batch of conversation rows: three queries for all of them."""
    ids = [r.id for r in rows]
    notes = _grouped(
        s,
        select(
            ConversationNote.conversation_id,
            ConversationNote.author,
            ConversationNote.text,
            ConversationNote.created_at,
        )
        .where(ConversationNote.conversation_id.in_(ids))
        .order_by(ConversationNote.created_at, ConversationNote.id),
        lambda n: (n.conversation_id, _note(n)),
    )
    sources = _grouped(
        s,
        select(
            MessageSource.message_id,
            MessageSource.entry_id,
            MessageSource.title,
            MessageSource.score,
        )
        .join(Message, Message.id == MessageSource.message_id)
        .where(Message.conversation_id.in_(ids))
        .order_by(MessageSource.message_id, MessageSource.rank),
        lambda src: (src.message_id, {"id": src.entry_id, "title": src.title, "score": src.score}),
    )
    messages = _grouped(
        s,
        select(*_MESSAGE_FIELDS)
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.conversation_id, Message.id),
        lambda m: (m.conversation_id, _message(m, sources.get(m.id, []))),
    )
    return [_conversation(r, notes.get(r.id, []), messages.get(r.id, [])) for r in rows]


def iter_conversations(
    sessions: sessionmaker[Session], flt: ExportFilter = ExportFilter(), batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Matching conversations, oldest first, as nested dicts (the JSON Lines objects).

    One query streams the conversations (`yield_per`: a server-side cursor on PostgreSQL,
    SQLite's own cursor), `batch` rows at a time; each batch's messages, sources and notes are
    read with three more queries. Only one batch is in memory at a time.
    """
    outcome = outcome_expression()
    query = (
        select(*_CONVERSATION_FIELDS, outcome.label("outcome"))
        .where(*_conditions(flt, outcome))
        .order_by(Conversation.created_at, Conversation.id)
        .execution_options(yield_per=batch)
    )
    with sessions() as s:
        for rows in s.execute(query).partitions():
            yield from _batch(s, rows)
