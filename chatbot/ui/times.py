"""Times in the staff console, shown in the browser's time zone.

The database stores UTC. When the console loads, the browser reports its IANA zone name
(`BROWSER_ZONE_JS`); the server checks it against the zone database (anything else becomes
UTC) and keeps it in a per-session gr.State that every table and transcript builder takes.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import gradio as gr

from chatbot.core import dates

DEFAULT_ZONE = "UTC"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The event's js runs in the browser before the handler; its return value is the input.
BROWSER_ZONE_JS = "() => Intl.DateTimeFormat().resolvedOptions().timeZone"
# Files of the system's zone database that name no zone a browser reports ("localtime" is
# the server's own zone).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def zone_name(value: object) -> str:
    """`value` when it is an IANA zone name the server knows, else "UTC". Only a listed name
    gets near the zone database's files: a browser's string is never a path there."""
    if isinstance(value, str) and value in _known_zones():
        return value
    return DEFAULT_ZONE


def zone_info(zone: str | None) -> tzinfo:
    """The zone for a name from `zone_name` (None, or anything unknown: UTC)."""
    name = zone_name(zone)
    return UTC if name == DEFAULT_ZONE else ZoneInfo(name)


def fmt_time(value: datetime, zone: str | None = None) -> str:
    """A stored time as "2025-03-10 17:00:00" in `zone` (UTC by default). Naive values are
    UTC: SQLite hands back datetimes without their zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone_info(zone)).strftime(TIME_FORMAT)


def utc_offset(zone: str | None, at: datetime | None = None) -> str:
    """The zone's offset from UTC now (or `at`), e.g. "UTC+08:00", "UTC-03:30", "UTC"."""
    moment = (at or datetime.now(UTC)).astimezone(zone_info(zone))
    offset = moment.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_caption(zone: str | None) -> str:
    """The console's line saying which zone its times are in."""
    name = zone_name(zone)
    if name == DEFAULT_ZONE:
        return "Times are in UTC."
    return f"Times are in your time zone, {name} ({utc_offset(name)})."


def track_browser_zone(page: gr.Blocks) -> gr.State:
    """A per-session State with the browser's zone name: None until the page has loaded,
    then always a checked name (so its change event fires once per page load, and the tabs
    fill their tables on it). Call inside `page`."""
    zone = gr.State(None)
    # A State input would be read from the server's copy, never from the js: the browser's
    # answer travels through a hidden textbox.
    reported = gr.Textbox(visible=False)
    page.load(
        zone_name,
        inputs=[reported],
        outputs=[zone],
        js=BROWSER_ZONE_JS,
        api_visibility="private",
        show_progress="hidden",
    )
    return zone


def page_ready(page: gr.Blocks, zone: gr.State | None) -> Any:
    """The event a tab fills itself on when the page opens: the zone State's change once the
    browser has reported its zone (so the first tables already show it), or the page's load
    for a tab built without one (tests, a page of its own)."""
    return zone.change if zone is not None else page.load


def parse_day(value: Any, label: str) -> date:
    """The day a date picker (gr.DateTime without time) holds: its string, a timestamp or
    a datetime. Raises ValueError naming the field (`label`) when there is none or it is
    not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, int | float):  # a gr.DateTime timestamp
        return datetime.fromtimestamp(value, UTC).date()
    text = str(value or "").strip()
    if not text:
        raise ValueError(f"choose the {label} date")
    try:
        return dates.parse_day(text[:10])
    except dates.NotADay:
        raise ValueError(f"{label}: {text!r} is not a date (YYYY-MM-DD)") from None
