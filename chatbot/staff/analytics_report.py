"""What a usage report holds (chatbot.staff.analytics computes it): the period, activity per
day, outcomes of bot answers, ratings, latency percentiles, question groups and languages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from chatbot.core.dates import DateRange
from chatbot.core.vocabulary import OutcomeLabel
from chatbot.staff.question_groups import QuestionGroup


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
        days = DateRange(first, last)  # ValueError when the last day is before the first
        assert days.start is not None and days.end is not None
        return cls(days.start, days.end)

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
            OutcomeLabel.ANSWERED: self.answered / total,
            OutcomeLabel.DECLINED: self.declined / total,
            OutcomeLabel.HANDED_OFF: self.handed_off / total,
            OutcomeLabel.ERRORS: self.errors / total,
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


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
