"""Grounding check: numbers and sentences of a generated answer against its passages.

HashEmbedder is lexical (shared words and trigrams), so "supported" answers below reuse the
passages' wording and "off passage" ones talk about something else entirely.
"""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.grounding import (
    EMPTY,
    MODEL_DECLINED,
    OFF_PASSAGE,
    SUPPORTED,
    UNSUPPORTED_NUMBER,
    GroundingResult,
    PassageVectors,
    check_grounding,
    numbers_in,
    split_sentences,
)
from knowledge_base.embedders import HashEmbedder

RETURNS = (
    "You can return most items within 30 days of delivery for a full refund. "
    "Refunds are issued to the original payment method within 5-7 business days."
)
SHIPPING = "Standard shipping costs $4.99 and takes 3-5 business days. Orders over $50 ship free."


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


def test_a_restated_answer_is_supported(embedder: HashEmbedder) -> None:
    result = check_grounding(
        "You can return most items within 30 days of delivery for a full refund.",
        [RETURNS],
        embedder,
    )
    assert result == GroundingResult(True, SUPPORTED, result.sentence_scores, [])
    assert len(result.sentence_scores) == 1
    assert result.sentence_scores[0] > 0.99  # the same sentence


def test_a_paraphrase_over_two_sentences_is_supported(embedder: HashEmbedder) -> None:
    answer = (
        "You can return items within 30 days. "
        "The refund reaches your original payment method in 5-7 business days."
    )
    result = check_grounding(answer, [RETURNS], embedder)
    assert (result.supported, result.reason) == (True, SUPPORTED)
    assert len(result.sentence_scores) == 2
    assert all(s >= 0.5 for s in result.sentence_scores)


def test_a_wrong_number_is_unsupported(embedder: HashEmbedder) -> None:
    result = check_grounding(
        "Returns are accepted within 14 days.", ["Returns are accepted within 30 days."], embedder
    )
    assert (result.supported, result.reason) == (False, UNSUPPORTED_NUMBER)
    assert result.unsupported_numbers == ["14"]
    # The same sentence with the right number passes.
    ok = check_grounding(
        "Returns are accepted within 30 days.", ["Returns are accepted within 30 days."], embedder
    )
    assert (ok.supported, ok.reason, ok.unsupported_numbers) == (True, SUPPORTED, [])


@pytest.mark.parametrize(
    "answer,missing",
    [
        ("Standard shipping costs $5.99 and takes 3-5 business days.", ["5.99"]),
        ("Standard shipping costs $4.99 and takes 3-7 business days.", ["7"]),
        ("Standard shipping costs $4.99. Orders over $100 ship free.", ["100"]),
        ("Standard shipping costs 10% of the order.", ["10"]),
        ("Standard shipping takes 2 to 4 business days.", ["2", "4"]),
    ],
)
def test_every_number_must_appear_in_a_passage(
    embedder: HashEmbedder, answer: str, missing: list[str]
) -> None:
    result = check_grounding(answer, [SHIPPING], embedder)
    assert (result.supported, result.reason) == (False, UNSUPPORTED_NUMBER)
    assert result.unsupported_numbers == missing


@pytest.mark.parametrize(
    "answer",
    [
        "Standard shipping costs $4.99 and takes 3-5 business days.",
        "Standard shipping costs $4.990 and takes 3 to 5 business days.",
        "Orders over $50.00 ship free.",
        "Orders over 50 dollars ship free.",
    ],
)
def test_numbers_are_compared_after_normalising(embedder: HashEmbedder, answer: str) -> None:
    result = check_grounding(answer, [SHIPPING], embedder)
    assert result.unsupported_numbers == []
    assert result.reason == SUPPORTED


def test_numbers_from_any_passage_count(embedder: HashEmbedder) -> None:
    answer = "You can return most items within 30 days. Orders over $50 ship free."
    assert check_grounding(answer, [RETURNS], embedder).reason == UNSUPPORTED_NUMBER
    assert check_grounding(answer, [RETURNS, SHIPPING], embedder).reason == SUPPORTED


def test_an_off_topic_sentence_is_unsupported(embedder: HashEmbedder) -> None:
    answer = (
        "You can return most items within 30 days. "
        "Our Paris boutique sells handmade leather jackets and shoes."
    )
    result = check_grounding(answer, [RETURNS], embedder)
    assert (result.supported, result.reason) == (False, OFF_PASSAGE)
    assert result.sentence_scores[0] >= 0.5 > result.sentence_scores[1]
    assert result.unsupported_numbers == []


