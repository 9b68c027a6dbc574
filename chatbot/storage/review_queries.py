"""SQL for the staff review console: filtered conversation search with paging, the handoff
queue, notes, labels, "handled" marks and staff replies. Like `repositories`, every function
takes a session and never commits.

Search stays fast on large tables: filters are EXISTS / IN subqueries on indexed columns
(`messages.conversation_id`, `messages.rating`), only the ids of one page are selected, and the
per-row details (message counts, ratings, last decision) are read for that page alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, exists, func, literal, select, true
from sqlalchemy.orm import Session

from chatbot.storage.models import Conversation, ConversationNote, Message
from knowledge_base.tables import utcnow

# Outcomes a conversation can be filtered by. A conversation matches every outcome that
# happened in it: "answered" / "declined" when at least one bot answer had that decision,
# "handed off" once it was handed to a person, "needs human" while that is still unhandled.
ANSWERED, DECLINED, HANDED_OFF, NEEDS_HUMAN = "answered", "declined", "handed off", "needs human"
OUTCOMES = (ANSWERED, DECLINED, HANDED_OFF, NEEDS_HUMAN)
# Customer ratings of bot answers.
THUMBS_DOWN, THUMBS_UP, ANY_RATING = "thumbs down", "thumbs up", "any rating"
RATINGS = (THUMBS_DOWN, THUMBS_UP, ANY_RATING)
# The fixed label vocabulary for reviewed conversations.
LABELS = ("wrong-answer", "missing-faq", "resolved", "good-answer", "needs-follow-up")
# A reply typed by a staff member: stored as an assistant message with this decision and
# answer mode, and the agent's name as its reason.
STAFF = "staff"
MAX_PAGE_SIZE = 200


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
class ReviewRow:
    id: str
    title: str
    channel: str
    created_at: datetime
    updated_at: datetime
    messages: int
    needs_human: bool
    handled: bool
    last_decision: str | None
    labels: tuple[str, ...]
    thumbs_up: int
    thumbs_down: int
    language: str | None = None  # the latest customer message's language


@dataclass(frozen=True)
class QueueItem:
    """A conversation waiting for a person."""

    id: str
    title: str
    created_at: datetime
    waiting_since: datetime  # the first handoff answer (the conversation start if none)
    handoff_reason: str | None
    contact: str | None
    last_customer_message: str
    messages: int


@dataclass(frozen=True)
class QueueStamp:
    """What changes whenever the handoff queue does: how many conversations wait, and the
    newest message in any of them (a customer writing, a new handoff, a staff reply)."""

    waiting: int
    last_message_id: int | None


# A conversation as far as its transcript shows it: messages, ratings, notes, labels and the
# handoff fields, as plain values (for a gr.State to compare).
ConversationStamp = tuple[object, ...]


@dataclass(frozen=True)
class LiveStamps:
    """The queue's stamp and one per asked-for conversation (none for one not found)."""

    queue: QueueStamp
    conversations: dict[str, ConversationStamp]


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: datetime


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
def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


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
    out: list[ColumnElement[bool]] = []
    if f.date_from is not None:
        out.append(Conversation.created_at >= _day_start(f.date_from))
    if f.date_to is not None:
        out.append(Conversation.created_at < _day_start(f.date_to + timedelta(days=1)))
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
    if f.outcome in (ANSWERED, DECLINED):
        decision = "answer" if f.outcome == ANSWERED else "fallback"
        out.append(_has_message(Message.role == "assistant", Message.decision == decision))
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
    last_decision = (
        select(Message.decision)
        .where(Message.conversation_id == Conversation.id, Message.role == "assistant")
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    found = {
        c.id: (c, d)
        for c, d in session.execute(
            select(Conversation, last_decision).where(Conversation.id.in_(ids))
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


# ---- handoff queue -------------------------------------------------------------------------
def handoff_queue(session: Session, limit: int = 100) -> list[QueueItem]:
    """Conversations that need a person and are not handled yet, longest waiting first."""
    first_handoff = (
        select(func.min(Message.created_at))
        .where(
            Message.conversation_id == Conversation.id,
            Message.role == "assistant",
            Message.decision == "handoff",
        )
        .scalar_subquery()
    )
    waiting = func.coalesce(first_handoff, Conversation.created_at).label("waiting")
    last_user = (
        select(Message.content)
        .where(Message.conversation_id == Conversation.id, Message.role == "user")
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    count = (
        select(func.count(Message.id))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Conversation, waiting, last_user, count)
        .where(Conversation.needs_human == true(), Conversation.handled_at.is_(None))
        .order_by(waiting, Conversation.id)
        .limit(limit)
    ).all()
    return [
        QueueItem(
            c.id,
            c.title,
            c.created_at,
            _aware(since) if isinstance(since, datetime) else c.created_at,
            c.handoff_reason,
            c.contact,
            last or "",
            n,
        )
        for c, since, last, n in rows
    ]


def live_stamps(session: Session, conversation_ids: Sequence[str]) -> LiveStamps:
    """The stamps an open staff console compares to notice changes, in one query: the
    queue's (over the unhandled handed-off conversations, by the indexed
    messages.conversation_id) and each conversation's (by primary key, its messages and
    notes read through their indexed conversation ids)."""
    ids = sorted({c for c in conversation_ids if c})
    waiting = (Conversation.needs_human == true(), Conversation.handled_at.is_(None))
    queue = select(
        select(func.count()).select_from(Conversation).where(*waiting).scalar_subquery(),
        select(func.max(Message.id))
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(*waiting)
        .scalar_subquery(),
    ).subquery("queue")
    waiting_count, waiting_last = queue.c
    messages = (
        select(
            Message.conversation_id.label("cid"),
            func.max(Message.id).label("last_id"),
            func.count(Message.rating).label("rated"),
            func.sum(Message.rating).label("rating_sum"),
        )
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
        .subquery("conversation_messages")
    )
    notes_of = (
        select(
            ConversationNote.conversation_id.label("cid"),
            func.max(ConversationNote.id).label("last_id"),
        )
        .where(ConversationNote.conversation_id.in_(ids))
        .group_by(ConversationNote.conversation_id)
        .subquery("conversation_notes_last")
    )
    shown = (
        Conversation.title,
        Conversation.needs_human,
        Conversation.handoff_reason,
        Conversation.contact,
        Conversation.handled_at,
        Conversation.handled_by,
        Conversation.labels,
        Conversation.language,
        messages.c.last_id,
        messages.c.rated,
        messages.c.rating_sum,
        notes_of.c.last_id,
    )
    rows = session.execute(
        select(waiting_count, waiting_last, Conversation.id, *shown)
        .select_from(queue)
        .outerjoin(Conversation, Conversation.id.in_(ids))
        .outerjoin(messages, messages.c.cid == Conversation.id)
        .outerjoin(notes_of, notes_of.c.cid == Conversation.id)
    ).all()
    stamps = {
        row[2]: tuple(v.isoformat() if isinstance(v, datetime) else v for v in row[3:])
        for row in rows
        if row[2] is not None
    }
    return LiveStamps(QueueStamp(rows[0][0] or 0, rows[0][1]), stamps)


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes from aggregates; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---- staff actions -------------------------------------------------------------------------
def _conversation(session: Session, conversation_id: str) -> Conversation:
    conv = session.get(Conversation, conversation_id) if conversation_id else None
    if conv is None:
        raise ReviewError(f"conversation {conversation_id!r} was not found")
    return conv


def add_note(session: Session, conversation_id: str, author: str, text: str) -> ConversationNote:
    text = text.strip()
    if not text:
        raise ReviewError("a note needs some text")
    _conversation(session, conversation_id)
    note = ConversationNote(conversation_id=conversation_id, author=author[:64], text=text)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, conversation_id: str) -> list[NoteView]:
    """A conversation's staff notes, oldest first."""
    return [
        NoteView(n.id, n.author, n.text, n.created_at)
        for n in session.scalars(
            select(ConversationNote)
            .where(ConversationNote.conversation_id == conversation_id)
            .order_by(ConversationNote.id)
        )
    ]


def set_labels(
    session: Session, conversation_id: str, labels: list[str] | tuple[str, ...]
) -> tuple[str, ...]:
    """Replace a conversation's labels (vocabulary only); returns them in vocabulary order."""
    cleaned = clean_labels(labels)
    _conversation(session, conversation_id).labels = ",".join(cleaned) or None
    return cleaned


def mark_handled(session: Session, conversation_id: str, agent: str) -> None:
    conv = _conversation(session, conversation_id)
    if not conv.needs_human:
        raise ReviewError("this conversation was not handed off to a person")
    conv.handled_at = utcnow()
    conv.handled_by = agent[:64]


def staff_message_ids(session: Session, conversation_id: str) -> list[int]:
    """The ids of the conversation's staff replies, oldest first (none for an unknown one)."""
    query = (
        select(Message.id)
        .where(Message.conversation_id == conversation_id, Message.decision == STAFF)
        .order_by(Message.id)
    )
    return list(session.scalars(query))


def add_staff_message(session: Session, conversation_id: str, agent: str, text: str) -> Message:
    """A reply typed by a staff member, stored like a bot answer (the customer sees it in the
    conversation) with decision and answer mode 'staff' and the agent's name as reason."""
    text = text.strip()
    if not text:
        raise ReviewError("a reply needs some text")
    conv = _conversation(session, conversation_id)
    msg = Message(
        conversation_id=conversation_id,
        role="assistant",
        content=text,
        decision=STAFF,
        reason=agent[:64],
        answer_mode=STAFF,
        status="complete",
    )
    session.add(msg)
    conv.updated_at = utcnow()
    session.flush()
    return msg
