"""Privacy: mask personal data before a message is stored, and delete old conversations.

`mask_pii` replaces e-mail addresses, phone numbers and payment card numbers with "[email]",
"[phone]" and "[card]". It is regex based on purpose (fast, predictable, explainable), and
biased against masking look-alikes that support staff need to read: order and tracking
numbers, dates, prices, version numbers.

The rules, in the order they are applied:

1. **E-mail**: `local@domain.tld` (a dot and a 2+ letter top-level domain are required).
2. **Card**: a run of digits, optionally grouped by single spaces or dashes, whose digits
   (13-19 of them, the lengths card numbers have) pass the Luhn check. If the whole run does
   not, contiguous groups of it are tried (longest first), so "qty 3 4111 1111 1111 1111"
   still masks the card. Luhn-invalid numbers are never masked as cards.
3. **Phone**: a run of digits (separated by single spaces, dots or dashes, optionally with a
   leading "+" and an area code in parentheses) with 7 to 15 digits (the E.164 maximum) that
   also has at least one of:
   - a leading "+" (international format): "+44 20 7946 0958", "+14155552671";
   - an area code in parentheses: "(415) 555-2671";
   - phone-like grouping: three or more groups of 2-4 digits ("415-555-2671",
     "020 7946 0958", "06 12 34 56 78"; a single-digit country code first is allowed when
     four or more groups follow it, "1-800-555-0199");
   - a cue word shortly before or after: call, phone, mobile, cell, tel(ephone), whatsapp,
     sms, text, fax, "my number": "call me on 5551234567", "07700900123 is my mobile".

   Never a phone: a date ("2024-01-15", "15.01.2024"), an IPv4 address, an amount next to a
   currency sign or word ("$1 250 000", "12 500 000 EUR"), or anything right after an
   identifier word such as order, invoice, tracking, ticket, ref, sku, version (or "#"):
   "order 12345678", "tracking 1234 5678 9012". A plain number with no such cue stays as it
   is: "order 12345678", "12345678" alone, or "555-1234" (two groups) are not masked.

Numbers glued to letters or slashes are never candidates, so codes like
"1Z999AA10123456784" and URL paths stay intact.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage.models import Conversation, ConversationNote, Message, MessageSource
from knowledge_base.tables import utcnow

if TYPE_CHECKING:
    from chatbot.container import Services

log = logging.getLogger(__name__)

EMAIL, PHONE, CARD = "[email]", "[phone]", "[card]"

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")

# Digits in groups separated by single spaces or dashes, not glued to a word, a "+", a path,
# or a decimal point.
_CARD_RUN = re.compile(r"(?<![\w+/.,-])\d+(?:[ -]\d+)*(?![\w]|[.,]\d)")

# Digit groups separated by single spaces, dots or dashes; an optional leading "+" and an area
# code in parentheses.
_PHONE_RUN = re.compile(
    r"(?<![\w+/.,-])(?P<plus>\+ ?)?(?:\(\d{1,5}\) ?)?\d+(?:[ .-](?:\(\d{1,5}\) ?)?\d+)*"
    r"(?![\w]|[.,]\d)"
)
_GROUP = re.compile(r"\d+")

_PHONE_CUE = re.compile(
    r"\b(?:call|calls|calling|phone|mobile|cell|cellphone|tel|telephone|whatsapp|sms|text|"
    r"fax|ring)\b|\bmy\s+number\b",
    re.IGNORECASE,
)
_CUE_BEFORE, _CUE_AFTER = 30, 20
# An identifier word (or "#") right before the number: it is that kind of number, not a phone
# or a card. Optional "number"/"no."/"id" and a colon may follow the word.
_ID_BEFORE = re.compile(
    r"(?:\b(?:order|orders|invoice|tracking|track|ticket|case|ref|reference|parcel|package|"
    r"shipment|receipt|sku|item|product|model|serial|account|acct|customer|member|booking|"
    r"confirmation|version|ver|build|release|firmware|ios|android|windows|zip|postcode|"
    r"postal)\b\.?(?:\s*(?:number|num|no\.?|nr\.?|id|code))?(?:\s+(?:is|was))?|#)"
    r"\s*[:#]?\s*$",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(r"[$€£¥₹]\s*$|\b(?:usd|eur|gbp|chf|cad|aud|jpy)\s*$", re.I)
_CURRENCY_AFTER = re.compile(
    r"^\s*(?:[$€£¥₹]|(?:usd|eur|gbp|chf|cad|aud|jpy|dollars?|euros?|pounds?|cents?)\b)", re.I
)
_DATE = re.compile(
    r"^(?:(?P<y1>\d{4})(?P<s1>[-.])(?P<m1>\d{1,2})(?P=s1)(?P<d1>\d{1,2})"
    r"|(?P<a2>\d{1,2})(?P<s2>[-.])(?P<b2>\d{1,2})(?P=s2)(?P<y2>\d{4}))(?!\d)"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _after_identifier(text: str, start: int) -> bool:
    return bool(_ID_BEFORE.search(text[max(0, start - 40) : start]))


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for run in _CARD_RUN.finditer(text):
        if _after_identifier(text, run.start()):
            continue
        groups = list(_GROUP.finditer(run.group()))
        found = _card_window(groups)
        if found is not None:
            first, last = found
            spans.append((run.start() + groups[first].start(), run.start() + groups[last].end()))
    return spans


def _card_window(groups: list[re.Match[str]]) -> tuple[int, int] | None:
    """The longest (then leftmost) contiguous groups whose digits are a valid card number."""
    n = len(groups)
    for size in range(n, 0, -1):
        for first in range(0, n - size + 1):
            digits = "".join(g.group() for g in groups[first : first + size])
            if _is_card(digits):
                return first, first + size - 1
    return None


def _is_date(candidate: str) -> bool:
    m = _DATE.match(candidate)
    if m is None:
        return False
    if m.group("y1"):
        month, day = int(m.group("m1")), int(m.group("d1"))
    else:  # day-month-year or month-day-year
        a, b = int(m.group("a2")), int(m.group("b2"))
        month, day = (b, a) if b <= 12 else (a, b)
    return 1 <= month <= 12 and 1 <= day <= 31


def _phone_like_groups(groups: list[str]) -> bool:
    if len(groups) < 3:
        return False
    first, rest = groups[0], groups[1:]
    if not all(2 <= len(g) <= 4 for g in rest):
        return False
    return 2 <= len(first) <= 4 or (len(first) == 1 and len(rest) >= 3)


def _has_cue(cues: list[tuple[int, int]], start: int, end: int) -> bool:
    """A cue word ends at most _CUE_BEFORE characters before the number or starts at most
    _CUE_AFTER characters after it."""
    return any(
        0 <= start - c_end <= _CUE_BEFORE or 0 <= c_start - end <= _CUE_AFTER
        for c_start, c_end in cues
    )


def _is_phone(text: str, m: re.Match[str], cues: list[tuple[int, int]]) -> bool:
    candidate = m.group()
    groups = _GROUP.findall(candidate)
    digits = "".join(groups)
    if not 7 <= len(digits) <= 15:
        return False
    if _is_date(candidate.lstrip("+ ")) or _IPV4.match(candidate):
        return False
    if _after_identifier(text, m.start()):
        return False
    if _CURRENCY_BEFORE.search(text[max(0, m.start() - 5) : m.start()]) or _CURRENCY_AFTER.match(
        text[m.end() : m.end() + 10]
    ):
        return False
    return (
        bool(m.group("plus"))
        or "(" in candidate
        or _phone_like_groups(groups)
        or _has_cue(cues, m.start(), m.end())
    )


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + placeholder + text[end:]
    return text


def mask_pii(text: str) -> str:
    """`text` with e-mail addresses, phone numbers and card numbers replaced by "[email]",
    "[phone]" and "[card]" (rules in the module docstring). Everything else is unchanged."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _replace(text, _card_spans(text), CARD)
    cues = [(c.start(), c.end()) for c in _PHONE_CUE.finditer(text)]
    spans = [(m.start(), m.end()) for m in _PHONE_RUN.finditer(text) if _is_phone(text, m, cues)]
    return _replace(text, spans, PHONE)


