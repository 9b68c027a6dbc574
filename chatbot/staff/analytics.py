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
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from chatbot.core.vocabulary import DecisionKind, MessageStatus, OutcomeLabel, Reason, Role
from chatbot.staff.analytics_report import (
    AnalyticsReport,
    DayActivity,
    LanguageCount,
    Outcomes,
    Percentiles,
    Period,
    Ratings,
)
from chatbot.staff.question_groups import (
    DEFAULT_GROUP_THRESHOLD,
    EXAMPLES,
    TOP_GROUPS,
    QuestionGroup,
    QuestionSimilarity,
    group_questions,
)
from chatbot.storage.models import Conversation, Message
from chatbot.storage.repositories import within
from knowledge_base.embedders import Embedder

# The report types live in chatbot.staff.analytics_report and grouping in
# chatbot.staff.question_groups; these names stay importable from here.
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

ANSWER, FALLBACK, HANDOFF = DecisionKind.ANSWER, DecisionKind.FALLBACK, DecisionKind.HANDOFF
CONTACT_REASON, REQUESTED_REASON = Reason.CONTACT, Reason.REQUESTED


# ---- helpers ----------------------------------------------------------------------------
def _in(column: InstrumentedAttribute[datetime], period: Period) -> ColumnElement[bool]:
    return and_(*within(column, period))


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
        Message.role == Role.ASSISTANT,
        or_(Message.reason.is_(None), Message.reason != CONTACT_REASON),
    )


# ---- numbers ----------------------------------------------------------------------------
def _per_day(
    session: Session,
    created: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[Any],
    period: Period,
) -> dict[date, int]:
    """How many rows of a table were created on each UTC day of the period (days with none
    left out)."""
    day = _day(session, created)
    rows = session.execute(select(day, func.count(key)).where(_in(created, period)).group_by(day))
    return {_as_date(d): int(n) for d, n in rows}


def activity_per_day(session: Session, period: Period) -> list[DayActivity]:
    """Conversations started and messages sent per UTC day; days without any are 0."""
    conversations = _per_day(session, Conversation.created_at, Conversation.id, period)
    messages = _per_day(session, Message.created_at, Message.id, period)
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
        key = OutcomeLabel.ERRORS if status == MessageStatus.ERROR else decision or ""
        counts[key] += int(n)
    return Outcomes(
        answered=counts[ANSWER],
        declined=counts[FALLBACK],
        handed_off=counts[HANDOFF],
        errors=counts[OutcomeLabel.ERRORS],
    )


def rating_counts(session: Session, period: Period) -> Ratings:
    """Thumbs up / down on bot answers sent in the period."""
    rows = session.execute(
        select(Message.rating, func.count(Message.id))
        .where(
            Message.role == Role.ASSISTANT,
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
            _bot_answer(), Message.status == MessageStatus.COMPLETE, _in(Message.created_at, period)
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
    where = [c.role == Role.USER, c.created_at < period.end, not_contact]
    if unanswered:
        where += [
            c.next_role == Role.ASSISTANT,
            c.next_status != MessageStatus.ERROR,
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
