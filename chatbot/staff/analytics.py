"""Usage analytics for a period [start, end): activity per day, how bot answers turned out,
ratings, latency, the questions customers ask most (and those the bot could not answer),
grouped by meaning across languages, and how many questions each language had.

Counts come from SQL aggregation; percentiles are computed in Python over the period's latency
values. Days are UTC calendar days.

Which messages count:
- *bot answers* are assistant messages, except the confirmation sent after a customer leaves
  contact details (reason `contact`), which answers no question;
- an answer that failed with an error counts as `errors`, whatever its decision was;
- a customer question is *unanswered* when the bot's next message declined it (`fallback`) or
  handed the conversation off, except a handoff because the customer asked for a person
  (`requested`: not a knowledge gap) and the contact confirmation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from chatbot.staff.question_groups import (
    DEFAULT_GROUP_THRESHOLD,
    EXAMPLES,
    TOP_GROUPS,
    QuestionGroup,
    QuestionSimilarity,
    group_questions,
)
from chatbot.storage.models import Conversation, Message
from knowledge_base.embedders import Embedder

# Grouping lives in chatbot.staff.question_groups; these names stay importable from here.
__all__ = [
    "DEFAULT_GROUP_THRESHOLD",
    "EXAMPLES",
    "MAX_QUESTIONS",
    "TOP_GROUPS",
    "AnalyticsReport",
    "DayActivity",
    "LanguageCount",
    "Outcomes",
    "Percentiles",
    "Period",
    "QuestionGroup",
    "Ratings",
    "activity_per_day",
    "build_report",
    "customer_questions",
    "group_questions",
    "latency_percentiles",
    "outcome_counts",
    "percentiles",
    "questions_per_language",
    "rating_counts",
]

# The most recent customer questions embedded per report (bounded work on a busy site).
MAX_QUESTIONS = 2000

ANSWER, FALLBACK, HANDOFF = "answer", "fallback", "handoff"
CONTACT_REASON, REQUESTED_REASON = "contact", "requested"


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC. Naive datetimes are taken as UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        """Today and the `days - 1` days before it (whole UTC days)."""
        if days < 1:
            raise ValueError("days must be at least 1")
        today = today or datetime.now(UTC).date()
        return cls.between(today - timedelta(days=days - 1), today)

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        """Whole days from `first` to `last`, both included."""
        if last < first:
            raise ValueError("the last day is before the first")
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    def days(self) -> list[date]:
        """Every calendar day the period touches, in order."""
        day, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        out = []
        while day <= last:
            out.append(day)
            day += timedelta(days=1)
        return out


@dataclass(frozen=True)
class DayActivity:
    day: date
    conversations: int  # started that day
    messages: int  # customer messages and bot answers


@dataclass(frozen=True)
class Outcomes:
    """Bot answers in the period by how they turned out."""

    answered: int = 0
    declined: int = 0
    handed_off: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.answered + self.declined + self.handed_off + self.errors

    def shares(self) -> dict[str, float]:
        """Each outcome's share of all bot answers (0..1; all 0 when there were none)."""
        total = self.total or 1
        return {
            "answered": self.answered / total,
            "declined": self.declined / total,
            "handed off": self.handed_off / total,
            "errors": self.errors / total,
        }


@dataclass(frozen=True)
class Ratings:
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def positive_share(self) -> float | None:
        """Thumbs up / all ratings; None without ratings."""
        return self.up / self.total if self.total else None


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class LanguageCount:
    """Customer questions in one language (None: not recorded, as on older messages)."""

    language: str | None
    questions: int
    unanswered: int = 0


@dataclass(frozen=True)
class AnalyticsReport:
    period: Period
    per_day: list[DayActivity]
    outcomes: Outcomes
    ratings: Ratings
    latency_ms: Percentiles
    first_token_ms: Percentiles
    top_questions: list[QuestionGroup]
    top_unanswered: list[QuestionGroup]
    # Questions per language, most asked first (the same questions as the groups count).
    languages: list[LanguageCount] = field(default_factory=list)

    @property
    def conversations(self) -> int:
        return sum(d.conversations for d in self.per_day)

    @property
    def messages(self) -> int:
        return sum(d.messages for d in self.per_day)


# ---- helpers ----------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _in(column: InstrumentedAttribute[datetime], period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _day(session: Session, column: InstrumentedAttribute[datetime]) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, as SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC wall-clock text


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _bot_answer() -> ColumnElement[bool]:
    return and_(
        Message.role == "assistant",
        or_(Message.reason.is_(None), Message.reason != CONTACT_REASON),
    )


# ---- numbers ----------------------------------------------------------------------------
def activity_per_day(session: Session, period: Period) -> list[DayActivity]:
    """Conversations started and messages sent per UTC day; days without any are 0."""
    conv_day = _day(session, Conversation.created_at)
    conversations = {
        _as_date(d): int(n)
        for d, n in session.execute(
            select(conv_day, func.count(Conversation.id))
            .where(_in(Conversation.created_at, period))
            .group_by(conv_day)
        )
    }
    msg_day = _day(session, Message.created_at)
    messages = {
        _as_date(d): int(n)
        for d, n in session.execute(
            select(msg_day, func.count(Message.id))
            .where(_in(Message.created_at, period))
            .group_by(msg_day)
        )
    }
    return [
        DayActivity(day, conversations.get(day, 0), messages.get(day, 0)) for day in period.days()
    ]