# ---- retention -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PurgePlan:
    cutoff: datetime
    conversations: int


_PURGE_BATCH = 500


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    if days < 1:
        raise ValueError("days must be at least 1")
    return (now or utcnow()) - timedelta(days=days)


def count_older_than(
    sessions: sessionmaker[Session], days: int, now: datetime | None = None
) -> PurgePlan:
    """How many conversations `purge_older_than` would delete (nothing is changed)."""
    cutoff = retention_cutoff(days, now)
    with sessions() as s:
        n = s.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.updated_at < cutoff)
        )
    return PurgePlan(cutoff, int(n or 0))


def purge_older_than(
    sessions: sessionmaker[Session], days: int, now: datetime | None = None
) -> int:
    """Delete conversations with no activity (`updated_at`) in the last `days` days, with
    everything attached to them: messages, their sources, and staff notes. Returns how many
    conversations were deleted."""
    return purge_before(sessions, retention_cutoff(days, now))


def purge_before(sessions: sessionmaker[Session], cutoff: datetime) -> int:
    """Delete conversations whose last activity is before `cutoff`, with their messages,
    sources and notes. Returns how many conversations were deleted.

    Deletes in batches, each its own short transaction, so a large purge never holds the
    database for long. The children are deleted explicitly as well as by the foreign keys'
    ON DELETE CASCADE, so nothing is left behind even where cascades are not enforced.
    """
    deleted = 0
    while True:
        with sessions.begin() as s:
            ids = list(
                s.scalars(
                    select(Conversation.id)
                    .where(Conversation.updated_at < cutoff)
                    .order_by(Conversation.updated_at, Conversation.id)
                    .limit(_PURGE_BATCH)
                )
            )
            if not ids:
                break
            message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
            s.execute(delete(MessageSource).where(MessageSource.message_id.in_(message_ids)))
            s.execute(delete(Message).where(Message.conversation_id.in_(ids)))
            s.execute(delete(ConversationNote).where(ConversationNote.conversation_id.in_(ids)))
            s.execute(delete(Conversation).where(Conversation.id.in_(ids)))
        deleted += len(ids)
    if deleted:
        log.info("deleted %d conversations with no activity since %s", deleted, cutoff)
    return deleted


def apply_retention(services: Services) -> int:
    """Automatic retention (called at start-up): purge conversations older than
    `CHATBOT_PRIVACY__RETENTION_DAYS`, when it is set. Returns how many were deleted."""
    days = services.settings.privacy.retention_days
    if days is None:
        return 0
    return purge_older_than(services.sessions, days)
