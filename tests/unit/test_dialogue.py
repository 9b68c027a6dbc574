"""DialogueManager end to end on real SQLite with the hash embedder and scripted generators."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.container import Services, build
from chatbot.dialogue.handoff import HANDOFF_TEXT
from chatbot.dialogue.manager import (
    ERROR_TEXT,
    FALLBACK_TEXT,
    PROMPT_FOR_QUESTION,
    SNIPPET_CHARS,
    EmptyMessageError,
    Reply,
    Source,
    too_long_text,
)
from chatbot.dialogue.prompts import EXAMPLES, SYSTEM_PROMPT, build_prompt
from chatbot.generation.base import ChatMessage, GenerationTimeout
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from chatbot.staff.conversations import TranscriptView
from chatbot.storage.models import Conversation, Message, MessageSource
from knowledge_base.embedders import HashEmbedder
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


class CommitCheckingGenerator(ScriptedGenerator):
    """While streaming, looks in the database through a new session for the customer's message."""

    name = "commit-checking"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self.seen: list[tuple[str, str]] = []

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
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
    assert run(reply) == ["Start a return."]  # shown once the sentence passed the check
    assert checker.seen == [("user", "How do I return an item?")]
    assert reply.text == "Start a return."


def test_an_answer_is_stored_with_decision_timings_and_scored_sources(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    generator.replies = ["You can start a return from the Order History page."]
    reply = kb_services.dialogue.respond("  How do I return an item?  ", channel="api")
    assert (reply.decision, reply.reason) == ("answer", "matched")
    pieces = run(reply)
    assert "".join(pieces).strip() == reply.text
    assert reply.text == "You can start a return from the Order History page."
    assert (reply.answer_mode, reply.grounded, reply.draft) == ("generated", True, None)

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
    assert [m["role"] for m in prompt] == ["system", *["user", "assistant"] * len(EXAMPLES), "user"]
    assert prompt[0]["content"] == SYSTEM_PROMPT
    reference = reference_block(prompt)
    assert "Standard shipping takes 3-5 business days." in reference
    assert "Order History" not in reference  # a weaker match is not shown to the generator
    assert prompt[-1]["content"].endswith("Customer question: How long does shipping take?")
    assert prompt[-1]["content"].index("</reference>") < prompt[-1]["content"].index("Customer")


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
    kb_services.dialogue.generator = ScriptedGenerator(
        ["Start a return from the Order History page. Then the model fails"], fail_after=10
    )
    reply = kb_services.dialogue.respond("How do I return an item?")
    pieces = run(reply)
    assert pieces == ["Start a return from the Order History page. ", f"\n\n{ERROR_TEXT}"]
    assert reply.text == f"Start a return from the Order History page.\n\n{ERROR_TEXT}"

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


# ---- bounded turns: message size, prompt size, time, abandonment -------------------------
def stored_messages(services: Services) -> list[tuple[str, str, str]]:
    with services.sessions() as s:
        return [
            (m.role, m.status, m.content) for m in s.scalars(select(Message).order_by(Message.id))
        ]


def test_an_over_long_message_is_refused_clearly_and_nothing_is_stored(
    kb_services: Services, generator: ScriptedGenerator
) -> None:
    limit = kb_services.dialogue.max_message_chars
    assert limit == 2000  # the default
    reply = kb_services.dialogue.respond("How do I return an item? " + "x" * 100_000)
    assert run_unstored(reply) == [reply.text]
    assert reply.text == too_long_text(100_025, 2000)
    assert "100,025 characters" in reply.text and "at most 2,000" in reply.text
    assert "shorter message" in reply.text
    assert (reply.decision, reply.reason, reply.sources) == ("fallback", "too_long", [])
    assert reply.conversation_id is None and reply.message_id is None
    assert counts(kb_services) == (0, 0, 0)
    assert generator.prompts == []


def test_an_over_long_message_in_a_conversation_adds_nothing_to_it(
    kb_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kb_services.dialogue.respond("How do I return an item?")
    run(first)
    searched: list[str] = []
    search = kb_services.kb.search
    monkeypatch.setattr(kb_services.kb, "search", lambda q, k=5: searched.append(q) or search(q, k))
    reply = kb_services.dialogue.respond("y" * 2001, first.conversation_id)
    assert run_unstored(reply) == [too_long_text(2001, 2000)]
    assert reply.conversation_id == first.conversation_id
    assert searched == []  # not even retrieved
    assert len(transcript(kb_services, first).messages) == 2

    at_limit = kb_services.dialogue.respond("How do I return an item?".ljust(2000, "?"))
    run(at_limit)
    assert at_limit.decision == "answer"


def test_the_message_limit_is_a_setting(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_CHAT__MAX_MESSAGE_CHARS", "10")
    monkeypatch.setenv("CHATBOT_CHAT__TURN_TIMEOUT_SECONDS", "2.5")
    settings = Settings()
    assert (settings.chat.max_message_chars, settings.chat.turn_timeout_seconds) == (10, 2.5)
    built = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    try:
        assert (built.dialogue.max_message_chars, built.dialogue.turn_timeout_s) == (10, 2.5)
        reply = built.dialogue.respond("eleven char")
        assert run_unstored(reply) == [too_long_text(11, 10)]
    finally:
        built.engine.dispose()


def run_unstored(reply: Reply) -> list[str]:
    pieces = list(reply)
    assert not reply.stored
    return pieces


def test_the_prompt_is_cut_to_what_the_model_reads(kb_services: Services) -> None:
    # A model whose context leaves room for the rules, the question and 30 words ("tokens"
    # here) of passage, after a 20-token answer: the 64-word warranty passage is cut.
    question = "What does the warranty cover?"
    small = ScriptedGenerator()
    small.context = small.count_tokens(build_prompt(question, [])) + 30 + 20
    kb_services.dialogue.generator = small
    kb_services.dialogue.max_new_tokens = 20
    run(kb_services.dialogue.respond(question))
    [prompt] = small.prompts
    assert small.count_tokens(prompt) <= small.context - 20
    reference = reference_block(prompt)
    assert LONG_ANSWER.startswith(reference) and len(reference) < len(LONG_ANSWER.strip())
    assert prompt[-1]["content"].endswith("Customer question: What does the warranty cover?")


class OutOfTimeGenerator(ScriptedGenerator):
    """A model that runs out of the turn's time after `in_time` words of its reply: it writes
    those, then waits until the turn's deadline has really passed and stops as the backends
    do, with GenerationTimeout. Where it stops is set by the test, not by how fast a busy
    machine writes words, and the deadline it is given is the turn's own."""

    def __init__(self, reply: str, in_time: int) -> None:
        super().__init__([reply])
        self.in_time = in_time
        self.deadlines: list[float | None] = []
        self.written = 0

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        self.prompts.append(messages)
        self.deadlines.append(deadline)
        outcome = "closed"
        try:
            for i, word in enumerate(self.replies[0].split(" ")[:max_new_tokens]):
                if i == self.in_time:
                    assert deadline is not None, "the turn gave the model no deadline"
                    while time.monotonic() < deadline:
                        time.sleep(0.01)
                    outcome = "timeout"
                    raise GenerationTimeout("past the turn's deadline")
                self.written += 1
                yield word if i == 0 else f" {word}"
            outcome = "complete"
        finally:
            self.outcomes.append(outcome)


def test_a_turn_past_its_time_keeps_the_checked_sentences_and_stops_the_model(
    kb_services: Services,
) -> None:
    sentence = "Start a return from the Order History page."
    words = f"{sentence} " * 100
    # Two whole sentences and the start of a third are written in time.
    in_time = 2 * len(sentence.split()) + 3
    slow = OutOfTimeGenerator(words.strip(), in_time)
    kb_services.dialogue.generator = slow
    kb_services.dialogue.turn_timeout_s = 0.2
    asked = time.monotonic()
    reply = kb_services.dialogue.respond("How do I return an item?")
    answered = time.monotonic()
    streamed = "".join(run(reply))
    [deadline] = slow.deadlines  # the turn's: its timeout after the message came
    assert deadline is not None and asked + 0.2 <= deadline <= answered + 0.2
    assert slow.outcomes == ["timeout"]
    assert slow.written == in_time  # the model was not asked for a word more
    assert 0 < len(streamed) < len(words.strip())  # cut short
    # Whole sentences only, each shown once the check passed it: nothing is taken back, and
    # the half sentence at the deadline is not shown.
    assert reply.text.endswith("page.") and reply.text == streamed.strip()
    assert reply.text == f"{sentence} {sentence}"
    assert (reply.answer_mode, reply.grounded) == ("generated", True)
    assert reply.draft_rejection == "timeout"
    bot = transcript(kb_services, reply).messages[-1]
    assert (bot.status, bot.content) == ("timeout", reply.text)


def test_a_turn_out_of_time_before_any_word_answers_with_the_passage(
    kb_services: Services,
) -> None:
    slow = ScriptedGenerator()
    kb_services.dialogue.generator = slow
    kb_services.dialogue.turn_timeout_s = 1e-6  # over before the model starts
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert run(reply) == ["Start a return from the Order History page."]
    assert slow.outcomes == ["timeout"]
    assert (reply.answer_mode, reply.draft_rejection) == ("passage", "timeout")
    assert transcript(kb_services, reply).messages[-1].status == "timeout"


def test_a_half_sentence_at_the_deadline_is_not_kept(kb_services: Services) -> None:
    # Six words of an unfinished sentence are written in time.
    slow = OutOfTimeGenerator("Start a return from the Order History page " * 50, in_time=6)
    kb_services.dialogue.generator = slow
    kb_services.dialogue.turn_timeout_s = 0.2
    reply = kb_services.dialogue.respond("How do I return an item?")
    # No sentence was finished in time, so none was shown: the passage's answer is.
    assert run(reply) == ["Start a return from the Order History page."]
    assert (reply.text, reply.answer_mode) == (
        "Start a return from the Order History page.",
        "passage",
    )
    assert slow.outcomes == ["timeout"]
    assert reply.draft == "Start a return from the Order"  # what the model had written


def test_closing_a_reply_mid_stream_stops_the_model_and_keeps_what_was_shown(
    kb_services: Services,
) -> None:
    generator = ScriptedGenerator(["Start a return from the Order History page. " * 3])
    kb_services.dialogue.generator = generator
    reply = kb_services.dialogue.respond("How do I return an item?")
    pieces = iter(reply)
    shown = next(pieces)
    reply.close()
    assert generator.outcomes == ["closed"]
    assert list(reply) == []  # the stream is over
    assert reply.stored
    _user, bot = stored_messages(kb_services)
    assert bot == ("assistant", "abandoned", shown.strip())
    reply.close()  # closing again (or after the end) changes nothing
    assert len(stored_messages(kb_services)) == 2


def test_a_reply_closed_from_another_thread_stops_after_the_next_piece(
    kb_services: Services,
) -> None:
    generator = ScriptedGenerator(
        ["Start a return from the Order History page. " * 6], delay_s=0.05
    )
    kb_services.dialogue.generator = generator
    reply = kb_services.dialogue.respond("How do I return an item?")
    pieces = iter(reply)
    first = next(pieces)
    timer = threading.Timer(0.05, reply.close)  # while this thread waits for the next piece
    timer.start()
    rest = list(pieces)
    timer.join()
    assert len(rest) <= 1 and generator.outcomes == ["closed"]
    shown = (first + "".join(rest)).strip()
    assert stored_messages(kb_services)[-1] == ("assistant", "abandoned", shown)


def test_a_canned_reply_closed_after_it_was_shown_is_stored_complete(
    kb_services: Services,
) -> None:
    reply = kb_services.dialogue.respond(OUT_OF_SCOPE)
    assert next(iter(reply)) == FALLBACK_TEXT
    reply.close()
    assert reply.stored
    assert stored_messages(kb_services)[-1] == ("assistant", "complete", FALLBACK_TEXT)


def test_closing_a_finished_reply_is_a_no_op(kb_services: Services) -> None:
    reply = kb_services.dialogue.respond("How do I return an item?")
    run(reply)
    reply.close()
    assert [status for _, status, _ in stored_messages(kb_services)] == ["complete", "complete"]