def outcome_counts(session: Session, period: Period) -> Outcomes:
    rows = session.execute(
        select(Message.decision, Message.status, func.count(Message.id))
        .where(_bot_answer(), _in(Message.created_at, period))
        .group_by(Message.decision, Message.status)
    )
    counts: Counter[str] = Counter()
    for decision, status, n in rows:
        key = "errors" if status == "error" else decision or ""
        counts[key] += int(n)
    return Outcomes(
        answered=counts[ANSWER],
        declined=counts[FALLBACK],
        handed_off=counts[HANDOFF],
        errors=counts["errors"],
    )


def rating_counts(session: Session, period: Period) -> Ratings:
    """Thumbs up / down on bot answers sent in the period."""
    rows = session.execute(
        select(Message.rating, func.count(Message.id))
        .where(
            Message.role == "assistant",
            Message.rating.is_not(None),
            _in(Message.created_at, period),
        )
        .group_by(Message.rating)
    )
    by_sign = dict.fromkeys((1, -1), 0)
    for rating, n in rows:
        by_sign[1 if (rating or 0) > 0 else -1] += int(n)
    return Ratings(up=by_sign[1], down=by_sign[-1])


def percentiles(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles(0, None, None)
    p50, p95 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95])
    return Percentiles(len(values), float(p50), float(p95))


def latency_percentiles(session: Session, period: Period) -> tuple[Percentiles, Percentiles]:
    """p50/p95 of the full answer time and of the time to the first token, over completed
    bot answers in the period (ms)."""
    rows = session.execute(
        select(Message.latency_ms, Message.first_token_ms).where(
            _bot_answer(), Message.status == "complete", _in(Message.created_at, period)
        )
    ).all()
    latency = [float(a) for a, _ in rows if a is not None]
    first = [float(b) for _, b in rows if b is not None]
    return percentiles(latency), percentiles(first)


def _questions(period: Period, *, unanswered: bool) -> tuple[Any, list[ColumnElement[bool]]]:
    """The columns of the period's messages (with the next message's role, decision, reason
    and status) and the conditions that keep the customer questions among them."""
    following = {
        name: func.lead(column)
        .over(partition_by=Message.conversation_id, order_by=Message.id)
        .label(f"next_{name}")
        for name, column in (
            ("role", Message.role),
            ("decision", Message.decision),
            ("reason", Message.reason),
            ("status", Message.status),
        )
    }
    # The window runs over messages from the period's start on: a question's answer is after
    # it, so it is always inside.
    turns = (
        select(
            Message.id,
            Message.role,
            Message.content,
            Message.language,
            Message.created_at,
            *following.values(),
        )
        .where(Message.created_at >= period.start)
        .subquery()
    )
    c = turns.c
    not_contact = or_(c.next_reason.is_(None), c.next_reason != CONTACT_REASON)
    where = [c.role == "user", c.created_at < period.end, not_contact]
    if unanswered:
        where += [
            c.next_role == "assistant",
            c.next_status != "error",
            or_(
                c.next_decision == FALLBACK,
                and_(
                    c.next_decision == HANDOFF,
                    or_(c.next_reason.is_(None), c.next_reason != REQUESTED_REASON),
                ),
            ),
        ]
    return c, where


def customer_questions(
    session: Session, period: Period, *, unanswered: bool = False, limit: int = MAX_QUESTIONS
) -> list[str]:
    """The period's customer messages, newest first (at most `limit`), without the messages
    that only left contact details. With `unanswered`, only those whose next bot message
    declined them or handed off (not on the customer's request)."""
    c, where = _questions(period, unanswered=unanswered)
    return list(session.scalars(select(c.content).where(*where).order_by(c.id.desc()).limit(limit)))


def questions_per_language(session: Session, period: Period) -> list[LanguageCount]:
    """How many customer questions (as `customer_questions` counts them, all of them) each
    language had, and how many of those went unanswered; most asked first."""
    counts: dict[str | None, list[int]] = {}
    for index, unanswered in enumerate((False, True)):
        c, where = _questions(period, unanswered=unanswered)
        for lang, n in session.execute(
            select(c.language, func.count()).where(*where).group_by(c.language)
        ):
            counts.setdefault(lang, [0, 0])[index] = int(n)
    found = [LanguageCount(lang, asked, missed) for lang, (asked, missed) in counts.items()]
    # Most asked first; the unrecorded language last among equals.
    return sorted(found, key=lambda x: (-x.questions, x.language is None, x.language or ""))


# ---- the whole report -------------------------------------------------------------------
def build_report(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    period: Period,
    *,
    threshold: float | None = None,
    top: int = TOP_GROUPS,
    max_questions: int = MAX_QUESTIONS,
) -> AnalyticsReport:
    """The report for `period`. Questions are grouped with `embedder`, the knowledge base's:
    across languages when it is a LanguageRoutedEmbedder (see chatbot.staff.question_groups);
    `threshold` None uses each model's own grouping threshold."""
    with sessions() as s:
        per_day = activity_per_day(s, period)
        outcomes = outcome_counts(s, period)
        ratings = rating_counts(s, period)
        latency, first_token = latency_percentiles(s, period)
        asked = customer_questions(s, period, limit=max_questions)
        unanswered = customer_questions(s, period, unanswered=True, limit=max_questions)
        languages = questions_per_language(s, period)
    # Both groupings share one similarity: each wording is embedded once.
    similarity = QuestionSimilarity(embedder, threshold)
    similarity.prime(list(dict.fromkeys(" ".join(q.split()) for q in [*asked, *unanswered])))
    return AnalyticsReport(
        period=period,
        per_day=per_day,
        outcomes=outcomes,
        ratings=ratings,
        latency_ms=latency,
        first_token_ms=first_token,
        top_questions=group_questions(asked, similarity, top=top),
        top_unanswered=group_questions(unanswered, similarity, top=top),
        languages=languages,
    )
