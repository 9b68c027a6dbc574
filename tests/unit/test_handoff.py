"""Hand-off helpers: anger detection, contact details and the customer-facing texts."""

from __future__ import annotations

import pytest

from chatbot.dialogue import decision, handoff
from chatbot.dialogue.handoff import (
    ANGRY,
    HANDOFF_TEXT,
    REPEATED_DECLINES,
    REQUESTED,
    Contact,
    contact_saved_text,
    extract_contact,
    find_contact,
    handoff_text,
    is_angry,
    replaces_contact,
    wants_human,
)


def test_wants_human_lives_in_handoff_and_is_re_exported_by_decision() -> None:
    assert decision.wants_human is handoff.wants_human
    assert wants_human("talk to a human")
    assert not wants_human("How do I return an item?")


@pytest.mark.parametrize(
    "text",
    [
        # Profanity and insults
        "this is bullshit",
        "useless bot",
        "wtf",
        "WTF is going on with my order",
        "you are stupid",
        "You're completely useless",
        "This fucking app keeps logging me out",
        "what the hell is this",
        "this app sucks",
        "terrible customer service",
        "Your customer service is a joke",
        "you idiots lost my parcel",
        "what a joke",
        # Strong complaints
        "this is ridiculous",
        "Worst service ever.",
        "This is the worst company I've ever dealt with",
        "I'm fed up",
        "I'm sick and tired of this",
        "This is absolutely unacceptable",
        "I've been waiting for weeks",
        "I've waited 3 months for a refund",
        "I'm furious",
        "I'm so frustrated with this",
        "This is the third time I've asked",
        "How many times do I have to explain this",
        "Nobody ever answers the phone",
        # Shouting
        "WHERE IS MY REFUND",
        "I NEED MY MONEY BACK NOW",
        "Where is my order!!!",
        # Threats to leave, complain or sue
        "I'll cancel",
        "Fix this or I'll cancel my account",
        "I\u2019ll cancel my subscription then!",
        "I'm switching to another bank.",
        "I will take my business elsewhere",
        "I want to complain",
        "I want to make a formal complaint.",
        "I'm going to sue",
        "I'll be contacting my lawyer",
    ],
)
def test_is_angry_recognises_angry_customers(text: str) -> None:
    assert is_angry(text)


@pytest.mark.parametrize(
    "text",
    [
        # Ordinary tasks that use "cancel", "close", "leave", "switch"
        "How do I cancel my order?",
        "cancel my order please",
        "Can I cancel my subscription before it renews?",
        "I will cancel my subscription next month, will I still be charged?",
        "If I cancel my account, will I lose my points?",
        "I'll cancel my order then.",
        "I want to close my account.",
        "I lost my wallet. I'm going to cancel my card.",
        "I'm moving house next week. How do I change my address?",
        "I'm leaving for holiday, can you hold my parcel?",
        "Can I switch to a different store for pickup?",
        # Mild problems the knowledge base can answer
        "I'm not happy with the size, can I exchange it?",
        "My parcel arrived damaged, what should I do?",
        "The zip broke after one wear, can I get a replacement?",
        "I'm disappointed the delivery was late, can I get a refund on shipping?",
        "I was charged twice for the same order.",
        "Where is my package? It's been 5 days.",
        "How long will I be waiting for my refund?",
        # Complaints and lawyers as topics
        "complaint process?",
        "What's your complaint process?",
        "How do I make a complaint?",
        "Can my lawyer get access to my account statements?",
        # Fraud reports and self-deprecation are not anger at us
        "Is this text a scam? It says my account is locked.",
        "I think this text is a scam",
        "Thieves stole my card, what do I do?",
        "I made a stupid mistake in my delivery address, can I change it?",
        "I'm such an idiot, I typed the wrong address",
        "What happens in the worst case if my card is stolen?",
        # Acronyms, joy, substrings of swear words
        "Is my ATM PIN the same as my CVV?",
        "Hi, my order number is AB-12345",
        "HELP",
        "Thank you so much!!!",
        "THANK YOU SO MUCH",
        "Do you sell Arsenal shirts?",
        "Do you deliver to Scunthorpe?",
        "Is the customer service team open on weekends?",
        "How do I report a lost card?",
    ],
)
def test_is_angry_ignores_ordinary_questions(text: str) -> None:
    assert not is_angry(text)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("my email is Jane.Doe+shop@example.co.uk.", "Jane.Doe+shop@example.co.uk"),
        ("You can reach me at bob_smith@mail.example.org, thanks", "bob_smith@mail.example.org"),
        ("555-123-4567", "555-123-4567"),
        ("call me on +44 (0)20 7946 0958 please", "+44 (0)20 7946 0958"),
        ("07700 900123", "07700 900123"),
        ("(555) 123.4567", "(555) 123.4567"),
        ("+447700900123", "+447700900123"),
        ("my number is 5551234.", "5551234"),
        # An email wins over a phone number, wherever it is.
        ("555-123-4567 or jane@example.com", "jane@example.com"),
    ],
)
def test_extract_contact_finds_emails_and_phone_numbers(text: str, expected: str) -> None:
    assert extract_contact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "no thanks",
        "order 12345",  # too short for a phone number
        "123456",
        "4111111111111111",  # a card number, not a phone number
        "1234567890123",
        "4111 1111 1111 1111",  # 16 digits
        "1234 5678 9012 3456 7890",
        "2024-05-01",  # a date
        "jane@example",  # no top-level domain
        "@example.com",
        "What is your phone number?",
    ],
)
def test_extract_contact_ignores_other_text(text: str) -> None:
    assert extract_contact(text) is None


