"""Privacy: mask personal data before a message is stored (deleting old conversations is
chatbot.privacy.retention's job).

`mask_pii` replaces e-mail addresses, Chinese resident ID numbers, payment card numbers and
phone numbers with "[email]", "[id]", "[card]" and "[phone]". It is regex based on purpose
(fast, predictable, explainable), and biased against masking look-alikes that support staff
need to read: order and tracking numbers, dates, prices, version numbers.

The rules, in the order they are applied:

1. **E-mail**: `local@domain.tld` (a dot and a 2+ letter top-level domain are required).
2. **Resident ID** (mainland China, GB 11643): 18 characters, 17 digits and a check digit
   (0-9 or X), optionally grouped 6-8-4 by single spaces or dashes, whose check digit is right
   (`stdnum.cn.ric`) and whose digits 7-14 are a birth date between 1900 and today. An
   18-digit order number with a wrong check digit or an impossible date stays as it is. It
   comes before the card rule: an ID number passes the Luhn check one time in ten.
3. **Card**: a run of digits, optionally grouped by single spaces or dashes, whose digits
   (13-19 of them, the lengths card numbers have) pass the Luhn check. If the whole run does
   not, contiguous groups of it are tried (longest first, then the rest of the run again),
   so "qty 3 4111 1111 1111 1111" still masks the card, and two cards in one run are both
   masked. Luhn-invalid numbers are never masked as cards.
4. **Phone**: a run of digits (separated by single spaces, dots or dashes, optionally with a
   leading "+" and an area code in parentheses) with 7 to 15 digits (the E.164 maximum) that
   also has at least one of:
   - a leading "+" (international format): "+44 20 7946 0958", "+14155552671";
   - an area code in parentheses: "(415) 555-2671";
   - phone-like grouping: three or more groups of 2-4 digits ("415-555-2671",
     "020 7946 0958", "06 12 34 56 78"; a single-digit country code first is allowed when
     four or more groups follow it, "1-800-555-0199");
   - a cue word shortly before or after: call, phone, mobile, cell, tel(ephone), whatsapp,
     sms, text, fax, "my number" (or 电话, 手机, 号码, 联系方式, 微信, 短信, 座机, 传真):
     "call me on 5551234567", "07700900123 is my mobile", "电话010-12345678";
   - the form of a mainland China mobile number: 11 digits starting 13-19, in any grouping,
     after an optional country code 86 or 0086 written as its own group: "13812345678",
     "138-1234-5678", "86-13812345678", "0086 138 1234 5678". An 11-digit number starting
     10, 11 or 12 is not one.

   Never a phone: a date ("2024-01-15", "15.01.2024"), an IPv4 address, an amount next to a
   currency sign or word ("$1 250 000", "12 500 000 EUR"), or anything right after an
   identifier word such as order, invoice, tracking, ticket, ref, sku, version, 订单号, 单号,
   发票 (or "#"): "order 12345678", "tracking 1234 5678 9012", "订单号：13812345678". The
   identifier rule holds for ID and card numbers too. A plain number with no such cue stays
   as it is: "order 12345678", "12345678" alone, or "555-1234" (two groups) are not masked.

Numbers glued to letters or slashes are never candidates, so codes like
"1Z999AA10123456784" and URL paths stay intact. Chinese characters are not letters here:
Chinese has no spaces, so "手机13812345678" and "我的邮箱是jane@example.com" hold a phone
number and an e-mail address.

The e-mail and phone rules (1 and 4) are chatbot.core.contact_patterns, which the dialogue
reads contact details with too; the ID and card rules are here.

Masking takes time linear in the text's length, whatever it holds: each rule looks only at a
bounded neighbourhood of a candidate, and a long text is masked in chunks of at most 16 KB,
cut where no number is near (see `mask_pii`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import accumulate

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from chatbot.core.contact_patterns import (
    DIGIT_GROUP,
    GLUE,
    after_identifier,
    email_spans,
    mainland_mobile,
    phone_spans,
)

EMAIL, PHONE, CARD, ID_NUMBER = "[email]", "[phone]", "[card]", "[id]"

# Digits in groups separated by single spaces or dashes, not glued to a word, a "+", a path,
# or a decimal point.
_CARD_RUN = re.compile(rf"(?<!{GLUE})(?<![+/.,-])\d+(?:[ -]\d+)*(?!{GLUE}|[.,]\d)")

# A resident ID number, alone (not part of a longer run of digit groups): 17 digits and a
# check character, optionally grouped 6-8-4.
_RESIDENT_ID = re.compile(
    rf"(?<!{GLUE})(?<![+/.,-])(?<!\d[ -])\d{{6}}[ -]?\d{{8}}[ -]?\d{{3}}[\dXx]"
    rf"(?!{GLUE}|[.,]\d|[ -]\d)"
)
_OLDEST_BIRTH_YEAR = 1900
_SEPARATOR = re.compile(r"[ -]")
_CARD_MIN, _CARD_MAX = 13, 19  # the digits a card number has
# Luhn: every second digit from the right is doubled, and a two-digit result counts as the sum
# of its digits (7 -> 14 -> 5).
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")

# Text longer than this is masked in chunks (see `mask_pii`), cut where no digit is within
# _CUT_CLEAR characters (more than any rule looks around a number), searched for in the last
# _CUT_SEARCH characters before the limit.
_CHUNK, _CUT_SEARCH, _CUT_CLEAR = 16_384, 2_048, 64
_DIGIT = re.compile(r"\d")
_SINGLE_SPACE = re.compile(r"(?<=\S)\s(?=\S)")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    backwards = digits[::-1]
    doubled = backwards[1::2].translate(_LUHN_DOUBLED)
    return (sum(map(int, backwards[::2])) + sum(map(int, doubled))) % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for run in _CARD_RUN.finditer(text):
        groups = list(DIGIT_GROUP.finditer(run.group()))
        if sum(len(g.group()) for g in groups) < _CARD_MIN or after_identifier(text, run.start()):
            continue
        # A mainland mobile number with its country code has 13-15 digits; no card number
        # starts with 86 or 0086.
        if mainland_mobile([g.group() for g in groups]):
            continue
        for first, last in _card_windows([g.group() for g in groups]):
            spans.append((run.start() + groups[first].start(), run.start() + groups[last].end()))
    return spans


def _card_windows(groups: list[str]) -> list[tuple[int, int]]:
    """(first, last) of the contiguous groups that are valid card numbers, none overlapping:
    the longest (in groups, then leftmost) first, then the longest of the rest, and so on.

    Only windows of 13-19 digits can be cards, found by bisecting the running digit counts,
    so the search is linear in the number of groups (trying every window was cubic)."""
    ends = list(accumulate(map(len, groups)))  # digits up to the end of each group
    digits = "".join(groups)
    found: list[tuple[int, int, int]] = []  # (-size, first, last): sorts longest, leftmost
    for first, group in enumerate(groups):
        before = ends[first] - len(group)
        lo = bisect_left(ends, before + _CARD_MIN, first)
        hi = bisect_right(ends, before + _CARD_MAX, lo)
        for last in range(lo, hi):
            if luhn_valid(digits[before : ends[last]]):
                found.append((first - last - 1, first, last))
    taken = [False] * len(groups)
    windows: list[tuple[int, int]] = []
    for _, first, last in sorted(found):
        if not any(taken[first : last + 1]):
            taken[first : last + 1] = [True] * (last + 1 - first)
            windows.append((first, last))
    return windows


def _valid_resident_id(candidate: str) -> bool:
    # Not `ric.is_valid`: it also looks the first six digits up in a table of places, and an
    # ID from a place missing from the table must still be masked.
    number = _SEPARATOR.sub("", unicodedata.normalize("NFKC", candidate).upper())
    if ric.calc_check_digit(number) != number[-1]:
        return False
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        return False
    return born.year >= _OLDEST_BIRTH_YEAR and born <= date.today()


def _resident_id_spans(text: str) -> list[tuple[int, int]]:
    return [
        (m.start(), m.end())
        for m in _RESIDENT_ID.finditer(text)
        if _valid_resident_id(m.group()) and not after_identifier(text, m.start())
    ]


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    """`text` with the (non-overlapping) spans replaced, in one pass."""
    pieces: list[str] = []
    done = 0
    for start, end in sorted(spans):
        pieces += [text[done:start], placeholder]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


# The rules in the order they are applied, each to the text the earlier ones masked.
_RULES: tuple[tuple[Callable[[str], list[tuple[int, int]]], str], ...] = (
    (email_spans, EMAIL),
    (_resident_id_spans, ID_NUMBER),
    (_card_spans, CARD),
    (phone_spans, PHONE),
)


def _mask(text: str) -> str:
    for spans, placeholder in _RULES:
        text = _replace(text, spans(text), placeholder)
    return text


def _found(text: str) -> list[tuple[str, str]]:
    """(value, placeholder) of each piece of personal data `_mask` replaces in `text`."""
    found: list[tuple[str, str]] = []
    for spans, placeholder in _RULES:
        where = spans(text)
        found += [(text[start:end], placeholder) for start, end in where]
        text = _replace(text, where, placeholder)
    return found


def _cut(text: str, limit: int) -> int:
    """Where to end a chunk that may not reach past `limit`: the last single whitespace
    character (between two others) with no digit within _CUT_CLEAR characters, so no number
    and none of the words the rules read around it (identifiers, currencies, cues) are split.
    Text without such a place (numbers every few words for 2 KB) is cut at the space farthest
    from any digit, else at `limit`."""
    low = limit - _CUT_SEARCH
    digits = [d.start() for d in _DIGIT.finditer(text, low - _CUT_CLEAR, limit + _CUT_CLEAR)]
    best, best_clear = limit, -1
    for gap in reversed([g.start() for g in _SINGLE_SPACE.finditer(text, low, limit)]):
        k = bisect_left(digits, gap)
        clear = min(
            digits[k] - gap if k < len(digits) else _CUT_CLEAR,
            gap - digits[k - 1] if k > 0 else _CUT_CLEAR,
        )
        if clear >= _CUT_CLEAR:
            return gap
        if clear > best_clear:
            best, best_clear = gap, clear
    return best


def mask_pii(text: str) -> str:
    """`text` with e-mail addresses, resident ID numbers, card numbers and phone numbers
    replaced by "[email]", "[id]", "[card]" and "[phone]" (rules in the module docstring).
    Everything else is unchanged.

    Linear in the length of the text: every rule looks at a bounded neighbourhood of each
    candidate, and text longer than _CHUNK characters is masked a chunk at a time, so no
    pattern ever sees more than _CHUNK characters at once."""
    return "".join(_mask(chunk) for chunk in _chunks(text))


def _chunks(text: str) -> Iterator[str]:
    """`text` in pieces of at most _CHUNK characters, cut where no number is near (`_cut`)."""
    start = 0
    while len(text) - start > _CHUNK:
        end = _cut(text, start + _CHUNK)
        yield text[start:end]
        start = end
    if text:
        yield text[start:]


def personal_data(text: str) -> list[tuple[str, str]]:
    """The e-mail addresses, ID, card and phone numbers `mask_pii` masks in `text`, each as
    (value as written, its placeholder), in the order of the rules."""
    return [found for chunk in _chunks(text) for found in _found(chunk)]


# Between the characters of a repeated number: the separators a number may be written with.
_ANY_SEPARATOR = r"[ .()\-]{0,2}"


def _repeated(value: str, placeholder: str) -> re.Pattern[str]:
    """Where another text repeats `value`: an e-mail address in any case, a number in any
    grouping ("4111 1111 1111 1111" as "4111111111111111", "415-555-2671" as
    "(415) 555 2671")."""
    if placeholder == EMAIL:
        return re.compile(rf"(?<![\w.%+-]){re.escape(value)}(?![\w-])", re.IGNORECASE)
    characters = [c for c in unicodedata.normalize("NFKC", value) if c.isdigit() or c in "Xx"]
    body = _ANY_SEPARATOR.join("[Xx]" if c in "Xx" else c for c in characters)
    return re.compile(rf"(?<![\d+(])(?:\+ ?)?\(?{body}(?![\dXx])")


def mask_repeated(text: str, typed: str, keep: Iterable[str] = ()) -> str:
    """`text` (the bot's) with the personal data of `typed` (the customer's message) masked
    wherever `text` repeats it, by the placeholders `mask_pii` gives it in `typed`; the rest
    of `text`, and any value that a text of `keep` (the knowledge base's passages) also
    holds (the shop's own address or phone number, asked about), are left as they are."""
    kept = list(keep)
    for value, placeholder in personal_data(typed):
        pattern = _repeated(value, placeholder)
        if any(pattern.search(k) for k in kept):
            continue
        text = pattern.sub(placeholder, text)
    return text
