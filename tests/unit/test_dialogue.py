"""DialogueManager end to end on real SQLite with the hash embedder and scripted generators."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.container import Services
from chatbot.conversations import TranscriptView
from chatbot.dialogue import (
    ERROR_TEXT,
    FALLBACK_TEXT,
    PROMPT_FOR_QUESTION,
    SNIPPET_CHARS,
    EmptyMessageError,
    Reply,
    Source,
)
from chatbot.generation.base import ChatMessage
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.handoff import HANDOFF_TEXT
from chatbot.prompts import SYSTEM_PROMPT
from chatbot.storage.models import Conversation, Message, MessageSource
from knowledge_base.records import SearchHit

LONG_ANSWER = "Our warranty covers defects in materials and workmanship. " * 8

FAQ = f"""id,question,answer,category,url
returns,How do I return an item?,Start a return from the Order History page.,Returns,https://x.example/returns
returns,Can I send something back?,Start a return from the Order History page.,Returns,https://x.example/returns
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping,
warranty,What does the warranty cover?,{LONG_ANSWER.strip()},Warranty,
""".encode()

OUT_OF_SCOPE = "zebra quantum xylophone"
ANOTHER_OUT_OF_SCOPE = "purple elephants juggling"


@pytest.fixture
def kb_services(services: Services) -> Services:
    result = services.kb.ingest_bytes("faq.csv", FAQ)
    assert result.ok, result.message
    # These tests look at the generation path; the approved-answer path has its own tests.
    services.dialogue.approved_answers = False
    return services


def run(reply: Reply) -> list[str]:
    """Consume the stream, as the UI does; the reply is stored when it ends."""
    pieces = list(reply)
    assert reply.stored
    return pieces


def transcript(services: Services, reply: Reply) -> TranscriptView:
    view = services.conversations.transcript(reply.conversation_id)
    assert view is not None
    return view


def counts(services: Services) -> tuple[int, int, int]:
    with services.sessions() as s:
        return (
            s.scalar(select(func.count(Conversation.id))) or 0,
            s.scalar(select(func.count(Message.id))) or 0,
            s.scalar(select(func.count(MessageSource.id))) or 0,
        )


def reference_block(prompt: list[ChatMessage]) -> str:
    match = re.search(r"<reference>\n(.*)\n</reference>", prompt[-1]["content"], re.S)
    assert match, prompt
    return match.group(1)


class CommitCheckingGenerator:
    """While streaming, looks in the database through a new session for the customer's message."""

    name = "commit-checking"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.seen: list[tuple[str, str]] = []

    def stream(self, messages: list[ChatMessage], max_new_tokens: int) -> Iterator[str]:
        yield "Start"
        with self.sessions() as s:
            self.seen = [(m.role, m.content) for m in s.scalars(select(Message))]
        yield " a return."


def test_the_customer_message_is_committed_before_generation(kb_services: Services) -> None:
    checker = CommitCheckingGenerator(kb_services.sessions)
    kb_services.dialogue.generator = checker
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert reply.decision == "answer"
    assert checker.seen == []  # nothing has been generated yet: the generator is lazy
    assert counts(kb_services)[:2] == (1, 1)  # ...but the message is already stored
    assert run(reply) == ["Start", " a return."]
    assert checker.seen == [("user", "How do I return an item?")]
    assert reply.text == "Start a return."


