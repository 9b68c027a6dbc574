"""SQL for the staff console's conversation search: filters, one page of rows, the label
vocabulary and the languages to filter by. Like `repositories`, every function takes a session
and never commits.

Search stays fast on large tables: filters are EXISTS / IN subqueries on indexed columns
(`messages.conversation_id`, `messages.rating`), only the ids of one page are selected, and the
per-row details (message counts, ratings, last decision) are read for that page alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, case, exists, func, literal, select, true
from sqlalchemy.orm import Session

from chatbot.core.dates import DateRange
from chatbot.core.vocabulary import (
    REVIEW_OUTCOMES,
    DecisionKind,
    Label,
    OutcomeLabel,
    RatingFilter,
    Role,
)
from chatbot.storage.models import Conversation, Message
from chatbot.storage.repositories import ConversationHeader, last_decision, within

# Outcomes a conversation can be filtered by. A conversation matches every outcome that
# happened in it: "answered" / "declined" when at least one bot answer had that decision,
# "handed off" once it was handed to a person, "needs human" while that is still unhandled.
ANSWERED, DECLINED, HANDED_OFF, NEEDS_HUMAN = REVIEW_OUTCOMES
OUTCOMES: tuple[str, ...] = tuple(o.value for o in REVIEW_OUTCOMES)
# Customer ratings of bot answers.
THUMBS_DOWN, THUMBS_UP, ANY_RATING = RatingFilter
RATINGS: tuple[str, ...] = tuple(r.value for r in RatingFilter)
# The fixed label vocabulary for reviewed conversations.
LABELS: tuple[str, ...] = tuple(label.value for label in Label)
MAX_PAGE_SIZE = 200
# The decision a bot answer has for the outcomes that are one.
_OUTCOME_DECISION = {ANSWERED: DecisionKind.ANSWER, DECLINED: DecisionKind.FALLBACK}


class ReviewError(ValueError):
    """A review action cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class ReviewFilters:
    """Conversation search filters; None / empty means "any". Dates are UTC days, both ends
    included."""

    date_from: date | None = None
    date_to: date | None = None
    outcome: str | None = None  # one of OUTCOMES
    rating: str | None = None  # one of RATINGS
    text: str = ""  # case-insensitive substring of any message
    label: str | None = None  # one of LABELS
    language: str | None = None  # the conversation's language code ("en", "zh", ...)


@dataclass(frozen=True)
class ReviewRow(ConversationHeader):
    handled: bool
    last_decision: str | None
    labels: tuple[str, ...]
    thumbs_up: int
    thumbs_down: int
    language: str | None = None  # the latest customer message's language


# ---- labels --------------------------------------------------------------------------------
def split_labels(stored: str | None) -> tuple[str, ...]:
    return tuple(x for x in (stored or "").split(",") if x)


