"""Ranges stated in passages, in English and Chinese."""

from __future__ import annotations

import math

import pytest

from chatbot.answers.number_ranges import Range, covered, ranges_in


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Orders between $100 and $2,000 can be split.", [Range(100, 2000)]),
        ("Gift cards are available from $25 to $500.", [Range(25, 500)]),
        ("Delivery takes 3-5 business days.", [Range(3, 5)]),
        ("Orders of 20 or more units qualify.", [Range(20, math.inf)]),
        ("Shipping is free on orders over $50.", [Range(50, math.inf)]),
        ("Returns are accepted within 30 days.", [Range(-math.inf, 30)]),
        ("满50元免运费。", [Range(50, math.inf)]),
        ("The shop sells 40 kinds of tea.", []),
    ],
)
def test_ranges_are_read(text: str, expected: list[Range]) -> None:
    assert ranges_in(text) == expected


def test_a_number_is_covered_by_a_range_that_holds_it() -> None:
    ranges = ranges_in("Orders between $100 and $2,000 can be split.")
    assert covered("400", ranges) and covered("100", ranges) and not covered("20", ranges)
    assert not covered("9:30", ranges)  # a clock time is not a quantity