def test_reason_codes() -> None:
    assert (REQUESTED, REPEATED_DECLINES, ANGRY) == ("requested", "repeated_declines", "angry")


@pytest.mark.parametrize("reason", [REQUESTED, REPEATED_DECLINES, ANGRY])
def test_each_handoff_text_says_what_happens_next_and_asks_for_contact(reason: str) -> None:
    text = HANDOFF_TEXT[reason]
    assert handoff_text(reason) == text
    assert "support team" in text
    assert "email address or phone number" in text


def test_handoff_texts_differ_by_reason() -> None:
    assert len({HANDOFF_TEXT[r] for r in (REQUESTED, REPEATED_DECLINES, ANGRY)}) == 3
    assert "sorry" in HANDOFF_TEXT[ANGRY].lower()
    assert handoff_text("something_else") == HANDOFF_TEXT[REQUESTED]


def test_contact_saved_text() -> None:
    assert contact_saved_text("jane@example.com") == (
        "Thanks — our team will contact you at jane@example.com."
    )


@pytest.mark.parametrize(
    "text",
    [
        "my order number is 1234567 and it hasn't shipped",
        "order 1234567",
        "Order #1234567",
        "#1234567",
        "tracking number: 415 555 2671",
        "my order no. 4155552671",
        "ref 07700 900123",
        "it's about invoice 5551234567, call me",
    ],
)
def test_a_reference_number_is_not_contact_details(text: str) -> None:
    assert extract_contact(text) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("my order number is 1234567, call me on 415-555-2671", "415-555-2671"),
        ("sure, it is 415-555-2671, thanks so much for helping me today", "415-555-2671"),
        ("reach me on 07700900123 any time after five", "07700900123"),
        ("tel 5551234567 after 5pm please", "5551234567"),
    ],
)
def test_a_phone_number_is_found_by_its_shape_or_a_cue(text: str, expected: str) -> None:
    assert find_contact(text) == Contact(expected)


def test_a_bare_number_alone_is_only_a_guess() -> None:
    assert find_contact("4155552671") == Contact("4155552671", certain=False)
    assert find_contact("ok 4155552671") == Contact("4155552671", certain=False)
    assert find_contact("I was charged 1234567 twice for nothing at all") is None
    assert find_contact("07700 900123") == Contact("07700 900123")  # in groups


def test_a_guess_never_replaces_better_contact_details() -> None:
    guess, phone = Contact("1234567", certain=False), Contact("415-555-2671")
    email = Contact("jane@example.com")
    assert not replaces_contact(guess, "jane@example.com")
    assert not replaces_contact(guess, "415-555-2671")
    assert replaces_contact(guess, None) and replaces_contact(guess, "7654321")
    assert replaces_contact(phone, "jane@example.com")  # given plainly: the latest word
    assert replaces_contact(email, "415-555-2671") and replaces_contact(email, "bob@example.org")


@pytest.mark.parametrize(
    "text",
    [
        "agent please, my email is bob.smith@example.org",
        "Agent please. My email is bob.smith@example.org",
        "a real person please - I was charged twice",
        "human! my number is 415-555-2671",
        "Agent, my email is bob.smith@example.org",
        "agent please, how long will it take?",
    ],
)
def test_a_request_for_a_person_followed_by_more_is_a_request(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "Agent, how do I reset my password?",  # a question put to the bot
        "People, how do I return an item?",
        "How do I change my agent settings?",
    ],
)
def test_a_question_addressed_to_the_bot_is_not_a_request(text: str) -> None:
    assert not wants_human(text)


@pytest.mark.parametrize("reason", [REQUESTED, REPEATED_DECLINES, ANGRY])
def test_a_handoff_with_contact_details_confirms_them(reason: str) -> None:
    text = handoff_text(reason, contact="bob@example.org")
    assert "support team" in text and "contact you at bob@example.org." in text
    assert "email address or phone number" not in text
    assert text.split(". ")[0] == HANDOFF_TEXT[reason].split(". ")[0]  # same opening
    zh = handoff_text(reason, "zh", contact="bob@example.org")
    assert "客服团队" in zh and "通过 bob@example.org 与您联系" in zh
    assert "电子邮箱或电话号码" not in zh
