"""Translated answers: each checked sentence translated on its own and checked against it."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.answers.contacts import ContactPolicy
from chatbot.answers.grounding import WRONG_LANGUAGE, AnswerCheck, PassageVectors
from chatbot.dialogue.prompts import build_prompt
from chatbot.dialogue.translation import Translator, units
from chatbot.generation.scripted import ScriptedGenerator
from knowledge_base.embedders import HashEmbedder
from knowledge_base.language import CHINESE, ENGLISH
from knowledge_base.records import SearchHit

CARDS = "Gift cards never expire and have no fees."
CARDS_ZH = "礼品卡永不过期，也没有任何费用。"
SUPPORT = "Email support@shop.example or call 1-800-555-0142 on weekdays."
SUPPORT_ZH = "请发邮件至support@shop.example或拨打1-800-555-0142，工作日均可。"


class PairEmbedder:
    """Embeds a sentence and its listed translation to the same vector, anything else to a
    vector of its own: a multilingual embedder whose verdicts the test decides."""

    name = "pairs"
    dimension = 64

    def __init__(self, pairs: dict[str, str]) -> None:
        self._key = {**{t: s for s, t in pairs.items()}, **{s: s for s in pairs}}

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        rows = []
        for text in texts:
            seed = sum(map(ord, self._key.get(text.strip(), text)))
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


def translator(generator: ScriptedGenerator, embedder: object) -> Translator:
    return Translator(
        generator,
        embedder,  # type: ignore[arg-type]
        PassageVectors(embedder),  # type: ignore[arg-type]
        min_similarity=0.5,
        policy=ContactPolicy(),
        max_new_tokens=64,
    )


def test_a_short_sentence_is_translated_with_the_one_after_it() -> None:
    assert units(f"No. {CARDS} Yes, {SUPPORT}") == [f"No. {CARDS}", f"Yes, {SUPPORT}"]
    assert units("Sure!") == ["Sure!"]


def test_a_faithful_translation_is_shown_and_each_sentence_gets_its_own_prompt() -> None:
    generator = ScriptedGenerator([CARDS_ZH, SUPPORT_ZH])
    t = translator(generator, PairEmbedder({CARDS: CARDS_ZH, SUPPORT: SUPPORT_ZH}))
    assert list(t.translate(f"{CARDS} {SUPPORT}", CHINESE, None)) == [CARDS_ZH, SUPPORT_ZH]
    assert [p[-1]["content"] for p in generator.prompts] == [CARDS, SUPPORT]
    assert "Chinese" in generator.prompts[0][0]["content"] and t.failed == 0


@pytest.mark.parametrize(
    "translated",
    [
        "请发邮件至support@shop.example或拨打1-800-555-0143，工作日均可。",  # a digit changed
        "请发邮件至订单@shop.example或拨打1-800-555-0142，工作日均可。",  # the address broken
        "请拨打1-800-555-0142，工作日均可。",  # the address dropped
        "Email support@shop.example or call 1-800-555-0142 on weekdays.",  # not translated
        "",
    ],
)
def test_an_unfaithful_translation_is_replaced_by_its_checked_sentence(translated: str) -> None:
    generator = ScriptedGenerator([translated])
    t = translator(generator, PairEmbedder({SUPPORT: translated}))
    assert list(t.translate(SUPPORT, CHINESE, None)) == [SUPPORT]
    assert t.failed == 1


def test_a_translation_far_in_meaning_from_its_sentence_is_not_shown() -> None:
    # Numbers and contacts agree, but the sentence says something else.
    generator = ScriptedGenerator(["礼品卡只能在门店使用。"])
    t = translator(generator, PairEmbedder({}))
    assert list(t.translate(CARDS, CHINESE, None)) == [CARDS]


def test_a_translated_yes_or_no_must_be_the_sentences_own() -> None:
    source = f"No. {CARDS}"
    flipped = f"是的。{CARDS_ZH}"
    t = translator(ScriptedGenerator([flipped]), PairEmbedder({CARDS: CARDS_ZH}))
    assert list(t.translate(source, CHINESE, None)) == [source]
    kept = f"不会。{CARDS_ZH}"
    t = translator(ScriptedGenerator([kept]), PairEmbedder({CARDS: CARDS_ZH}))
    assert list(t.translate(source, CHINESE, None)) == [kept]


def test_a_draft_to_be_translated_must_be_in_its_passages_language() -> None:
    embedder = HashEmbedder()
    check = AnswerCheck([CARDS], embedder, 0.5, PassageVectors(embedder), one_language=True)
    assert check.sentence("Gift cards 永不过期 and have no fees.").reason == WRONG_LANGUAGE
    assert check.sentence(CARDS).supported


def test_an_english_answer_to_a_chinese_question_is_asked_for_in_english() -> None:
    hit = SearchHit("cards", 1, "Gift cards", CARDS, 0.9, "question", "Do gift cards expire?")
    prompt = build_prompt("礼品卡会过期吗？", [hit], ENGLISH)
    assert prompt[-1]["content"].endswith("Answer in English.")
    assert not build_prompt("Do gift cards expire?", [hit], ENGLISH)[-1]["content"].endswith(
        "English."
    )
