"""Masking personal data takes time linear in the message: a message made of digit groups,
which took minutes to mask (every window of groups was tried as a card number), is answered
as promptly as any other, and four of them at once do not hold the chat."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from tests.security.conftest import (
    Server,
    assert_responsive,
    chat,
    completed_output,
)

# Within the default message limit (2,000 characters): 1,000 one-digit groups. Masking
# tried every window of groups, so each of these took about 15 s of CPU (and held the
# interpreter lock); four took a minute, while every chat slot was taken.
DIGIT_GROUPS = "1 " * 999 + "1"
DASHED_GROUPS = "1-" * 999 + "1"
# Answers for these arrive within this many seconds (the small model, a loaded machine).
PROMPT_S = 30


def turn(server: Server, text: str) -> tuple[float, str]:
    """(seconds until the answer was complete, the completed output as JSON)."""
    with server.client(timeout=PROMPT_S * 3) as c:
        started = time.monotonic()
        output = completed_output(chat(c, text, timeout=PROMPT_S * 3))
        return time.monotonic() - started, json.dumps(output)


def test_messages_of_digit_groups_are_answered_promptly(server: Server) -> None:
    assert len(DIGIT_GROUPS) < 2000 and len(DASHED_GROUPS) < 2000
    elapsed, output = turn(server, DIGIT_GROUPS)
    assert elapsed < PROMPT_S, f"the answer took {elapsed:.1f} s"
    assert "characters long" not in output  # answered, not refused as too long

    # Four at once (every chat slot), and a plain question after them.
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        running = [pool.submit(turn, server, text) for text in (DIGIT_GROUPS, DASHED_GROUPS) * 2]
        time.sleep(1)
        assert_responsive(server)  # the page answers meanwhile
        [f.result() for f in running]
    turn(server, "How do I return an item?")
    total = time.monotonic() - started
    assert total < PROMPT_S * 1.5, f"four messages of digit groups took {total:.1f} s"
    assert_responsive(server)
