"""Language detection, Chinese words, the language-routed embedder and per-language thresholds.

The multilingual half is the real packaged USE model (numpy only, milliseconds a text); the
English half is the hash test double, so the tests tell which half scored a pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chatbot.answers.grounding import MISPLACED_NUMBER, OFF_PASSAGE, SUPPORTED, AnswerCheck
from chatbot.container import Services, build
from chatbot.dialogue.prompts import build_prompt
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import RetrievalSettings, Settings
from knowledge_base import calibration, language
from knowledge_base.embedders import HashEmbedder
from knowledge_base.multilingual import LanguageRoutedEmbedder, UseEmbedder, similarity_of
from knowledge_base.threshold import OTHER


@pytest.fixture(scope="module")
def routed() -> LanguageRoutedEmbedder:
    return LanguageRoutedEmbedder(HashEmbedder(), UseEmbedder())


# ---- detection ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How long does a refund take?", "en"),
        ("how do i return an item", "en"),  # fastText is unsure (Catalan 0.14): the default
        ("退货要多久？", "zh"),
        ("轉人工", "zh"),  # traditional characters; fastText alone says Japanese
        ("我的order还没到", "zh"),
        ("Wo ist meine Bestellung?", "de"),
        ("注文はまだですか", "ja"),
        ("12345", "en"),
    ],
)
def test_detect_finds_the_language(text: str, expected: str) -> None:
    assert language.detect(text) == expected


def test_one_word_keeps_the_conversation_language_but_a_sentence_does_not() -> None:
    assert language.detect("ok", default="zh") == "zh"
    assert language.detect("thanks", default="zh") == "zh"
    # A whole Latin-script sentence is not Chinese, however unsure the model is.
    assert language.detect("how do i return an item", default="zh") == "en"


def test_chinese_is_segmented_into_words_and_folded_to_simplified() -> None:
    assert language.tokens("退貨政策是什麼？") == ["退货", "政策"]
    assert "退货" in language.tokens("我想退货")
    # Full-width Latin letters fold to ASCII; one-letter tokens and stop words are dropped.
    assert language.tokens("Ｒｅｆｕｎｄ a PayPal order") == ["refund", "paypal", "order"]  # noqa: RUF001


# ---- the routed embedder ------------------------------------------------------------------
def test_english_text_fills_both_halves_other_languages_only_the_multilingual_one(
    routed: LanguageRoutedEmbedder,
) -> None:
    vectors = routed.encode(["How long does a refund take?", "退款需要多长时间？"])
    split = routed.english_dimension
    assert vectors.shape == (2, routed.dimension)
    assert np.any(vectors[0, :split] != 0) and not np.any(vectors[1, :split] != 0)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_similarity_uses_one_model_per_language_pair(routed: LanguageRoutedEmbedder) -> None:
    passages = routed.encode(["How long does a refund take?", "Do gift cards expire?"])
    english, chinese = routed.encode(["how long does a refund take", "退款需要多长时间？"])
    similarity = similarity_of(routed)
    # English with English: the English model (here the hash double) alone.
    hashed = HashEmbedder().encode(["How long does a refund take?", "how long does a refund take"])
    assert similarity(passages, english)[0] == pytest.approx(float(hashed[0] @ hashed[1]), 1e-5)
    # Chinese with English: the multilingual model, which finds the translation.
    cross = similarity(passages, chinese)
    assert cross[0] > cross[1] and cross[0] > 0.5


# ---- retrieval and thresholds per language -------------------------------------------------
FAQ = """id,question,answer
refund,How long does a refund take?,Refunds reach your card within 5 business days.
refund,When will I get my money back?,Refunds reach your card within 5 business days.
refund,How many days until my refund arrives?,Refunds reach your card within 5 business days.
giftcard,Do gift cards expire?,Gift cards never expire.
giftcard,Is there an expiry date on gift cards?,Gift cards never expire.
giftcard,Will my gift card stop working?,Gift cards never expire.
shipping,How much is shipping?,Standard shipping costs $6.95.
shipping,What does delivery cost?,Standard shipping costs $6.95.
shipping,Is shipping free?,Standard shipping costs $6.95.
"""


@pytest.fixture
def shop(
    tmp_path: Path, _database_url: str | None, routed: LanguageRoutedEmbedder
) -> Iterator[Services]:
    settings = Settings(data_dir=tmp_path / "data", database_url=_database_url)
    settings.load_sample_kb = False
    services = build(settings, embedder=routed, generator=ScriptedGenerator())
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    services.kb.ingest_paths([faq])
    yield services
    services.engine.dispose()


def test_a_chinese_question_finds_the_english_entry(shop: Services) -> None:
    hits = shop.kb.search("礼品卡会过期吗？", k=3)
    assert hits[0].entry_id == "giftcard"
    assert shop.kb.search("运费多少钱？", k=3)[0].entry_id == "shipping"


def test_each_language_gets_a_threshold_from_its_own_off_topic_questions(shop: Services) -> None:
    thresholds = shop.dialogue.thresholds
    found = thresholds.all()
    assert set(found) == {"en", "zh", OTHER}
    assert found["zh"].off_topic == len(calibration.background_questions("zh"))
    assert found[OTHER].off_topic == sum(
        len(calibration.background_questions(lang)) for lang in calibration.background_languages()
    )
    assert thresholds.key("zh") == "zh" and thresholds.key("de") == OTHER
    assert shop.dialogue.threshold("zh") == found["zh"].threshold
    # Stored: another process reads the same thresholds without calibrating again.
    thresholds._cached = None
    assert thresholds.all() == found


def test_labelled_queries_set_the_threshold_of_their_own_language_only(shop: Services) -> None:
    thresholds = shop.dialogue.thresholds
    before = thresholds.all()
    rows = [("礼品卡会过期吗？", "giftcard"), ("退款要多久？", "refund")] * 10
    rows += [("今天晚上吃什么？", "")] * 5
    after = thresholds.calibrate_labelled(rows)
    assert after["zh"].method == calibration.LABELLED
    assert after["en"] == before["en"] and after[OTHER] == before[OTHER]
    thresholds.reset()
    assert thresholds.all()["zh"].method != calibration.LABELLED


def test_an_english_only_embedder_has_one_threshold(
    tmp_path: Path, _database_url: str | None
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=_database_url,
        load_sample_kb=False,
        retrieval=RetrievalSettings(),
    )
    services = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    services.kb.ingest_paths([faq])
    assert set(services.dialogue.thresholds.all()) == {"en"}
    assert services.dialogue.threshold("zh") == services.dialogue.threshold("en")
    services.engine.dispose()


# ---- answers in another language than the passages -----------------------------------------
PASSAGES = [
    "Refunds reach your card within 5 business days. Express shipping costs $14.95.",
]


def test_a_faithful_chinese_answer_to_an_english_passage_passes(
    routed: LanguageRoutedEmbedder,
) -> None:
    check = AnswerCheck(PASSAGES, routed, question="退款要多久？")
    assert check.sentence("退款会在5个工作日内退回您的银行卡。").reason == SUPPORTED


def test_a_chinese_answer_takes_a_number_from_the_sentence_it_translates(
    routed: LanguageRoutedEmbedder,
) -> None:
    check = AnswerCheck(PASSAGES, routed, question="退款要多久？")
    # 14.95 is in the passage, but in the sentence about express shipping.
    result = check.sentence("退款会在14.95个工作日内到达您的卡。")
    assert result.reason == MISPLACED_NUMBER and result.unsupported_numbers == ["14.95"]
    assert check.sentence("我们的门店周日营业到晚上九点，欢迎光临。").reason in {
        OFF_PASSAGE,
        "unsupported_number",
    }


def test_the_prompt_asks_for_the_customer_language_when_it_is_not_english() -> None:
    assert "Answer in Chinese." in build_prompt("退款要多久？", [], "zh")[-1]["content"]
    assert "Answer in" not in build_prompt("How long?", [], "en")[-1]["content"]