def clean_labels(labels: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The labels in vocabulary order, duplicates dropped; ReviewError names unknown ones."""
    wanted = {x.strip().lower() for x in labels if x and x.strip()}
    unknown = sorted(wanted - set(LABELS))
    if unknown:
        raise ReviewError(
            f"unknown label(s) {', '.join(repr(x) for x in unknown)}: "
            f"choose from {', '.join(LABELS)}"
        )
    return tuple(x for x in LABELS if x in wanted)


# ---- search --------------------------------------------------------------------------------
def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_message(*criteria: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a message of this conversation matching `criteria` (via messages.conversation_id)."""
    return exists().where(Message.conversation_id == Conversation.id, *criteria)


def _rated(*criteria: ColumnElement[bool]) -> ColumnElement[bool]:
    """The conversation has a rated message: IN over the (indexed, sparse) rating column."""
    return Conversation.id.in_(select(Message.conversation_id).where(*criteria))


def _mentions(text: str, dialect: str) -> ColumnElement[bool]:
    """Some message contains `text`, any case. SQLite's LIKE already ignores (ASCII) case, and
    its lower() knows no more than that, so ILIKE's lower(...) LIKE lower(...) would only cost
    time there; PostgreSQL gets ILIKE. One scan of the messages either way (a substring cannot
    use an index), done once as an IN list rather than once per conversation."""
    pattern = _like_pattern(text)
    if dialect == "sqlite":
        match = Message.content.like(pattern, escape="\\")
    else:
        match = Message.content.ilike(pattern, escape="\\")
    return Conversation.id.in_(select(Message.conversation_id).where(match))


def filter_clauses(f: ReviewFilters, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters (ReviewError for an unknown outcome, rating or label).

    Cheapest first: SQLite tests plain terms in the order given, so the per-conversation
    EXISTS of an outcome mostly runs only for conversations that passed the others."""
    if f.outcome and f.outcome not in OUTCOMES:
        raise ReviewError(f"unknown outcome {f.outcome!r}: choose from {', '.join(OUTCOMES)}")
    if f.rating and f.rating not in RATINGS:
        raise ReviewError(f"unknown rating {f.rating!r}: choose from {', '.join(RATINGS)}")
    out = within(Conversation.created_at, DateRange(f.date_from, f.date_to))
    language = (f.language or "").strip().lower()
    if language:
        out.append(Conversation.language == language)
    if f.label:
        (label,) = clean_labels([f.label])
        padded = literal(",") + func.coalesce(Conversation.labels, "") + literal(",")
        out.append(padded.like(f"%,{label},%"))
    if f.outcome == HANDED_OFF:
        out.append(Conversation.needs_human == true())
    elif f.outcome == NEEDS_HUMAN:
        out += [Conversation.needs_human == true(), Conversation.handled_at.is_(None)]
    if f.rating == THUMBS_DOWN:
        out.append(_rated(Message.rating == -1))
    elif f.rating == THUMBS_UP:
        out.append(_rated(Message.rating == 1))
    elif f.rating == ANY_RATING:
        out.append(_rated(Message.rating.is_not(None)))
    text = " ".join(f.text.split())
    if text:
        out.append(_mentions(text, dialect))
    if f.outcome in _OUTCOME_DECISION:
        decision = _OUTCOME_DECISION[OutcomeLabel(f.outcome)]
        out.append(_has_message(Message.role == Role.ASSISTANT, Message.decision == decision))
    return out


def search_conversations(
    session: Session, filters: ReviewFilters, page: int = 1, page_size: int = 20
) -> tuple[list[ReviewRow], int]:
    """One page of matching conversations, newest first (by start), and the total match count."""
    page = max(1, page)
    page_size = min(max(1, page_size), MAX_PAGE_SIZE)
    where = filter_clauses(filters, session.get_bind().dialect.name)
    total = session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    ids = list(
        session.scalars(
            select(Conversation.id)
            .where(*where)
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    return _rows(session, ids), total


def _rows(session: Session, ids: list[str]) -> list[ReviewRow]:
    """Details for one page of conversation ids, in the order given."""
    if not ids:
        return []
    stats = {
        cid: (n, up or 0, down or 0)
        for cid, n, up, down in session.execute(
            select(
                Message.conversation_id,
                func.count(Message.id),
                func.sum(case((Message.rating == 1, 1), else_=0)),
                func.sum(case((Message.rating == -1, 1), else_=0)),
            )
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        )
    }
    found = {
        c.id: (c, d)
        for c, d in session.execute(
            select(Conversation, last_decision()).where(Conversation.id.in_(ids))
        )
    }
    rows = []
    for cid in ids:
        if cid not in found:  # deleted between the two queries
            continue
        c, decision = found[cid]
        n, up, down = stats.get(cid, (0, 0, 0))
        rows.append(
            ReviewRow(
                c.id,
                c.title,
                c.channel,
                c.created_at,
                c.updated_at,
                n,
                c.needs_human,
                c.handled_at is not None,
                decision,
                split_labels(c.labels),
                up,
                down,
                c.language,
            )
        )
    return rows


def conversation_languages(session: Session) -> list[str]:
    """The languages conversations are in, most conversations first (for the filter)."""
    count = func.count(Conversation.id)
    return list(
        session.scalars(
            select(Conversation.language)
            .where(Conversation.language.is_not(None))
            .group_by(Conversation.language)
            .order_by(count.desc(), Conversation.language)
        )
    )
