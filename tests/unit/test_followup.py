"""Follow-up detection and query rewriting."""

from __future__ import annotations

import pytest

from chatbot.dialogue.followup import is_followup, rewrite_query, strip_connective

RETURNS = [
    ("user", "What is your return policy?"),
    ("assistant", "You can return most items within 30 days of delivery."),
]


def test_the_example_from_the_spec() -> None:
    assert (
        rewrite_query("and how long does that take?", RETURNS)
        == "What is your return policy? how long does that take?"
    )


@pytest.mark.parametrize(
    "text,rest",
    [
        ("how long?", "how long?"),
        ("and for express?", "for express?"),
        ("What about sale items?", "sale items?"),
        ("how about gift cards?", "gift cards?"),
        ("But what if I lost the receipt?", "I lost the receipt?"),
        ("Also, can I do the same for gift cards?", "can I do the same for gift cards?"),
        ("so do they pay for return shipping?", "do they pay for return shipping?"),
        ("Can I return it?", "Can I return it?"),
        ("Does it come in other colours?", "Does it come in other colours?"),
        ("Is that free?", "Is that free?"),
        ("how much does it cost?", "how much does it cost?"),
        ("to Canada?", "to Canada?"),
        ("why?", "why?"),
    ],
)
def test_follow_ups_are_rewritten_with_the_previous_question(text: str, rest: str) -> None:
    assert is_followup(text)
    assert rewrite_query(text, RETURNS) == f"What is your return policy? {rest}"


@pytest.mark.parametrize(
    "text",
    [
        "How do I reset my password?",
        "What are your opening hours?",
        "Can I pay with PayPal?",
        "Where is my order?",
        "Can I return sale items?",
        "Do you ship to Canada?",
        # Dummy "there" / "it" / "that" point at nothing earlier
        "Is there a fee for international transfers?",
        "How long does it take to get a refund?",
        "How much does it cost to ship to Canada?",
        "Is it possible to change my delivery address after ordering?",
        "Is it true that you price match?",
        # A plain connective in front of a question that names its own topic
        "And how do I change the delivery address on my account after checkout?",
        # Short but self-contained topics
        "Opening hours?",
        "reset password",
        "track my order",
        # Small talk
        "thanks",
        "ok thanks!",
        "Great, thank you",
    ],
)
def test_self_contained_messages_are_not_rewritten(text: str) -> None:
    assert rewrite_query(text, RETURNS) is None
    assert not is_followup(text)


def test_no_previous_customer_message_means_no_rewrite() -> None:
    assert rewrite_query("how long?", []) is None
    assert rewrite_query("how long?", [("assistant", "Hi! How can I help?")]) is None
    assert rewrite_query("", RETURNS) is None


def test_the_latest_customer_question_is_used_not_the_assistant_reply() -> None:
    history = [
        ("user", "How do I reset my password?"),
        ("assistant", "Use the 'Forgot password' link."),
        ("user", "Do you ship to Canada?"),
        ("assistant", "Yes, we ship to Canada."),
    ]
    assert rewrite_query("how long does that take?", history) == (
        "Do you ship to Canada? how long does that take?"
    )


def test_a_chain_of_follow_ups_keeps_the_original_topic() -> None:
    history = [
        ("user", "How long does delivery take?"),
        ("assistant", "Standard delivery takes 3-5 business days."),
        ("user", "and how much is it?"),
        ("assistant", "Standard delivery costs $4.99."),
    ]
    assert rewrite_query("what about express?", history) == (
        "How long does delivery take? how much is it? express?"
    )


def test_whitespace_is_collapsed() -> None:
    history = [("user", "  What is your\nreturn policy? ")]
    assert rewrite_query("  and   how long? ", history) == "What is your return policy? how long?"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("and how long?", "how long?"),
        ("And, how long?", "how long?"),
        ("what about express?", "express?"),
        ("and what about express?", "express?"),
        ("Sandwiches?", "Sandwiches?"),  # "and" inside a word is not a connective
        ("and", "and"),  # nothing left: keep the text
    ],
)
def test_strip_connective(text: str, expected: str) -> None:
    assert strip_connective(text) == expected
