"""Chinese customers, English or Chinese knowledge base: the packaged models end to end.

The default models answer: the English embedder joined with the multilingual one
(`build_embedder`) and Qwen2.5-Coder-0.5B through llama.cpp, as `chatbot serve` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.container import Services, build, build_embedder, load_sample_if_empty
from chatbot.generation.factory import build_generator
from chatbot.generation.llamacpp_backend import LlamaCppGenerator
from chatbot.settings import Settings
from knowledge_base.language import CHINESE, ENGLISH, detect
from knowledge_base.multilingual import LanguageRoutedEmbedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def generator(models_dir: Path) -> LlamaCppGenerator:
    settings = Settings(data_dir=models_dir)
    built = build_generator(settings)
    assert isinstance(built, LlamaCppGenerator)
    built.warm_up()
    return built


@pytest.fixture(scope="module")
def embedder() -> LanguageRoutedEmbedder:
    built = build_embedder(Settings())
    assert isinstance(built, LanguageRoutedEmbedder)
    built.warm_up()
    return built


def _shop(
    tmp_path_factory: pytest.TempPathFactory,
    sample: str,
    embedder: LanguageRoutedEmbedder,
    generator: LlamaCppGenerator,
) -> Iterator[Services]:
    settings = Settings(data_dir=tmp_path_factory.mktemp(f"shop-{sample}"), sample_kb=sample)
    services = build(settings, embedder=embedder, generator=generator)
    assert all(r.status == "added" for r in load_sample_if_empty(services))
    yield services
    services.engine.dispose()


@pytest.fixture(scope="module")
def english_shop(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: LanguageRoutedEmbedder,
    generator: LlamaCppGenerator,
) -> Iterator[Services]:
    yield from _shop(tmp_path_factory, "en", embedder, generator)


@pytest.fixture(scope="module")
def chinese_shop(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: LanguageRoutedEmbedder,
    generator: LlamaCppGenerator,
) -> Iterator[Services]:
    yield from _shop(tmp_path_factory, "zh", embedder, generator)


def _share_cjk(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if "\u4e00" <= c <= "\u9fff") / max(1, len(letters))


def test_a_chinese_question_about_an_english_faq_is_answered_in_chinese(
    english_shop: Services,
) -> None:
    reply = english_shop.dialogue.respond("国际运费是多少？")
    text = "".join(reply)
    assert reply.decision == "answer" and reply.language == CHINESE
    assert reply.sources[0].entry_id == "shipping-international"
    # Written by the model in Chinese, from the English passage, and checked.
    assert reply.answer_mode == "generated" and reply.grounded
    assert _share_cjk(text) > 0.5 and "24.95" in text
    transcript = english_shop.conversations.transcript(reply.conversation_id)
    assert transcript is not None and transcript.messages[0].language == CHINESE


def test_an_approved_english_answer_is_not_shown_to_a_chinese_customer(
    english_shop: Services,
) -> None:
    # Nearly an entry's own phrasing, translated: the stored English answer would be
    # approved for an English customer; a Chinese one gets it in Chinese, or the passage.
    reply = english_shop.dialogue.respond("可以用PayPal付款吗？")
    text = "".join(reply)
    assert reply.decision == "answer"
    assert reply.sources[0].entry_id == "payments-methods"
    assert reply.answer_mode != "approved"
    assert "PayPal" in text


def test_a_chinese_off_topic_question_is_declined_in_chinese(english_shop: Services) -> None:
    reply = english_shop.dialogue.respond("埃菲尔铁塔有多高？")
    text = "".join(reply)
    assert reply.decision == "fallback" and reply.sources == []
    assert detect(text) == CHINESE and "转人工" in text


def test_a_chinese_faq_answers_chinese_questions_in_chinese(chinese_shop: Services) -> None:
    dialogue = chinese_shop.dialogue
    reply = dialogue.respond("退货以后多久能收到退款？")
    text = "".join(reply)
    assert reply.decision == "answer"
    assert reply.sources[0].entry_id == "zh-returns-refund-time"
    assert _share_cjk(text) > 0.5 and "5" in text
    declined = dialogue.respond("今天晚上吃什么好？")
    assert "".join(declined) and declined.decision == "fallback"


def test_every_language_has_its_own_calibrated_threshold(english_shop: Services) -> None:
    found = english_shop.dialogue.thresholds.all()
    assert set(found) == {ENGLISH, CHINESE, "*"}
    assert all(0 < c.threshold < 1 and c.off_topic >= 200 for c in found.values())
