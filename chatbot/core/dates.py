"""Days as staff choose them (analytics periods, export and review filters): UTC calendar days,
both ends included, written YYYY-MM-DD."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


class NotADay(ValueError):
    """Text that is not a day written YYYY-MM-DD. Each front end words the error its own way
    (the option or field it came from); `text` is what was typed."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is not a date (YYYY-MM-DD)")
        self.text = text


def parse_day(text: str) -> date:
    """The day `text` writes as YYYY-MM-DD (NotADay otherwise)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise NotADay(text) from None


def utc_midnight(day: date) -> datetime:
    """The start of `day` in UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from `first` to `last`, both included; None leaves that end open."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        if self.first is not None and self.last is not None and self.last < self.first:
            raise ValueError("the last day is before the first")

    @property
    def start(self) -> datetime | None:
        """The first moment in the range (UTC midnight of `first`), or None when open."""
        return None if self.first is None else utc_midnight(self.first)

    @property
    def end(self) -> datetime | None:
        """The first moment after the range (UTC midnight after `last`), or None when open."""
        return None if self.last is None else utc_midnight(self.last + timedelta(days=1))
