"""Numbers stated about the thing their passage sentence is about."""

from __future__ import annotations

import pytest

from chatbot.answers.grounding import MISPLACED_NUMBER, AnswerCheck
from chatbot.answers.number_binding import clauses
from knowledge_base.embedders import HashEmbedder

SHIPPING = (
    "Standard shipping is free on orders over $50 and costs $6.95 otherwise. Express shipping "
    "costs $14.95 on any order. Standard shipping takes 3-5 business days and Express shipping "
    "takes 1-2 business days."
)
STORES = (
    "We have three retail stores, each open Monday to Saturday 10 am-8 pm and Sunday 11 am-6 pm "
    "local time:\nPortland, Oregon: 410 Alder Street\nDenver, Colorado: 1225 Larimer Street"
)


@pytest.mark.parametrize(
    ("passage", "answer", "misplaced"),
    [
        (SHIPPING, "Standard shipping is $14.95.", ["14.95"]),
        (SHIPPING, "Express shipping costs $14.95 on any order.", []),
        (
            SHIPPING,
            "Standard shipping takes 3-5 business days, and Express shipping takes 1-2 business "
            "days.",
            [],
        ),
        (STORES, "The Denver store is at 410 Alder Street.", ["410"]),
        (STORES, "The Denver store is at 1225 Larimer Street.", []),
        (STORES, "Our stores open on Sunday from 11 am to 6 pm.", []),
    ],
)
def test_a_number_must_be_about_what_its_passage_sentence_is_about(
    passage: str, answer: str, misplaced: list[str]
) -> None:
    result = AnswerCheck([passage], HashEmbedder()).sentence(answer)
    if misplaced:
        assert (result.supported, result.reason) == (False, MISPLACED_NUMBER)
        assert result.unsupported_numbers == misplaced
    else:
        assert result.reason != MISPLACED_NUMBER


def test_the_customers_own_number_is_not_held_to_a_passage_sentence() -> None:
    passage = "Orders between $100 and $2,000 can be split into 4 interest-free payments."
    check = AnswerCheck([passage], HashEmbedder(), question="Can I split my $400 tent?")
    assert check.sentence("Yes, a $400 order can be split into 4 interest-free payments.").supported


def test_clauses_split_at_commas_and_conjunctions() -> None:
    assert clauses("Standard takes 3-5 days, and Express takes 1-2 days.") == [
        "Standard takes 3-5 days",
        "Express takes 1-2 days.",
    ]
    zh = ["标准配送需要3-5天", "加急配送需要1-2天。"]
    assert clauses("标准配送需要3-5天，加急配送需要1-2天。") == zh
