"""Replies in the customer's language: every fixed text of a turn follows the language of the
customer's message (a message with no telling words keeps the conversation's), and the chat
page's own texts follow the page's language. Real SQLite, the hash embedder, scripted
generators."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chatbot.container import Services
from chatbot.core.i18n import gettext_for
from chatbot.dialogue.handoff import HANDOFF_TEXT, contact_saved_text, handoff_text
from chatbot.dialogue.manager import (
    ERROR_TEXT,
    FALLBACK_TEXT,
    NOT_SENT_TEXT,
    PROMPT_FOR_QUESTION,
    MessageNotSent,
    Reply,
    Source,
    too_long_text,
)
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.ui.chat import (
    DISLIKE_REASONS,
    chat_turn,
    feedback_options,
    feedback_rating,
    format_sources,
    load_conversation,
    staff_prefix,
)
from chatbot.ui.chat_page import on_load

FAQ = b"""id,question,answer,category
returns,How do I return an item?,Start a return from the Order History page.,Returns
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping
"""
ZH = gettext_for("zh")
ZH_DECLINE = ZH(FALLBACK_TEXT)
OUT_OF_SCOPE_ZH = "你们卖天文望远镜吗？"
ANOTHER_OUT_OF_SCOPE_ZH = "可以用比特币付款吗？"
EMAIL = "jane.doe@example.com"


@pytest.fixture
def kb_services(services: Services) -> Services:
    assert services.kb.ingest_bytes("faq.csv", FAQ).ok
    return services


def run(reply: Reply) -> list[str]:
    pieces = list(reply)
    assert reply.stored
    return pieces


def stored_bot_texts(services: Services, reply: Reply) -> list[str]:
    assert reply.conversation_id is not None
    view = services.conversations.transcript(reply.conversation_id)
    assert view is not None
    return [m.content for m in view.messages if m.role == "assistant"]


def test_a_declined_chinese_question_gets_the_chinese_decline(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    reply = kb_services.dialogue.respond(OUT_OF_SCOPE_ZH)
    assert (reply.decision, reply.language) == ("fallback", "zh")
    assert ZH_DECLINE != FALLBACK_TEXT and "转人工" in ZH_DECLINE
    assert run(reply) == [ZH_DECLINE]
    assert stored_bot_texts(kb_services, reply) == [ZH_DECLINE]
    assert generator.prompts == []


def test_chinese_handoffs_and_the_contact_confirmation_are_chinese(
    kb_services: Services,
) -> None:
    dialogue = kb_services.dialogue
    first = dialogue.respond(OUT_OF_SCOPE_ZH)
    run(first)
    second = dialogue.respond(ANOTHER_OUT_OF_SCOPE_ZH, first.conversation_id)
    assert (second.decision, second.reason) == ("handoff", "repeated_declines")
    assert run(second) == [handoff_text("repeated_declines", "zh")]

    asked = dialogue.respond("转人工")  # what the Chinese decline tells the customer to say
    assert (asked.decision, asked.reason, asked.language) == ("handoff", "requested", "zh")
    assert run(asked) == [handoff_text("requested", "zh")]
    assert asked.text != HANDOFF_TEXT["requested"]

    contact = dialogue.respond(f"我的邮箱是 {EMAIL}", asked.conversation_id)
    assert (contact.reason, contact.language) == ("contact", "zh")
    assert run(contact) == [contact_saved_text(EMAIL, "zh")]
    assert EMAIL in contact.text and "联系" in contact.text


def test_a_chinese_over_long_message_is_refused_in_chinese(kb_services: Services) -> None:
    limit = kb_services.dialogue.max_message_chars
    text = "请问退货需要多长时间？" * 300
    reply = kb_services.dialogue.respond(text)
    assert reply.language == "zh" and reply.reason == "too_long"
    assert list(reply) == [too_long_text(len(text), limit, "zh")]
    assert f"{len(text):,}" in reply.text and "字符" in reply.text


def test_a_generator_failure_is_told_in_the_customers_language(kb_services: Services) -> None:
    kb_services.dialogue.generator = ScriptedGenerator(fail_after=0)
    kb_services.dialogue.approved_answers = False
    # Mixed Chinese and English ("退货" with the FAQ's words): answered, then the model fails.
    reply = kb_services.dialogue.respond("退货 How do I return an item?")
    assert (reply.decision, reply.language) == ("answer", "zh")
    assert run(reply) == [ZH(ERROR_TEXT)]


def test_an_english_conversation_stays_english_on_ok(kb_services: Services) -> None:
    first = kb_services.dialogue.respond("How do I return an item?")
    run(first)
    assert first.language == "en"
    ok = kb_services.dialogue.respond("ok", first.conversation_id)
    assert ok.language == "en"
    run(ok)
    assert "请" not in ok.text


def test_a_chinese_conversation_stays_chinese_on_a_number(kb_services: Services) -> None:
    first = kb_services.dialogue.respond(OUT_OF_SCOPE_ZH)
    run(first)
    number = kb_services.dialogue.respond("12345", first.conversation_id)
    assert (number.reason, number.language) == ("repeated_declines", "zh")
    assert run(number) == [handoff_text("repeated_declines", "zh")]


def test_a_new_conversation_with_no_telling_words_is_english(kb_services: Services) -> None:
    reply = kb_services.dialogue.respond("12345")
    assert reply.language == "en"
    assert run(reply) == [FALLBACK_TEXT]


def test_the_threshold_is_asked_for_the_messages_language(
    kb_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    threshold = kb_services.dialogue.threshold

    def recording(language: str = "en") -> float:
        asked.append(language)
        return threshold(language)

    monkeypatch.setattr(kb_services.dialogue, "threshold", recording)
    run(kb_services.dialogue.respond(OUT_OF_SCOPE_ZH))
    run(kb_services.dialogue.respond("How long does shipping take?"))
    assert asked == ["zh", "en"]


# ---- the chat page ----------------------------------------------------------------------
def final_text(steps: list[Any]) -> str:
    chat = steps[-1][0]
    return str(chat[-1]["content"])


def test_the_reply_follows_the_message_not_the_page(kb_services: Services) -> None:
    on_english_page = list(chat_turn(kb_services, OUT_OF_SCOPE_ZH, [], None, [], "en"))
    assert final_text(on_english_page) == ZH_DECLINE
    on_chinese_page = list(chat_turn(kb_services, "zebra quantum violin", [], None, [], "zh"))
    assert final_text(on_chinese_page).startswith("I'm sorry, I don't know that")


@pytest.mark.parametrize(("page", "prompt"), [("zh", ZH(PROMPT_FOR_QUESTION)), ("en", None)])
def test_an_empty_message_is_prompted_in_the_pages_language(
    services: Services, page: str, prompt: str | None
) -> None:
    steps = list(chat_turn(services, "  ", [], None, [], page))
    assert final_text(steps) == (prompt or PROMPT_FOR_QUESTION)
    assert services.conversations.recent() == []


def test_a_message_not_sent_is_told_in_its_language(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Reply:
        raise MessageNotSent("store the customer's message", "locked")

    monkeypatch.setattr(services.dialogue, "respond", refuse)
    steps = list(chat_turn(services, OUT_OF_SCOPE_ZH, [], None, [], "en"))
    assert final_text(steps) == ZH(NOT_SENT_TEXT)
    assert steps[-1][3] == OUT_OF_SCOPE_ZH  # back in the box, to send again
    steps = list(chat_turn(services, "12345", [], None, [], "zh"))  # no words: the page's
    assert final_text(steps) == ZH(NOT_SENT_TEXT)


def test_the_page_language_comes_from_the_browser(services: Services) -> None:
    request = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    language, update = on_load(services, request)  # type: ignore[arg-type]
    assert language == "zh"
    assert update["feedback_options"] == feedback_options("zh")
    assert feedback_options("zh")[:2] == ("Like", "Dislike")  # the thumbs, drawn as icons
    assert "答案有误" in feedback_options("zh")
    assert on_load(services, None)[0] == "en"


def test_a_reason_chosen_in_chinese_is_stored_in_english() -> None:
    for reason in DISLIKE_REASONS:
        assert feedback_rating(ZH(reason)) == (-1, reason)
        assert feedback_rating(reason) == (-1, reason)


def test_sources_and_staff_replies_are_headed_in_the_given_language(
    kb_services: Services,
) -> None:
    source = Source("returns", "Returns", "Start a return.", 0.81, None, "policies.pdf", 3)
    block = format_sources([source], "zh")
    assert block.splitlines()[1:] == ["**参考来源**", "", "1. Returns · 第 3 页"]
    assert format_sources([source]).splitlines()[1:] == ["**Sources**", "", "1. Returns · page 3"]

    reply = kb_services.dialogue.respond("转人工")
    run(reply)
    assert reply.conversation_id is not None
    kb_services.conversations.reply_as_staff(reply.conversation_id, "ann", "您好，我是小安。")
    history, _ = load_conversation(kb_services, reply.conversation_id, "zh")
    assert history[-1]["content"] == f"{staff_prefix('zh')}\n\n您好，我是小安。"
    assert "客服团队" in staff_prefix("zh")
