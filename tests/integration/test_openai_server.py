"""The openai generator backend against a real inference server: llama.cpp's own
OpenAI-compatible HTTP server (started by the xllamacpp package in a process of its own, on
127.0.0.1, with the smallest packaged model, SmolLM2-135M). A customer turn goes through it;
then the server is too slow for the turn, and then it is down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import select

from chatbot.container import Services
from chatbot.dialogue.manager import ERROR_TEXT, Reply
from chatbot.dialogue.prompts import build_prompt
from chatbot.generation.base import ChatMessage
from chatbot.generation.openai_backend import OpenAIGenerator
from chatbot.storage.models import Message
from tests.contracts.conftest import LlamaServer

pytestmark = pytest.mark.integration

FAQ = b"""id,question,answer,category,url
returns,How do I return an item?,Start a return from the Order History page within 30 days.,Returns,
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping,
"""
QUESTION = "How do I return an item?"


class Recording(OpenAIGenerator):
    """Keeps what the server streamed, to tell its answer from the dialogue's fallbacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streamed: list[str] = []

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        for piece in super().stream(messages, max_new_tokens, deadline=deadline):
            self.streamed.append(piece)
            yield piece


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    started = LlamaServer(n_ctx=2048)
    yield started
    started.stop()


@pytest.fixture
def shop(services: Services) -> Services:
    result = services.kb.ingest_bytes("faq.csv", FAQ)
    assert result.ok, result.message
    services.dialogue.approved_answers = False  # the model writes every answer
    return services


def generator_for(server: LlamaServer) -> Recording:
    return Recording(server.url, api_key=server.api_key, context_tokens=2048)


def stored_reply(services: Services, reply: Reply) -> tuple[str, str, str, str | None]:
    assert reply.conversation_id is not None
    view = services.conversations.transcript(reply.conversation_id)
    assert view is not None
    user, bot = view.messages
    assert (user.role, user.content) == ("user", QUESTION)  # the customer's message is kept
    with services.sessions() as s:
        error = s.scalar(select(Message.error).where(Message.role == "assistant"))
    return bot.role, bot.status, bot.content, error


def test_a_customer_turn_is_answered_through_the_server(
    shop: Services, server: LlamaServer
) -> None:
    generator = generator_for(server)
    shop.dialogue.generator = generator
    shop.dialogue.warm_up()
    assert generator.name == f"smollm2 at {server.url}"  # the model the server lists
    generator.streamed.clear()

    reply = shop.dialogue.respond(QUESTION)
    shown = "".join(reply)
    assert shown.strip() and generator.streamed  # the server's stream reached the turn
    assert reply.answer_mode in {"generated", "passage"}  # (passage: the check withheld it)
    assert stored_reply(shop, reply) == ("assistant", "complete", reply.text, None)


def test_the_token_estimate_never_counts_a_prompt_short(server: LlamaServer) -> None:
    """Counted short, a prompt would overflow the server's context; the server's own count
    (`usage.prompt_tokens`) is the truth."""
    generator = generator_for(server)
    client = OpenAI(base_url=server.url, api_key=server.api_key)
    # As the dialogue sends them: its system rules, then a passage and a question.
    passage = ["退货请在30天内从订单历史页面发起。", "Der Versand nach Österreich dauert 3-5 Tage."]
    prompts: list[list[ChatMessage]] = [
        build_prompt(QUESTION, []),
        build_prompt("退货需要多久？", [], "zh"),
        build_prompt("Wie lange dauert der Versand?", [], "de"),
        [{"role": "user", "content": f"{passage[0]}\n\n退货需要多久？请用中文回答。"}],
        [{"role": "user", "content": f"{passage[1]}\n\nWie lange dauert der Versand?"}],
    ]
    ratios = []
    for prompt in prompts:
        done = client.chat.completions.create(
            model=server.model,
            messages=cast("list[ChatCompletionMessageParam]", prompt),
            max_tokens=1,
        )
        assert done.usage is not None
        exact = done.usage.prompt_tokens
        estimate = generator.count_tokens(prompt)
        assert exact <= estimate, (prompt, exact, estimate)
        ratios.append(estimate / exact)
    # Not so high that the dialogue's English prompt is cut for nothing (about 1.45 here).
    assert ratios[0] < 1.6, ratios


def test_a_turn_the_server_is_too_slow_for_ends_at_its_deadline(
    shop: Services, server: LlamaServer
) -> None:
    generator = generator_for(server)
    shop.dialogue.generator = generator
    # Far less than the server takes for a whole answer (160 tokens).
    shop.dialogue.turn_timeout_s = 0.3
    reply = shop.dialogue.respond(QUESTION)
    assert "".join(reply).strip()
    assert reply.draft_rejection == "timeout"
    _, status, content, _ = stored_reply(shop, reply)
    assert (status, content) == ("timeout", reply.text)
    # The server stopped that answer and serves the next one.
    assert "".join(generator.stream(build_prompt(QUESTION, []), 8)).strip()


def test_a_server_that_went_down_gets_the_polite_reply_and_a_clear_log(
    shop: Services, caplog: pytest.LogCaptureFixture
) -> None:
    own = LlamaServer(n_ctx=1024)  # its own: stopping the shared one would end the others
    generator = generator_for(own)
    shop.dialogue.generator = generator
    generator.warm_up()
    own.stop()

    caplog.set_level(logging.WARNING)
    reply = shop.dialogue.respond(QUESTION)
    assert list(reply) == [ERROR_TEXT]
    role, status, content, error = stored_reply(shop, reply)
    assert (role, status, content) == ("assistant", "error", ERROR_TEXT)
    assert error is not None and error.startswith(
        f"InferenceServerError: cannot reach the inference server at {own.url} ("
    )
    # One line for staff, without a traceback: an outage is expected, not a bug.
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (
        logged.getMessage() == f"generation failed: {error.removeprefix('InferenceServerError: ')}"
    )
    assert logged.exc_info is None

    # A restart of this app while the server is still down: a warning, not a crash.
    caplog.clear()
    generator_for(own).warm_up()
    assert "cannot reach the inference server" in caplog.text
