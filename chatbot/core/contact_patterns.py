"""E-mail addresses and phone numbers in free text: the one set of contact patterns that
masking (chatbot.privacy.masking, which documents the rules), the hand-off's reading of a
customer's contact details (chatbot.dialogue.handoff) and the answer check's contact rules
(chatbot.answers.contacts) share.

Regex based on purpose (fast, predictable, explainable), and biased against look-alikes that
support staff need to read: order and tracking numbers, dates, prices, version numbers.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

# Chinese characters (the ranges knowledge_base.language reads as Han) count as word
# characters for `\w`, but Chinese writes no spaces: a number or address right after "手机"
# or "邮箱是" is still a separate word. GLUE is a word character that is not Han.
HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
GLUE = rf"[^\W{HAN_RANGES}]"
_NOT_HAN = rf"(?![{HAN_RANGES}])"

_EMAIL = re.compile(
    rf"(?<!{GLUE})(?<![.%+-])(?:{_NOT_HAN}[\w.%+-])+@(?:{_NOT_HAN}[\w-])+"
    rf"(?:\.(?:{_NOT_HAN}[\w-])+)*\.[^\W\d_{HAN_RANGES}]{{2,}}(?!{GLUE}|-)"
)

# Digit groups separated by single spaces, dots or dashes; an optional leading "+" and an area
# code in parentheses.
_PHONE_RUN = re.compile(
    rf"(?<!{GLUE})(?<![+/.,-])(?P<plus>\+ ?)?(?:\(\d{{1,5}}\) ?)?\d+"
    rf"(?:[ .-](?:\(\d{{1,5}}\) ?)?\d+)*(?!{GLUE}|[.,]\d)"
)

# The run and e-mail patterns are linear: a match can only start after a character that
# cannot continue it (the lookbehinds), so a failed attempt is never rescanned from inside.
DIGIT_GROUP = re.compile(r"\d+")

_PHONE_CUE = re.compile(
    r"\b(?:call|calls|calling|phone|mobile|cell|cellphone|tel|telephone|whatsapp|sms|text|"
    r"fax|ring)\b|\bmy\s+number\b|电话|手机|号码|联系方式|致电|打给我|微信|短信|座机|传真",
    re.IGNORECASE,
)
_CUE_BEFORE, _CUE_AFTER = 30, 20
# An identifier word (or "#") right before the number: it is that kind of number, not a phone
# or a card. Optional "number"/"no."/"id" and a colon may follow the word.
_ID_BEFORE = re.compile(
    r"(?:\b(?:order|orders|invoice|tracking|track|ticket|case|ref|reference|parcel|package|"
    r"shipment|receipt|sku|item|product|model|serial|account|acct|customer|member|booking|"
    r"confirmation|version|ver|build|release|firmware|ios|android|windows|zip|postcode|"
    r"postal)\b\.?(?:\s*(?:number|num|no\.?|nr\.?|id|code))?(?:\s+(?:is|was))?|#"
    # The Chinese words for order, waybill, tracking, invoice, ticket, receipt, product,
    # model, serial, version, postcode, member, customer, booking (and their "number"
    # forms). Not 账号 (account): in China the account name is often the mobile number.
    r"|(?:订单|运单|快递单|物流单|单|追踪|跟踪|发票|工单|小票|收据|商品|产品|型号|序列|版本|"
    r"邮编|邮政编码|会员|客户|预订|预约|确认)(?:号码|编号|号|码)(?:是|为)?"
    r"|(?:订单|运单|发票|工单|小票|收据|商品|产品|型号|版本|邮编|邮政编码|会员|客户)(?:是|为)?)"
    r"\s*[:#：]?\s*$",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(
    r"[$€£¥₹￥]\s*$|\b(?:usd|eur|gbp|chf|cad|aud|jpy|rmb|cny)\s*$|人民币\s*$", re.I
)
_CURRENCY_AFTER = re.compile(
    r"^\s*(?:[$€£¥₹￥元块圆]|人民币|"
    r"(?:usd|eur|gbp|chf|cad|aud|jpy|rmb|cny|dollars?|euros?|pounds?|cents?)\b)",
    re.I,
)
_DATE = re.compile(
    r"^(?:(?P<y1>\d{4})(?P<s1>[-.])(?P<m1>\d{1,2})(?P=s1)(?P<d1>\d{1,2})"
    r"|(?P<a2>\d{1,2})(?P<s2>[-.])(?P<b2>\d{1,2})(?P=s2)(?P<y2>\d{4}))(?!\d)"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def after_identifier(text: str, start: int) -> bool:
    """True when an identifier word ("order", "order number is", "tracking", "#", "订单号")
    ends right before `start`: the number there is that kind of number, not personal data."""
    return bool(_ID_BEFORE.search(text[max(0, start - 40) : start]))


def mainland_mobile(groups: list[str]) -> bool:
    """11 digits starting 13-19, after an optional country code written as its own group
    ("86-13812345678", "0086 138 1234 5678") or run together as 0086. Full-width digits, as
    Chinese input methods type them, count as digits."""
    if len(groups) > 1 and groups[0] in ("86", "0086"):
        groups = groups[1:]
    digits = unicodedata.normalize("NFKC", "".join(groups)).removeprefix("0086")
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


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


@dataclass(frozen=True)
class _Cues:
    """Where the phone cue words of a text start and end (both sorted: cues do not overlap),
    so each number looks up its neighbours by bisection instead of scanning every cue."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> _Cues:
        found = [(c.start(), c.end()) for c in _PHONE_CUE.finditer(text)]
        return cls([s for s, _ in found], [e for _, e in found])

    def near(self, start: int, end: int) -> bool:
        """A cue word ends at most _CUE_BEFORE characters before the number or starts at
        most _CUE_AFTER characters after it."""
        i = bisect_left(self.ends, start - _CUE_BEFORE)
        if i < len(self.ends) and self.ends[i] <= start:
            return True
        j = bisect_left(self.starts, end)
        return j < len(self.starts) and self.starts[j] <= end + _CUE_AFTER


def _is_phone(text: str, m: re.Match[str], cues: _Cues) -> bool:
    candidate = m.group()
    groups = DIGIT_GROUP.findall(candidate)
    digits = "".join(groups)
    if not 7 <= len(digits) <= 15:
        return False
    if _is_date(candidate.lstrip("+ ")) or _IPV4.match(candidate):
        return False
    if after_identifier(text, m.start()):
        return False
    if _CURRENCY_BEFORE.search(text[max(0, m.start() - 5) : m.start()]) or _CURRENCY_AFTER.match(
        text[m.end() : m.end() + 10]
    ):
        return False
    return (
        bool(m.group("plus"))
        or "(" in candidate
        or _phone_like_groups(groups)
        or mainland_mobile(groups)
        or cues.near(m.start(), m.end())
    )


def email_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` has e-mail addresses (rule 1), as (start, end)."""
    return [(m.start(), m.end()) for m in _EMAIL.finditer(text)]


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` has phone numbers (rule 3), as (start, end)."""
    cues = _Cues.of(text)
    return [(m.start(), m.end()) for m in _PHONE_RUN.finditer(text) if _is_phone(text, m, cues)]
