"""A customer message has a size limit: a huge one is refused at once with a clear reply, is
not stored (so it never reaches staff browsers) and never reaches the model."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

from tests.security.conftest import (
    Server,
    assert_responsive,
    chat,
    completed_output,
)

LIMIT = 2000  # the default CHATBOT_CHAT__MAX_MESSAGE_CHARS


def stored_with(server: Server, marker: str) -> tuple[int, int]:
    """(messages containing `marker`, messages longer than the limit) in the database."""
    with sqlite3.connect(server.data_dir / "chatbot.db") as db:
        marked = db.execute(
            "SELECT count(*) FROM messages WHERE instr(content, ?) > 0", (marker,)
        ).fetchone()[0]
        long = db.execute(
            "SELECT count(*) FROM messages WHERE length(content) > ?", (LIMIT,)
        ).fetchone()[0]
    return int(marked), int(long)


def test_a_100_kb_message_is_refused_promptly_and_not_stored(server: Server) -> None:
    c = server.client(timeout=30)
    marker = f"marker-{uuid.uuid4().hex}"
    # Letters and spaces only: the message is long, not slow to mask.
    message = f"How do I return an item? {marker} " + "please help me " * 6_700
    assert len(message) > 100_000
    started = time.monotonic()
    messages = chat(c, message, timeout=20)
    elapsed = time.monotonic() - started
    output = json.dumps(completed_output(messages))
    assert f"Your message is {len(message.strip()):,} characters long" in output
    assert f"I can read at most {LIMIT:,}" in output and "shorter message" in output
    assert elapsed < 10, f"the refusal took {elapsed:.1f} s"
    assert stored_with(server, marker) == (0, 0)

    # A message at the limit is still answered and stored.
    ok = f"How do I return an item? {marker}".ljust(LIMIT, "?")
    completed_output(chat(c, ok, timeout=120))
    assert stored_with(server, marker) == (1, 0)
    assert_responsive(server)
