"""Masking personal data, and deleting old conversations (by hand and automatically)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from chatbot.container import Services
from chatbot.privacy.masking import luhn_valid, mask_pii, mask_repeated, personal_data
from chatbot.privacy.retention import apply_retention, count_older_than, purge_older_than
from chatbot.settings import Settings
from chatbot.storage import db
from chatbot.storage import scrub as storage_scrub
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
    import chatbot.privacy.retention

    monkeypatch.setattr(chatbot.privacy.retention, "_PURGE_BATCH", 2)
    for _ in range(5):
        add_conversation(services.sessions, days_ago(50), [Turn("hi")])
    add_conversation(services.sessions, days_ago(1), [Turn("hi")])
    assert purge_older_than(services.sessions, 10) == 5
    assert table_counts(services.sessions)["conversations"] == 1


def test_apply_retention_uses_the_setting(services: Services) -> None:
    old_and_new(services)
    privacy = services.settings.privacy
    assert apply_retention(services.sessions, privacy.retention_days) == 0  # unset: keep all
    assert table_counts(services.sessions)["conversations"] == 3
    services.settings.privacy.retention_days = 30
    assert apply_retention(services.sessions, privacy.retention_days) == 1
    assert table_counts(services.sessions)["conversations"] == 2


def test_every_card_in_a_run_of_digit_groups_is_masked() -> None:
    two = "4111 1111 1111 1111 5555 5555 5555 4444"
    assert mask_pii(f"cards {two} thanks") == "cards [card] [card] thanks"
    assert mask_pii("4111111111111111 " * 3) == "[card] " * 3


# ---- masking time -------------------------------------------------------------------------
# Inputs that made masking superlinear: every window of digit groups tried (cubic), many
# cards or numbers in one text (each replacement copied the text), every cue word checked
# for every number, and long runs that patterns could backtrack over.
ADVERSARIAL = {
    "digit groups": "1 ",
    "dashed groups": "1-",
    "dotted groups": "1.",
    "cards in one run": "4111111111111111 ",
    "numbers with cues": "call 5551234567 ",
    "area codes": "(1) ",
    "plus signs": "+1 ",
    "e-mail addresses": "a@b.co ",
    "at signs": "a@",
    "domain labels": "a.",
}


def _seconds(text: str, repeats: int) -> float:
    """The least CPU time of `repeats` runs of mask_pii(text): CPU time, not wall time, so
    other processes on a busy machine do not count."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        mask_pii(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("unit", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_masking_time_grows_linearly_with_adversarial_input(unit: str) -> None:
    small, large = unit * 64, unit * 512  # 8 times as long
    base = _seconds(small, repeats=7)
    # Linear is 8 times the time (quadratic 64, cubic 512): 20 leaves room for noise. The
    # large input is measured again only if it looks slow (a busy machine).
    elapsed = _seconds(large, repeats=1)
    if elapsed > 20 * base:
        elapsed = min(elapsed, _seconds(large, repeats=3))
    assert elapsed < 20 * base, f"{len(large)} chars: {elapsed:.4f} s, {len(small)}: {base:.4f} s"


def test_long_text_is_masked_in_chunks_without_splitting_what_it_masks() -> None:
    filler = "lorem ipsum dolor sit amet " * 40  # 1,080 characters without a digit
    personal = "call me on 5551234567 or mail jane@example.com, card 4111 1111 1111 1111. "
    kept = "order 12345678, 2024-01-15, $1 250 000. "
    text = (filler + personal + kept) * 40  # 48 KB: three chunks and more
    masked = mask_pii(text)
    expected = "call me on [phone] or mail [email], card [card]. "
    assert masked == (filler + expected + kept) * 40


def test_personal_data_lists_what_masking_hides_with_its_placeholder() -> None:
    text = "mail jane@example.com, card 4111 1111 1111 1111, call 415-555-2671, order 12345678"
    assert personal_data(text) == [
        ("jane@example.com", "[email]"),
        ("4111 1111 1111 1111", "[card]"),
        ("415-555-2671", "[phone]"),
    ]
    assert personal_data("order 12345678, 2024-01-15") == []


# The customer's message, and a bot text that repeats some of it next to the shop's contacts.
TYPED = "I'm Jane.Doe@example.com, card 4111 1111 1111 1111, call 415-555-2671"
SHOP = "support@northwind.example or 1-800-555-0199"


