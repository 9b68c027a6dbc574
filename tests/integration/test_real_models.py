"""End to end through the dialogue manager with the real embedder and generator."""

from __future__ import annotations

import pytest

from chatbot.container import Services

pytestmark = pytest.mark.integration


def test_paraphrase_finds_the_right_faq_entry_and_streams_an_answer(
    covid_services: Services,
) -> None:
    # A human paraphrase from the COVID dev queries; the FAQ asks "Where did COVID-19 come from?"
    # style questions differently worded.
    dialogue = covid_services.dialogue
    reply = dialogue.respond("Where does the virus come from?")
    assert reply.decision == "answer"
    assert reply.sources[0].entry_id == "covid-004"
    list(reply)
    assert reply.answer_mode in {"approved", "generated", "passage"}
    assert reply.stored

    # The generation path: the local model streams an answer that is then checked.
    dialogue.approved_answers = False
    try:
        reply = dialogue.respond("Where does the virus come from?")
        pieces = list(reply)
    finally:
        dialogue.approved_answers = True
    assert reply.sources[0].entry_id == "covid-004"
    # Checked sentences as they pass, or the passage's answering sentences: final pieces only.
    assert pieces and "".join(pieces).strip() == reply.text
    assert reply.answer_mode in {"generated", "passage"}
    assert reply.grounded is (reply.answer_mode == "generated")
    assert reply.text.strip()

    transcript = covid_services.conversations.transcript(reply.conversation_id)
    assert transcript is not None
    user, bot = transcript.messages
    assert user.content == "Where does the virus come from?"
    assert bot.decision == "answer" and bot.content == reply.text
    assert bot.sources[0].entry_id == "covid-004"
    assert bot.latency_ms and bot.first_token_ms and bot.first_token_ms <= bot.latency_ms


@pytest.mark.parametrize(
    "question",
    ["How do I reset my router's wifi password?", "Which team won the football league in 2010?"],
)
def test_out_of_scope_question_is_declined_with_an_offer_of_a_human(
    covid_services: Services, question: str
) -> None:
    reply = covid_services.dialogue.respond(question)
    text = "".join(reply)
    assert reply.decision == "fallback"
    assert reply.sources == []
    assert "don't know" in text and "human" in text


def test_follow_up_turns_stay_in_one_conversation(covid_services: Services) -> None:
    first = covid_services.dialogue.respond("How does the virus spread?")
    list(first)
    second = covid_services.dialogue.respond(
        "Can I get it from my pet?", conversation_id=first.conversation_id
    )
    list(second)
    assert second.conversation_id == first.conversation_id
    transcript = covid_services.conversations.transcript(first.conversation_id)
    assert transcript is not None and len(transcript.messages) == 4