def test_min_similarity_is_the_threshold(embedder: HashEmbedder) -> None:
    answer = "You can return items within 30 days."
    score = check_grounding(answer, [RETURNS], embedder).sentence_scores[0]
    assert check_grounding(answer, [RETURNS], embedder, min_similarity=score).supported
    assert not check_grounding(answer, [RETURNS], embedder, min_similarity=score + 0.01).supported


def test_short_sentences_are_not_checked(embedder: HashEmbedder) -> None:
    result = check_grounding(
        "Yes. You can return most items within 30 days of delivery.", [RETURNS], embedder
    )
    assert (result.supported, result.reason) == (True, SUPPORTED)
    assert len(result.sentence_scores) == 2
    assert result.sentence_scores[0] < 0.5  # "Yes." scored, but exempt


def test_no_passages_means_nothing_is_supported(embedder: HashEmbedder) -> None:
    result = check_grounding("You can return most items within a month.", [], embedder)
    assert (result.supported, result.reason, result.sentence_scores) == (False, OFF_PASSAGE, [0.0])


@pytest.mark.parametrize("answer", ["", "   ", "\n\n"])
def test_an_empty_answer_is_unsupported(embedder: HashEmbedder, answer: str) -> None:
    assert check_grounding(answer, [RETURNS], embedder) == GroundingResult(False, EMPTY)


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know.",
        "I'm sorry, I don\u2019t know the answer to that.",
        "I'm not sure about that, but you can return most items within 30 days.",
        "I cannot help with that.",
        "I'm unable to answer that question.",
        "The reference text does not mention express refunds.",
    ],
)
def test_a_model_that_declines_is_unsupported(embedder: HashEmbedder, answer: str) -> None:
    result = check_grounding(answer, [RETURNS], embedder)
    assert (result.supported, result.reason) == (False, MODEL_DECLINED)


class Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.calls.append(len(texts))
        return super().encode(texts, batch_size)


def test_embeddings_are_computed_in_one_batch_each() -> None:
    embedder = Counting()
    answer = "You can return items within 30 days. Refunds take 5-7 business days."
    check_grounding(answer, [RETURNS, SHIPPING], embedder)
    # 2 + 2 passage sentences plus each two-sentence passage whole; then 2 answer sentences.
    assert embedder.calls == [6, 2]


def test_passage_vectors_are_kept_between_checks() -> None:
    embedder = Counting()
    cache = PassageVectors(embedder)
    answer = "You can return items within 30 days. Refunds take 5-7 business days."
    first = check_grounding(answer, [RETURNS, SHIPPING], embedder, cache=cache)
    again = check_grounding(answer, [SHIPPING, RETURNS], embedder, cache=cache)
    assert embedder.calls == [6, 2, 2]  # the second check encodes only the answer
    assert again == first
    # A new passage is encoded alone; the known one comes from the cache.
    check_grounding(answer, [RETURNS, "Gift cards never expire."], embedder, cache=cache)
    assert embedder.calls[-2:] == [1, 2]


def test_passage_vectors_forget_the_least_recently_used() -> None:
    embedder = Counting()
    cache = PassageVectors(embedder, max_passages=2)
    cache.get([RETURNS])
    cache.get([SHIPPING])
    cache.get([RETURNS])  # RETURNS is now the most recently used
    cache.get(["Gift cards never expire."])  # evicts SHIPPING
    assert len(cache) == 2
    embedder.calls.clear()
    cache.get([RETURNS])
    assert embedder.calls == []
    cache.get([SHIPPING])
    assert embedder.calls == [3]


def test_cached_vectors_match_fresh_ones() -> None:
    embedder = HashEmbedder()
    cache = PassageVectors(embedder)
    cache.get([SHIPPING])
    both = cache.get([RETURNS, SHIPPING])
    fresh = PassageVectors(embedder).get([RETURNS, SHIPPING])
    np.testing.assert_array_equal(both, fresh)
    assert both.shape == (6, embedder.dimension)


def test_numbers_in() -> None:
    text = "$1,200.00 within 5-7 days, open 9:00-17:30, 10% off, PSD2 rules, 24/7 support."
    assert numbers_in(text) == ["1200", "5", "7", "9", "17:30", "10", "24"]
    assert numbers_in("No numbers here.") == []


def test_split_sentences() -> None:
    assert split_sentences("Returns are free. Refunds take 5 days!\nAsk us? Yes") == [
        "Returns are free.",
        "Refunds take 5 days!",
        "Ask us?",
        "Yes",
    ]
    # Prices and abbreviations do not split a sentence.
    assert split_sentences("It costs $4.99 per item, e.g. socks.") == [
        "It costs $4.99 per item, e.g. socks."
    ]