def test_only_what_the_customer_typed_is_masked_in_a_bot_text() -> None:
    text = f"Noted jane.doe@example.com, card 4111111111111111, (415) 555 2671; write {SHOP}."
    masked = mask_repeated(text, TYPED)
    assert masked == f"Noted [email], card [card], [phone]; write {SHOP}."
    assert mask_repeated(f"Write {SHOP}.", TYPED) == f"Write {SHOP}."
    # A longer number that starts with the customer's is another number.
    assert mask_repeated("Call 415-555-26719.", TYPED) == "Call 415-555-26719."


def test_a_value_the_knowledge_base_names_is_the_shops_and_stays() -> None:
    typed = "is support@northwind.example right? my email is jane@example.com"
    text = "Yes, write to support@northwind.example. We have jane@example.com."
    passage = "Email support@northwind.example for help."
    assert mask_repeated(text, typed, keep=[passage]) == (
        "Yes, write to support@northwind.example. We have [email]."
    )


def test_long_text_of_numbers_only_is_still_masked_in_bounded_time() -> None:
    text = "4111 1111 1111 1111 " * 5_000  # 100 KB with no place free of digits
    masked = mask_pii(text)
    assert "4111" not in masked.replace("[card]", "")


# ---- purge leaves no copies -------------------------------------------------------------------
def sqlite_sessions(path: Path) -> sessionmaker[Session]:
    """A SQLite database file of its own (whatever database the suite runs on): what is
    checked is SQLite's files. Its connections start with `secure_delete` off, as most SQLite
    builds do (some distributions turn it on by default)."""
    url = f"sqlite:///{path}"
    db.upgrade(url)
    engine = db.make_engine(url)

    @event.listens_for(engine, "connect")
    def insecure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete=OFF")

    return db.make_sessions(engine)


@contextmanager
def server_holding(path: Path) -> Iterator[None]:
    """Another connection keeps the database open, as a running server does: SQLite then
    keeps the write-ahead log when the purge's own connections close. (Reading the file
    meanwhile would drop this connection's locks: closing any descriptor of a file ends all
    of a process's POSIX locks on it. Read it after the purge.)"""
    other = sqlite3.connect(path)
    try:
        other.execute("SELECT count(*) FROM conversations").fetchall()
        yield
    finally:
        other.close()


def raw_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


def test_purge_leaves_no_copy_in_the_database_file_or_its_log(tmp_path: Path) -> None:
    path = tmp_path / "chatbot.db"
    sessions = sqlite_sessions(path)
    secret = "purple-elephant-7731 lives at 12 Secret Lane"
    for _ in range(3):  # several writes: several page images in the write-ahead log
        add_conversation(
            sessions, days_ago(100), [Turn(secret, rating_reason=secret)], notes=[("a", secret)]
        )
    add_conversation(sessions, days_ago(1), [Turn("a recent question")])
    assert secret.encode() in raw_bytes(path)
    with server_holding(path):
        assert purge_older_than(sessions, 30) == 3
        assert secret.encode() not in raw_bytes(path)
        assert b"a recent question" in raw_bytes(path)  # what is kept is still there
        assert path.with_name("chatbot.db-wal").stat().st_size == 0


def test_a_log_in_use_is_reported_and_emptied_by_the_next_scrub(tmp_path: Path) -> None:
    path = tmp_path / "chatbot.db"
    sessions = sqlite_sessions(path)
    add_conversation(sessions, days_ago(100), [Turn("hello")])
    engine = storage_scrub.engine_of(sessions)
    reader = sqlite3.connect(path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM messages").fetchall()  # holds a snapshot
        add_conversation(sessions, days_ago(100), [Turn("more")])
        assert storage_scrub.scrub(engine, vacuum=False) is False
    finally:
        reader.close()
    assert storage_scrub.scrub(engine, vacuum=False) is True


def test_purge_command_scrubs_and_says_so_when_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from chatbot.cli.main import app

    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHATBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'chatbot.db'}")
    sessions = sqlite_sessions(tmp_path / "chatbot.db")
    add_conversation(sessions, days_ago(100), [Turn("purge me 4242")])
    with server_holding(tmp_path / "chatbot.db"):
        result = CliRunner().invoke(app, ["purge", "--older-than", "30", "--yes"])
        assert result.exit_code == 0, result.output
        assert "deleted 1 conversation with no activity since" in result.output
        assert b"purge me 4242" not in raw_bytes(tmp_path / "chatbot.db")

    monkeypatch.setattr(storage_scrub, "scrub", lambda engine, vacuum=True: False)
    result = CliRunner().invoke(app, ["purge", "--older-than", "30", "--yes"])
    assert result.exit_code == 0
    assert "write-ahead log was in use" in result.output