def test_an_answer_is_stored_with_decision_timings_and_scored_sources(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    generator.replies = ["You can start a return from the Order History page."]
    reply = kb_services.dialogue.respond("  How do I return an item?  ", channel="api")
    assert (reply.decision, reply.reason) == ("answer", "matched")
    pieces = run(reply)
    assert len(pieces) > 1  # streamed piece by piece
    assert "".join(pieces).strip() == reply.text
    assert reply.text == "You can start a return from the Order History page."
    assert (reply.answer_mode, reply.grounded, reply.replaced) == ("generated", True, False)

    view = transcript(kb_services, reply)
    assert (view.channel, view.title, view.needs_human) == (
        "api",
        "How do I return an item?",
        False,
    )
    user, bot = view.messages
    assert (user.role, user.content, user.decision) == ("user", "How do I return an item?", None)
    assert (bot.role, bot.content, bot.status) == ("assistant", reply.text, "complete")
    assert (bot.decision, bot.reason) == ("answer", "matched")
    assert bot.latency_ms is not None and bot.latency_ms > 0
    assert bot.first_token_ms is not None and 0 < bot.first_token_ms <= bot.latency_ms

    # The reply shows the entry the answer was built from; every retrieved entry is stored,
    # in rank order with its score, for review.
    assert [s.entry_id for s in reply.sources] == ["returns"]
    # An exact phrasing match: the entry's dense score mixes it (1.0) with the answer passage.
    assert 0.5 < reply.sources[0].score < 1.0
    assert [s.rank for s in bot.sources] == list(range(1, len(bot.sources) + 1))
    assert {s.entry_id for s in bot.sources} == {"returns", "shipping", "warranty"}
    assert bot.sources[0].entry_id == "returns"
    assert bot.sources[0].score == pytest.approx(reply.sources[0].score)
    assert bot.sources[0].url == "https://x.example/returns"
    assert bot.sources[0].snippet == "Start a return from the Order History page."
    scores = [s.score for s in bot.sources]
    assert scores == sorted(scores, reverse=True)
    assert scores[1] < kb_services.settings.retrieval.min_score


def test_the_prompt_holds_the_retrieved_answer_in_reference_tags_and_the_question(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    run(kb_services.dialogue.respond("How long does shipping take?"))
    [prompt] = generator.prompts
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert prompt[0]["content"] == SYSTEM_PROMPT
    reference = reference_block(prompt)
    assert "Standard shipping takes 3-5 business days." in reference
    assert "Order History" not in reference  # a weaker match is not shown to the generator
    assert prompt[1]["content"].endswith("Customer question: How long does shipping take?")
    assert prompt[1]["content"].index("</reference>") < prompt[1]["content"].index("Customer")


def test_an_out_of_scope_question_is_declined_without_generating(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    reply = kb_services.dialogue.respond(OUT_OF_SCOPE)
    assert (reply.decision, reply.reason) == ("fallback", "low_score")
    assert reply.sources == []  # nothing is shown as a source of a decline
    assert run(reply) == [FALLBACK_TEXT]
    assert generator.prompts == []
    view = transcript(kb_services, reply)
    bot = view.messages[-1]
    assert (bot.decision, bot.content, bot.status) == ("fallback", FALLBACK_TEXT, "complete")
    assert view.needs_human is False
    # Retrieved entries are still stored with their (low) scores, for review.
    assert bot.sources
    assert all(s.score < kb_services.settings.retrieval.min_score for s in bot.sources)


def test_two_declines_in_a_row_hand_off_to_a_person(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    first = kb_services.dialogue.respond(OUT_OF_SCOPE)
    run(first)
    assert first.decision == "fallback"
    assert transcript(kb_services, first).needs_human is False

    second = kb_services.dialogue.respond(ANOTHER_OUT_OF_SCOPE, first.conversation_id)
    assert second.conversation_id == first.conversation_id
    assert (second.decision, second.reason) == ("handoff", "repeated_declines")
    assert run(second) == [HANDOFF_TEXT["repeated_declines"]]
    view = transcript(kb_services, second)
    assert view.needs_human is True
    assert [m.decision for m in view.messages] == [None, "fallback", None, "handoff"]
    assert generator.prompts == []


def test_an_answer_between_declines_resets_the_count(kb_services: Services) -> None:
    dialogue = kb_services.dialogue
    conv = None
    decisions = []
    for text in (OUT_OF_SCOPE, "How do I return an item?", ANOTHER_OUT_OF_SCOPE):
        reply = dialogue.respond(text, conv)
        run(reply)
        conv = reply.conversation_id
        decisions.append(reply.decision)
    assert decisions == ["fallback", "answer", "fallback"]


def test_asking_for_a_person_hands_off_at_once(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    reply = kb_services.dialogue.respond("I want to talk to a human")
    assert (reply.decision, reply.reason) == ("handoff", "requested")
    assert run(reply) == [HANDOFF_TEXT["requested"]]
    assert transcript(kb_services, reply).needs_human is True
    assert generator.prompts == []


def test_a_generator_failure_mid_stream_is_stored_and_told_to_the_customer(
    kb_services: Services,
) -> None:
    kb_services.dialogue.generator = ScriptedGenerator(fail_after=2)
    reply = kb_services.dialogue.respond("How do I return an item?")
    pieces = run(reply)
    assert pieces[:2] == ["Scripted", " answer"]
    assert pieces[-1] == f"\n\n{ERROR_TEXT}"
    assert reply.text == f"Scripted answer\n\n{ERROR_TEXT}"

    view = transcript(kb_services, reply)
    user, bot = view.messages
    assert (user.role, user.content) == ("user", "How do I return an item?")
    assert (bot.role, bot.status, bot.content) == ("assistant", "error", reply.text)
    with kb_services.sessions() as s:
        error = s.scalar(select(Message.error).where(Message.role == "assistant"))
    assert error == "RuntimeError: scripted generator failure"


def test_a_generator_failure_before_the_first_piece(kb_services: Services) -> None:
    kb_services.dialogue.generator = ScriptedGenerator(fail_after=0)
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert run(reply) == [ERROR_TEXT]
    assert reply.text == ERROR_TEXT
    assert transcript(kb_services, reply).messages[-1].status == "error"


def test_a_retrieval_failure_is_stored_and_told_to_the_customer(
    kb_services: Services, monkeypatch: pytest.MonkeyPatch, generator: ScriptedGenerator
) -> None:
    def broken_search(query: str, k: int = 5) -> list[SearchHit]:
        raise OSError("index unavailable")

    monkeypatch.setattr(kb_services.kb, "search", broken_search)
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert run(reply) == [ERROR_TEXT]
    bot = transcript(kb_services, reply).messages[-1]
    assert (bot.status, bot.content) == ("error", ERROR_TEXT)
    assert counts(kb_services)[:2] == (1, 2)
    assert generator.prompts == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_an_empty_message_is_rejected_and_nothing_is_stored(
    kb_services: Services, text: str
) -> None:
    with pytest.raises(EmptyMessageError) as info:
        kb_services.dialogue.respond(text)
    assert str(info.value) == PROMPT_FOR_QUESTION
    assert counts(kb_services) == (0, 0, 0)


def test_messages_continue_a_conversation_and_unknown_ids_start_a_new_one(
    kb_services: Services,
) -> None:
    first = kb_services.dialogue.respond("How do I return an item?")
    run(first)
    second = kb_services.dialogue.respond("How long does shipping take?", first.conversation_id)
    run(second)
    assert second.conversation_id == first.conversation_id
    roles = [m.role for m in transcript(kb_services, second).messages]
    assert roles == ["user", "assistant", "user", "assistant"]

    other = kb_services.dialogue.respond("Can I send something back?", "no-such-conversation")
    run(other)
    assert other.conversation_id not in (first.conversation_id, "no-such-conversation")
    assert counts(kb_services)[0] == 2


def test_long_answers_are_shortened_to_a_snippet(kb_services: Services) -> None:
    reply = kb_services.dialogue.respond("What does the warranty cover?")
    run(reply)
    source = reply.sources[0]
    assert source.entry_id == "warranty"
    assert len(source.snippet) == SNIPPET_CHARS
    assert source.snippet.endswith("…")
    stored = transcript(kb_services, reply).messages[-1].sources[0]
    assert stored.snippet == source.snippet


def test_source_from_hit_keeps_short_answers_whole() -> None:
    hit = SearchHit("e", 1, "T", "  short\n answer ", 0.7, "question", "t", "u", None, "d.csv")
    assert Source.from_hit(hit) == Source("e", "T", "short answer", 0.7, "u", "d.csv")
