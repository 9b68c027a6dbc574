"""Masking Chinese personal data: mainland mobile numbers and resident ID numbers."""

from __future__ import annotations

import time
from datetime import date

import pytest

from chatbot.privacy.masking import ID_NUMBER, luhn_valid, mask_pii, phone_spans

# GB 11643: the check character from the weights and the mapping the standard gives, computed
# here independently of the library the masking uses.
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def resident_id(first17: str) -> str:
    assert len(first17) == 17 and first17.isdigit()
    return first17 + CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def wrong_check(number: str) -> str:
    """The same number with another check character."""
    return number[:-1] + ("0" if number[-1] != "0" else "1")


ID_X = "11010519491231002X"  # the standard's own example, check character X
# Born 1990-03-07, a digit as check character, and not a valid card number (Luhn), so that
# the look-alikes below are not masked as cards instead.
ID_DIGIT = resident_id("44030419900307124")


def test_the_test_checksum_agrees_with_the_standard_example() -> None:
    assert resident_id(ID_X[:17]) == ID_X
    assert ID_DIGIT[-1].isdigit() and not luhn_valid(ID_DIGIT)


FULL_WIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}  # "1" -> U+FF11

MASKED = [
    # Mobile numbers: 11 digits starting 13-19, any grouping, with or without a country code
    ("我的手机号是13812345678", "我的手机号是[phone]"),
    ("13912345678", "[phone]"),
    ("15012345678，谢谢", "[phone]，谢谢"),
    ("手机：138-1234-5678", "手机：[phone]"),
    ("138 1234 5678", "[phone]"),
    ("1381234 5678 打给我", "[phone] 打给我"),
    ("+86 138 1234 5678", "[phone]"),
    ("+8613812345678", "[phone]"),
    ("86-13812345678", "[phone]"),
    ("86-138-1234-5678", "[phone]"),
    ("0086 13812345678", "[phone]"),
    ("008613812345678", "[phone]"),
    ("13812345678".translate(FULL_WIDTH), "[phone]"),  # as Chinese input methods type them
    ("联系我：19912345678或者jane@example.com", "联系我：[phone]或者[email]"),
    # An account is often named by its mobile number in China: 账号 is no identifier word
    ("我的账号是13812345678", "我的账号是[phone]"),
    # Landlines need a cue, as in English
    ("电话010-12345678", "电话[phone]"),
    # Resident ID numbers
    (f"身份证号{ID_X}", f"身份证号{ID_NUMBER}"),
    (f"身份证 {ID_X.lower()}", f"身份证 {ID_NUMBER}"),
    (f"我的身份证号码是{ID_DIGIT}，请查一下", f"我的身份证号码是{ID_NUMBER}，请查一下"),
    (f"{ID_DIGIT[:6]} {ID_DIGIT[6:14]} {ID_DIGIT[14:]}", ID_NUMBER),
    (f"{ID_DIGIT[:6]}-{ID_DIGIT[6:14]}-{ID_DIGIT[14:]}", ID_NUMBER),
    # Chinese characters do not glue a number or an address to a word
    ("我的邮箱是jane@example.com谢谢", "我的邮箱是[email]谢谢"),
    ("卡号4111111111111111", "卡号[card]"),
    (
        f"姓名张三，身份证{ID_X}，手机13812345678",
        f"姓名张三，身份证{ID_NUMBER}，手机[phone]",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_chinese_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


NOT_MASKED = [
    # 11 digits not starting 13-19, no cue
    "12345678901",
    "10086123456",
    "编号 11234567890",
    # Part of a longer run of digits
    "138123456789",
    "213812345678",
    "13812345678 9",
    # An order number, whatever it looks like
    "订单号13812345678",
    "订单号：13812345678",
    "快递单号 13812345678",
    "运单号是138-1234-5678",
    f"订单号{ID_DIGIT}",
    # 18-digit look-alikes of an ID number: wrong check character, impossible or future
    # birth date, part of a longer run, glued to letters
    wrong_check(ID_X),
    wrong_check(ID_DIGIT),
    resident_id("44030419901307124"),  # month 13
    resident_id("44030418891231124"),  # born 1889
    resident_id(f"440304{date.today().year + 1}0101124"),  # born next year
    f"{ID_DIGIT}5",
    f"{ID_DIGIT} 5",
    f"SF{ID_DIGIT}",
    # Amounts and dates in Chinese
    "共13800000000元",
    "¥13812345678",
    "2024年1月15日下单",
    "请在30天内退货",
]


@pytest.mark.parametrize("text", NOT_MASKED)
def test_chinese_look_alikes_are_not_masked(text: str) -> None:
    assert mask_pii(text) == text


def test_a_wrong_check_character_is_a_wrong_check_character_for_every_position() -> None:
    # Every other check character leaves the number unmasked.
    for other in "0123456789X":
        candidate = ID_DIGIT[:-1] + other
        assert (mask_pii(candidate) == ID_NUMBER) == (other == ID_DIGIT[-1])


def test_mobile_numbers_are_phone_contacts() -> None:
    # The contact check of generated answers (chatbot.answers.contacts) finds them too.
    text = "请拨打13812345678或400-123-4567"
    assert [text[s:e] for s, e in phone_spans(text)] == ["13812345678", "400-123-4567"]


def _seconds(text: str, repeats: int) -> float:
    """The least CPU time of `repeats` runs of mask_pii(text)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        mask_pii(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize(
    "unit", ["手机1 ", "号1", f"身份证{ID_X[:-1]}0 ", "号13812345678", "邮箱a@b.co号"]
)
def test_masking_chinese_text_takes_linear_time(unit: str) -> None:
    small, large = unit * 128, unit * 1024  # 8 times as long: linear is 8 times the time
    base = _seconds(small, repeats=7)
    assert _seconds(large, repeats=3) < 20 * base
