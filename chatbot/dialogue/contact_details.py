"""The contact details a customer leaves in a message (after a hand-off, or with it): an
e-mail address or a phone number, as typed, so staff see what the customer wrote. Pure
logic, no I/O; regex based, like the rest of the hand-off (chatbot.dialogue.handoff).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from chatbot.core.contact_patterns import GLUE, after_identifier, phone_spans
from chatbot.dialogue.text_rules import HAN, chinese_text
from knowledge_base.language import normalise

_WORD = re.compile(r"[A-Za-z]+(?:['][A-Za-z]+)?")

# Chinese is written without spaces, so "邮箱是jane@example.com" and "电话13812345678" hold
# an address and a number: a Chinese character next to one does not make it part of a word,
# as any other word character does (GLUE, the rule the masking patterns follow).
# Practical, not RFC 5322: local part, @, a dotted domain with a 2+ letter top-level domain.
_EMAIL = re.compile(
    rf"(?<!{GLUE})(?<![.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    rf"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{{2,}}(?!{GLUE})"
)
# A phone number: an optional leading +, then digits in groups with single separators
# (space, dash, dot) and optional parenthesised groups: "+44 (0)20 7946 0958", "555-123-4567".
_PHONE = re.compile(
    rf"(?<!{GLUE})(?<!\+)(?:\+\s?)?(?:\(\d{{1,5}}\)|\d)(?:[ .\-]?(?:\(\d{{1,5}}\)|\d))+"
    rf"(?!{GLUE})"
)
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
MIN_PHONE_DIGITS: Final = 7
MAX_PHONE_DIGITS: Final = 15


def _valid_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return False
    # 13+ bare digits look like a card or account number, not something a person types as
    # a phone number (those come with a + or with spaces).
    if candidate.isdigit() and digits >= 13:
        return False
    # Dates such as 2024-05-01 or 01.05.2024.
    return not _DATE.match(candidate)


def _words_besides(text: str, candidate: str) -> int:
    """How many words `text` has besides `candidate`. Chinese has no spaces to count by:
    two characters count as a word (most Chinese words have two)."""
    rest = text.replace(candidate, " ")
    return len(_WORD.findall(rest)) + (len(HAN.findall(rest)) + 1) // 2


def _is_phone_zh(text: str, chinese: str, start: int, candidate: str) -> bool | None:
    """For a message with Chinese in it (`chinese`: its normalised form): False for a number
    right after an identifier word ("订单号123456789012"), True for one a cue word names
    ("我的电话是...") or in the form of a mainland mobile number, None when neither decides."""
    if _ZH_IDENTIFIER_BEFORE.search(normalise(text[max(0, start - 12) : start])):
        return False
    if _ZH_PHONE_CUE.search(chinese):
        return True
    return bool(_MAINLAND_MOBILE.match(normalise(candidate))) or None


@dataclass(frozen=True)
class Contact:
    """Contact details found in a message, as typed (trimmed), so staff see what the customer
    wrote."""

    text: str
    # False for a bare run of digits taken as a phone number only because the message is
    # little more than it ("4155552671"): a guess, which replaces only another bare number.
    certain: bool = True


def find_contact(text: str) -> Contact | None:
    """The first e-mail address in the text, else the first phone number, else None.

    A phone number has 7-15 digits, is not a reference (an identifier word or "#" right
    before it: "order number is 1234567", "tracking 12345678", "#1234567", "订单号..."; the
    rule chatbot.core.contact_patterns reads numbers by) and has the shape of one: a number
    the masking rules read as a phone number (an international prefix, an area code in
    parentheses, phone-like groups such as "415-555-2671", a word such as "call" or "phone"
    nearby, a mainland China mobile number), one a phrase such as "reach me" or "my number
    is" names, or, in a message that is little more than the number, digits in groups
    ("07700 900123"). A bare run of digits in such a message ("4155552671") is taken as a
    guess (`Contact.certain` False)."""
    email = _EMAIL.search(text)
    if email:
        return Contact(email.group(0))
    chinese = chinese_text(text)
    masked_as_phones = phone_spans(text)
    for match in _PHONE.finditer(text):
        candidate = match.group(0).strip()
        if not _valid_phone(candidate) or after_identifier(text, match.start()):
            continue
        if chinese is not None:
            decided = _is_phone_zh(text, chinese, match.start(), candidate)
            if decided is not None:
                if decided:
                    return Contact(candidate)
                continue
        start, end = match.span()
        if any(s < end and start < e for s, e in masked_as_phones):
            return Contact(candidate)
        if _PHONE_CUE.search(text[max(0, start - _CUE_BEFORE) : end + _CUE_AFTER]):
            return Contact(candidate)
        # A number inside a sentence with nothing that makes it a phone number is far more
        # often an order, account or amount: taken only when the message is little more
        # than the number.
        if _words_besides(text, candidate) <= 3:
            return Contact(candidate, certain=not candidate.isdigit())
    return None


def extract_contact(text: str) -> str | None:
    """The contact details in `text` (`find_contact`), as typed, or None."""
    found = find_contact(text)
    return found.text if found else None


def replaces_contact(found: Contact, on_file: str | None) -> bool:
    """Whether `found` takes the place of the contact details on file: details given plainly
    do (the customer's latest word), a guess only where there are none, or only another
    bare number (a better contact, an e-mail address, is never replaced by a guess)."""
    return found.certain or not on_file or on_file.strip().isdigit()


_PHONE_CUE = re.compile(
    r"\b(call|phone|ring|text|sms|whats\s*app|mobile|cell|tel|number\s+is|reach\s+me)\b", re.I
)
# How far from a number a cue word may be (characters before it, after it).
_CUE_BEFORE, _CUE_AFTER = 30, 20
# Chinese words for phone, mobile, number, contact details, call me, WeChat, text message.
_ZH_PHONE_CUE = re.compile(r"电话|手机|号码|联系方式|致电|打给我|打我|联系我|回电|微信|短信|座机")
# An order, waybill, invoice, ticket, product, member or customer number ("订单号", "运单编号：")
# right before the number: the customer is quoting it, not giving a phone number.
_ZH_IDENTIFIER_BEFORE = re.compile(
    r"(?:(?:订单|运单|快递单|物流单|发票|工单|小票|收据|商品|产品|型号|版本|邮编|会员|客户|预订|"
    r"预约|退款|退货|账单)(?:号码|编号|号|码)?|(?:单|序列)(?:号码|编号|号))(?:是|为)?\s*[:#]?\s*$"
)
# A mainland China mobile number: 11 digits starting 13-19, after an optional +86 / 0086.
_MAINLAND_MOBILE = re.compile(r"^(?:\+?86[ -]?|0086[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}$")
