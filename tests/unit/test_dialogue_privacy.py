"""Personal data is masked before storage, without changing what the customer sees."""

from __future__ import annotations

import logging

import pytest

from chatbot.container import Services
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.log_format import FORMAT, RedactingFormatter, redact

FAQ = b"""id,question,answer
returns,How do I return an item?,Start a return from the Order History page.
"""


def stored_messages(services: Services, conversation_id: str) -> list[tuple[str, str]]:
    view = services.conversations.transcript(conversation_id)
    assert view is not None
    return [(m.role, m.content) for m in view.messages]


def test_card_numbers_and_emails_are_masked_in_storage_but_not_in_the_reply(
    services: Services,
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ)
    question = "My card 4111 1111 1111 1111 was charged, how do I return an item?"
    reply = services.dialogue.respond(question)
    list(reply)
    (role, content), _ = stored_messages(services, reply.conversation_id)
    assert role == "user"
    assert "4111" not in content and "[card]" in content
    view = services.conversations.transcript(reply.conversation_id)
    assert view is not None and "4111" not in view.title


def test_the_contact_left_after_a_handoff_is_kept_but_masked_in_the_transcript(
    services: Services,
) -> None:
    first = services.dialogue.respond("I want to talk to a human")
    list(first)
    second = services.dialogue.respond(
        "you can reach me at jane.doe@example.com", conversation_id=first.conversation_id
    )
    text = "".join(second)
    assert "jane.doe@example.com" in text  # the customer sees their address confirmed
    view = services.conversations.transcript(first.conversation_id)
    assert view is not None and view.contact == "jane.doe@example.com"
    stored = [c for _, c in stored_messages(services, first.conversation_id)]
    assert not any("jane.doe@example.com" in c for c in stored)
    assert any("[email]" in c for c in stored)


def test_masking_can_be_turned_off(services: Services) -> None:
    services.dialogue.redact = lambda text: text
    reply = services.dialogue.respond("call me on +44 20 7946 0958 about my order")
    list(reply)
    (_, content), _ = stored_messages(services, reply.conversation_id)
    assert "+44 20 7946 0958" in content


def test_a_rejected_answer_is_logged_by_id_without_its_text(
    services: Services, generator: ScriptedGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ)
    services.dialogue.approved_answers = False
    # A model repeating what the customer wrote: not in the passage, so it is replaced.
    rejected = "Sure jane.doe@example.com, we refunded card 4111 1111 1111 1111 for 90 days."
    generator.replies = [rejected]
    caplog.set_level(logging.INFO)
    reply = services.dialogue.respond("How do I return an item?")
    list(reply)
    assert reply.answer_mode == "passage" and reply.draft_rejection
    assert f"generated draft withheld in conversation {reply.conversation_id}" in caplog.text
    for personal in ("jane.doe@example.com", "4111 1111 1111 1111", "refunded"):
        assert personal not in caplog.text


def test_database_errors_name_the_statement_not_its_values(services: Services) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    secret = "jane.doe@example.com"
    with pytest.raises(DBAPIError) as raised, services.sessions.begin() as s:
        # No such conversation: the foreign key refuses the row.
        s.execute(
            text("INSERT INTO messages (conversation_id, role, content) VALUES (:c, 'user', :t)"),
            {"c": "no-such-conversation", "t": secret},
        )
    assert "INSERT INTO messages" in str(raised.value)
    assert "parameters hidden" in str(raised.value)
    # PostgreSQL's own error text may quote the refused row; the log leaves that detail out.
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "turn failed", None, None)
    record.exc_info = (raised.type, raised.value, raised.tb)
    logged = RedactingFormatter(FORMAT).format(record)
    assert "INSERT INTO messages" in logged
    assert secret not in logged


def test_database_error_details_are_left_out_of_the_log() -> None:
    text = (
        'null value in column "x" violates not-null constraint\n'
        "DETAIL:  Failing row contains (1, user, jane.doe@example.com, null).\n"
        "[SQL: INSERT INTO messages ...]"
    )
    redacted = redact(text)
    assert "jane.doe@example.com" not in redacted
    assert "violates not-null constraint" in redacted and "[SQL: INSERT" in redacted
