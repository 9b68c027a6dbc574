"""Answers that turn their passage around with an opposite word instead of a negation."""

from __future__ import annotations

import pytest

from chatbot.answers.grounding import CONTRADICTED, NEGATION_MISMATCH, AnswerCheck
from chatbot.answers.opposites import Opposites
from chatbot.core.text import NO, is_negated, reply_word, split_sentences
from knowledge_base.embedders import HashEmbedder

HOURS = (
    "Our stores are open 10 am-8 pm Monday to Saturday and 11 am-6 pm on Sunday. Stores are "
    "closed on Thanksgiving Day, Christmas Day and New Year's Day."
)
PROMO = (
    "Only one promo code can be used per order. Promo codes cannot be combined with a price match."
)
RETURN_SHIPPING = (
    "Return shipping is free using our prepaid label. For international orders, return "
    "shipping is paid by the customer."
)
ZH_HOURS = "门店周一至周六营业。门店在感恩节、圣诞节和元旦休息。"


def opposite(passage: str, sentence: str) -> str | None:
    return Opposites(split_sentences(passage)).contradiction(sentence)


@pytest.mark.parametrize(
    ("passage", "answer", "contradicted"),
    [
        (HOURS, "Yes, your stores are open on Christmas Day.", True),
        (HOURS, "No, the stores are closed on Christmas Day.", False),
        # "open" on Sunday is what the hours sentence says; "closed" is about other days.
        (HOURS, "The stores are open on Sunday from 11 am to 6 pm.", False),
        (PROMO, "You can use both promo codes on one order.", True),
        (PROMO, "You can use only one promo code per order.", False),
        (RETURN_SHIPPING, "Yes, return shipping is free.", False),
        (RETURN_SHIPPING, "Return shipping is free for international orders.", True),
        (RETURN_SHIPPING, "For international orders you pay for return shipping.", False),
        (ZH_HOURS, "门店在圣诞节营业。", True),
        (ZH_HOURS, "门店在圣诞节休息。", False),
    ],
)
def test_an_opposite_word_on_the_same_topic_contradicts(
    passage: str, answer: str, contradicted: bool
) -> None:
    assert (opposite(passage, answer) is not None) is contradicted


def test_the_contradicting_sentence_is_named() -> None:
    found = opposite(HOURS, "Yes, your stores are open on Christmas Day.")
    assert found is not None and found.startswith("Stores are closed on Thanksgiving")


def test_the_answer_check_withholds_a_contradicted_sentence() -> None:
    check = AnswerCheck([HOURS], HashEmbedder())
    result = check.sentence("Yes, your stores are open on Christmas Day.")
    assert not result.supported and result.reason == CONTRADICTED
    assert check.sentence("Stores are closed on Christmas Day.").supported


def test_a_leading_no_is_right_where_the_passage_says_the_opposite_of_the_question() -> None:
    check = AnswerCheck([HOURS], HashEmbedder(), question="Are your stores open on Christmas Day?")
    assert check.sentence("No, the stores are closed on Christmas Day.").supported
    assert not check.sentence("No, the stores are not closed on Christmas Day.").supported
    result = check.sentence("Yes, the stores have their hours on Christmas Day.")
    assert not result.supported and result.reason == CONTRADICTED


def test_elsewhere_a_leading_no_negates_the_claim() -> None:
    check = AnswerCheck([PROMO], HashEmbedder(), question="Any discount on promo codes?")
    result = check.sentence("No, one promo code can be used per order.")
    assert not result.supported and result.reason == NEGATION_MISMATCH


def test_the_reply_word_is_taken_off_only_at_the_start() -> None:
    assert reply_word("No, stores are closed.") == (NO, "stores are closed.")
    assert reply_word("Not at all.") == (None, "Not at all.")
    assert is_negated(reply_word("No, you cannot use two codes.")[1])
    assert reply_word("没有，我们不提供礼品包装。") == (NO, "我们不提供礼品包装。")


def test_a_yes_with_its_own_claim_is_judged_by_the_claim() -> None:
    """ "Is return shipping free?" where one sentence says free and another says paid: a "yes"
    whose claim names the free case is backed by the sentence that says so."""
    passage = (
        "Returns within the United States are free using our prepaid label. For international "
        "orders, return shipping is paid by the customer."
    )
    check = AnswerCheck([passage], HashEmbedder(), question="Is return shipping free")
    answer = "Yes, returns within the United States are free using our label."
    assert check.sentence(answer).supported
    result = check.sentence("Yes, you can send it back with our label.")
    assert not result.supported and result.reason == CONTRADICTED


POINTS = "Points earned on an order are removed if the order is returned."
PROMO_ONE_SENTENCE = (
    "Only one promo code can be used per order, and codes cannot be applied to Final Sale "
    "items or gift cards."
)


def test_a_negated_opposite_word_says_what_the_passage_says() -> None:
    """ "You do not keep the points" where the passage says they are removed: agreement, not a
    negation mismatch; without its "not", or with the passage's own word negated, it is wrong."""
    check = AnswerCheck([POINTS], HashEmbedder(), question="Do I keep my points if I return it?")
    assert check.sentence("No, you do not keep the points earned on a returned order.").supported
    result = check.sentence("Yes, you keep the points earned on a returned order.")
    assert not result.supported and result.reason == CONTRADICTED
    result = check.sentence("Points earned on an order are not removed if it is returned.")
    assert not result.supported and result.reason == NEGATION_MISMATCH


def test_each_clause_of_a_passage_sentence_has_its_own_negation() -> None:
    """The claim is compared with the clause it shares its words with, not with a "cannot"
    in another clause of the same passage sentence."""
    check = AnswerCheck(
        [PROMO_ONE_SENTENCE], HashEmbedder(), question="Can I use both promo codes on one order?"
    )
    assert check.sentence("No, you can only use one promo code per order.").supported
    assert check.sentence("Codes cannot be applied to Final Sale items.").supported
    result = check.sentence("Codes can be applied to Final Sale items.")
    assert not result.supported and result.reason == NEGATION_MISMATCH
