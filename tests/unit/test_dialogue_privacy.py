"""Personal data is masked before storage, without changing what the customer sees."""

from __future__ import annotations

import logging

import pytest

from chatbot.container import Services
from chatbot.core.log_format import FORMAT, RedactingFormatter, redact
from chatbot.generation.scripted import ScriptedGenerator

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


# ---- the shop's own contacts, and the customer's, in stored bot messages -------------------

SUPPORT_EMAIL, SUPPORT_PHONE = "support@northwind.example", "1-800-555-0199"
CONTACT_FAQ = f"""id,question,answer
contact,How do I contact support?,Email {SUPPORT_EMAIL} or call {SUPPORT_PHONE}.
returns,How do I return an item?,Start a return from the Order History page.
shipping,When will my order ship?,Orders ship within 2 working days.
""".encode()


def stored_answer(services: Services, conversation_id: str | None) -> str:
    assert conversation_id is not None
    return stored_messages(services, conversation_id)[-1][1]


def test_the_shops_own_contacts_in_an_answer_are_stored_as_shown(services: Services) -> None:
    services.kb.ingest_bytes("faq.csv", CONTACT_FAQ)
    reply = services.dialogue.respond("How do I contact support?")
    shown = "".join(reply)
    assert reply.answer_mode == "approved" and SUPPORT_EMAIL in shown and SUPPORT_PHONE in shown
    assert stored_answer(services, reply.conversation_id) == shown
    view = services.conversations.transcript(reply.conversation_id or "")
    assert view is not None and SUPPORT_EMAIL in view.messages[-1].sources[0].snippet


def test_a_generated_answer_with_the_shops_contacts_is_stored_as_shown(
    services: Services, generator: ScriptedGenerator
) -> None:
    services.kb.ingest_bytes("faq.csv", CONTACT_FAQ)
    services.dialogue.approved_answers = False
    generator.replies = [f"You can email {SUPPORT_EMAIL} or call {SUPPORT_PHONE}."]
    # The customer's own address is masked in their message, the shop's kept in the answer.
    reply = services.dialogue.respond("I'm jane.doe@example.com, how do I contact support?")
    shown = "".join(reply)
    assert reply.answer_mode == "generated" and SUPPORT_EMAIL in shown
    (_, question), (_, answer) = stored_messages(services, reply.conversation_id or "")
    assert question == "I'm [email], how do I contact support?"
    assert answer == shown


def test_a_withheld_draft_is_stored_with_only_the_customers_data_masked(
    services: Services, generator: ScriptedGenerator
) -> None:
    services.kb.ingest_bytes("faq.csv", CONTACT_FAQ)
    services.dialogue.approved_answers = False
    # The model echoes the customer's address and number (not in the passage: withheld).
    generator.replies = [
        f"Sure Jane.Doe@example.com, we will call (415) 555 2671, or email {SUPPORT_EMAIL}."
    ]
    reply = services.dialogue.respond("I'm jane.doe@example.com, how do I contact support?")
    list(reply)
    assert reply.draft_rejection and reply.draft
    view = services.conversations.transcript(reply.conversation_id or "")
    assert view is not None
    assert view.messages[-1].draft == (
        f"Sure [email], we will call (415) 555 2671, or email {SUPPORT_EMAIL}."
    )
    # A number the customer typed is masked in whatever grouping the draft repeats it.
    generator.replies = ["We will call (415) 555 2671 today."]
    reply = services.dialogue.respond(
        "call me on 415-555-2671, how do I contact support?", reply.conversation_id
    )
    list(reply)
    view = services.conversations.transcript(reply.conversation_id or "")
    assert view is not None and view.messages[-1].draft == "We will call [phone] today."


# ---- contact details after a handoff -----------------------------------------------------


def test_an_order_number_after_a_handoff_does_not_replace_the_contact(
    services: Services,
) -> None:
    """The walkthrough: an e-mail and a phone number, then an order number, after a handoff."""
    services.kb.ingest_bytes("faq.csv", CONTACT_FAQ)
    first = services.dialogue.respond("I want to talk to a human")
    list(first)
    cid = first.conversation_id
    assert cid is not None and first.decision == "handoff"
    second = services.dialogue.respond(
        "email me at jane.doe@example.com or call 415-555-2671", conversation_id=cid
    )
    assert "jane.doe@example.com" in "".join(second)
    third = services.dialogue.respond(
        "my order number is 1234567 and it hasn't shipped", conversation_id=cid
    )
    text = "".join(third)
    assert "1234567" not in text and "contact you at" not in text
    view = services.conversations.transcript(cid)
    assert view is not None and view.contact == "jane.doe@example.com"
    # Staff read the real address in the contact; the messages keep it masked.
    stored = [c for _, c in stored_messages(services, cid)]
    assert stored[2] == "email me at [email] or call [phone]"
    assert stored[3] == "Thanks — our team will contact you at [email]."
    assert stored[4] == "my order number is 1234567 and it hasn't shipped"
    assert not any("jane.doe@example.com" in c or "415-555-2671" in c for c in stored)


def test_a_bare_number_does_not_replace_an_email_on_file(services: Services) -> None:
    first = services.dialogue.respond("talk to a human")
    list(first)
    cid = first.conversation_id
    list(services.dialogue.respond("jane.doe@example.com", conversation_id=cid))
    list(services.dialogue.respond("1234567", conversation_id=cid))  # a guess
    view = services.conversations.transcript(cid or "")
    assert view is not None and view.contact == "jane.doe@example.com"
    # Given plainly, a phone number does replace it: the customer's latest word.
    reply = services.dialogue.respond("call me on 415-555-2671 instead", conversation_id=cid)
    assert "415-555-2671" in "".join(reply)
    view = services.conversations.transcript(cid or "")
    assert view is not None and view.contact == "415-555-2671"


@pytest.mark.parametrize(
    "message,language,confirmation",
    [
        ("agent please, my email is bob.smith@example.org", "en", "contact you at"),
        ("转人工，我的邮箱是bob.smith@example.org", "zh", "与您联系"),
    ],
)
def test_a_request_with_an_address_hands_off_and_confirms_it(
    services: Services, message: str, language: str, confirmation: str
) -> None:
    reply = services.dialogue.respond(message)
    text = "".join(reply)
    assert reply.decision == "handoff" and reply.reason == "requested"
    assert reply.language == language
    assert "bob.smith@example.org" in text and confirmation in text
    assert "email address or phone number" not in text and "电子邮箱或电话号码" not in text
    view = services.conversations.transcript(reply.conversation_id or "")
    assert view is not None and view.needs_human and view.contact == "bob.smith@example.org"
    stored = [c for _, c in stored_messages(services, reply.conversation_id or "")]
    assert not any("bob.smith@example.org" in c for c in stored)
    assert "[email]" in stored[-1]


def test_a_later_handoff_confirms_the_contact_on_file(services: Services) -> None:
    first = services.dialogue.respond("agent please, my email is bob.smith@example.org")
    list(first)
    cid = first.conversation_id or ""
    services.conversations.mark_handled(cid, "ann")
    again = services.dialogue.respond("I want to talk to a human", conversation_id=cid)
    text = "".join(again)
    assert again.decision == "handoff" and "contact you at bob.smith@example.org" in text
    assert "[email]" in stored_answer(services, cid)
