"""Masking personal data, and deleting old conversations (by hand and automatically)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot.container import Services
from chatbot.privacy import (
    apply_retention,
    count_older_than,
    luhn_valid,
    mask_pii,
    purge_older_than,
)
from chatbot.settings import Settings
from tests.unit.conversation_data import Turn, add_conversation, source, table_counts

MASKED = [
    ("Email me at jane.doe+shop@example.co.uk please", "Email me at [email] please"),
    ("JOSÉ@Correo.es", "[email]"),
    ("My card is 4111 1111 1111 1111, thanks", "My card is [card], thanks"),
    ("card 4111-1111-1111-1111", "card [card]"),
    ("4111111111111111.", "[card]."),
    ("Amex 3782 822463 10005", "Amex [card]"),
    ("13 digits 4222222222222", "13 digits [card]"),
    ("qty 3 4111 1111 1111 1111", "qty 3 [card]"),
    ("Call me on +44 20 7946 0958", "Call me on [phone]"),
    ("+14155552671", "[phone]"),
    ("+44 (0)20 7946 0958 is fine", "[phone] is fine"),
    ("(415) 555-2671 any time", "[phone] any time"),
    ("reach me at 415-555-2671", "reach me at [phone]"),
    ("or 415.555.2671", "or [phone]"),
    ("or 020 7946 0958", "or [phone]"),
    ("06 12 34 56 78", "[phone]"),
    ("1-800-555-0199", "[phone]"),
    ("call me at 5551234567", "call me at [phone]"),
    ("07700900123 is my mobile", "[phone] is my mobile"),
    ("my number is 0201234567", "my number is [phone]"),
    (
        "I'm bob@example.com, tel 555 123 4567, card 5555555555554444",
        "I'm [email], tel [phone], card [card]",
    ),
]

NOT_MASKED = [
    "Where is order 12345678?",
    "order number: 12345678",
    "my order number is 555-123-4567",
    "order #123-456-7890",
    "Where is order 12345678? Please call me",
    "tracking 1Z999AA10123456784",
    "tracking number 1234 5678 9012",
    "The number 12345678 is on the box",
    "ordered on 2024-01-15 at 10:30",
    "ordered 2024-01-15 10:30",
    "delivered 15.01.2024",
    "due 01-15-2024",
    "It cost $1,299.99",
    "It cost $1 299",
    "costs 12 500 000 EUR",
    "€ 1 250 000",
    "version 10.15.7.1234",
    "app v2.10.4 crashes",
    "Android 13.0.0.123456",
    "server 192.168.100.200",
    "555-1234",
    "https://shop.example/orders/123-456-7890",
    "I paid 49.99 for 2 items on 3 May",
    "ISBN 978-3-16-148410-0",
    "Luhn-invalid 1234567812345678",
    "card 4111 1111 1111 1112",
    "20 digits 12345678901234567890",
    "no @ here: user at example dot com",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", NOT_MASKED)
def test_look_alikes_are_not_masked(text: str) -> None:
    assert mask_pii(text) == text


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567812345678")


def test_privacy_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().privacy.mask_pii is True
    assert Settings().privacy.retention_days is None
    monkeypatch.setenv("CHATBOT_PRIVACY__MASK_PII", "false")
    monkeypatch.setenv("CHATBOT_PRIVACY__RETENTION_DAYS", "90")
    privacy = Settings().privacy
    assert privacy.mask_pii is False and privacy.retention_days == 90


# ---- retention ------------------------------------------------------------------------------
def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def old_and_new(services: Services) -> tuple[str, str, str]:
    """An old conversation (with sources and notes), a recent one, and one started long ago
    but active yesterday."""
    answer = Turn("How do I return an item?", sources=[source("returns", 0.9)])
    old = add_conversation(
        services.sessions, days_ago(100), [answer, answer], notes=[("ann", "old note")]
    )
    new = add_conversation(services.sessions, days_ago(2), [answer], notes=[("bob", "new")])
    revived = add_conversation(services.sessions, days_ago(200), [answer])
    with services.sessions.begin() as s:
        from chatbot.storage.models import Conversation

        conv = s.get(Conversation, revived)
        assert conv is not None
        conv.updated_at = days_ago(1)
    return old, new, revived


def test_purge_deletes_old_conversations_with_everything_attached(services: Services) -> None:
    old, new, revived = old_and_new(services)
    before = table_counts(services.sessions)
    assert before == {
        "conversations": 3,
        "messages": 8,
        "message_sources": 4,
        "conversation_notes": 2,
    }
    assert count_older_than(services.sessions, 30).conversations == 1
    assert purge_older_than(services.sessions, 30) == 1
    assert table_counts(services.sessions) == {
        "conversations": 2,
        "messages": 4,
        "message_sources": 2,
        "conversation_notes": 1,
    }
    assert services.conversations.transcript(old) is None
    assert services.conversations.transcript(new) is not None
    assert services.conversations.transcript(revived) is not None
    assert purge_older_than(services.sessions, 30) == 0
    with pytest.raises(ValueError):
        purge_older_than(services.sessions, 0)


def test_purge_works_in_batches(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    import chatbot.privacy

    monkeypatch.setattr(chatbot.privacy, "_PURGE_BATCH", 2)
    for _ in range(5):
        add_conversation(services.sessions, days_ago(50), [Turn("hi")])
    add_conversation(services.sessions, days_ago(1), [Turn("hi")])
    assert purge_older_than(services.sessions, 10) == 5
    assert table_counts(services.sessions)["conversations"] == 1


def test_apply_retention_uses_the_setting(services: Services) -> None:
    old_and_new(services)
    assert apply_retention(services) == 0  # unset: keep everything
    assert table_counts(services.sessions)["conversations"] == 3
    services.settings.privacy.retention_days = 30
    assert apply_retention(services) == 1
    assert table_counts(services.sessions)["conversations"] == 2
