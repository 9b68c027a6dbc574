"""The staff console in headless Chromium, in a browser set to Shanghai time: the handoff
queue and the open transcript follow what customers do without a click (and the tab label
counts who waits), times show in the browser's zone, and no table column is squeezed or cut
off by a long cell.

Conversations are written straight into the served app's database, as the chat would store
them: these tests are about the console, and need no model answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage import db
from chatbot.storage import repositories as repo
from chatbot.storage.models import Conversation
from tests.e2e.test_browser import UI_TIMEOUT, sign_in
from tests.served import Server

pytestmark = pytest.mark.e2e

ZONE = "Asia/Shanghai"  # UTC+8 all year
# Longer than the console's poll interval (5 s) and a refresh after it.
LIVE_TIMEOUT = 30_000
MIN_COLUMN_PX = 60
LONG_TEXT = (
    "My parcel was sent to the wrong address and the courier says it was delivered although "
    "nobody was home, the tracking page shows three different depots and I have been "
    "waiting for more than two weeks for somebody to tell me where it is or refund me"
)


@pytest.fixture
def sessions(server: Server) -> Iterator[sessionmaker[Session]]:
    """The served app's own database."""
    engine = db.make_engine(f"sqlite:///{(server.data_dir / 'chatbot.db').resolve()}")
    yield db.make_sessions(engine)
    engine.dispose()


@pytest.fixture
def shanghai(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    """A browser profile whose clock is in Shanghai."""
    ctx = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 1000}, timezone_id=ZONE
    )
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def handed_off(
    sessions: sessionmaker[Session], question: str, when: datetime, contact: str | None = None
) -> str:
    """A conversation whose customer asked for a person at `when` (UTC); returns its id."""
    with sessions.begin() as s:
        conv = repo.create_conversation(s, "web", question)
        repo.add_user_message(s, conv, question, language="en").created_at = when
        bot = repo.add_assistant_message(
            s,
            conv.id,
            content="Of course. A member of our team will reply here.",
            decision="handoff",
            reason="requested",
            sources=[],
            latency_ms=5.0,
            first_token_ms=None,
            answer_mode="canned",
        )
        repo.mark_needs_human(s, conv.id, "requested")  # as the dialogue does on a handoff
        bot.created_at = when + timedelta(seconds=1)
        conv.created_at = when
        conv.contact = contact
        return conv.id


def customer_writes(sessions: sessionmaker[Session], conversation_id: str, text: str) -> None:
    with sessions.begin() as s:
        conv = repo.get_conversation(s, conversation_id)
        assert conv is not None
        repo.add_user_message(s, conv, text, language="en")


def declined(sessions: sessionmaker[Session], question: str) -> None:
    """A conversation of one question the bot could not answer, now."""
    with sessions.begin() as s:
        conv = repo.create_conversation(s, "web", question)
        repo.add_user_message(s, conv, question, language="en")
        repo.add_assistant_message(
            s,
            conv.id,
            content="Sorry, I don't know that.",
            decision="fallback",
            reason="low_score",
            sources=[],
            latency_ms=5.0,
            first_token_ms=None,
            answer_mode="canned",
        )


def waiting(sessions: sessionmaker[Session]) -> int:
    """How many customers wait for a person (other tests of the session hand off too)."""
    with sessions() as s:
        query = select(func.count()).where(
            Conversation.needs_human == true(), Conversation.handled_at.is_(None)
        )
        return int(s.scalar(query) or 0)


def customers(count: int) -> str:
    return f"{count} customer{'' if count == 1 else 's'} waiting"


def handoff_tab(page: Page) -> Locator:
    return page.get_by_role("tab", name="Handoff queue")


def assert_columns_fit(page: Page, table_id: str) -> None:
    """No header cell of the table narrower than MIN_COLUMN_PX, and the last column ends
    inside the table's frame (none pushed out of sight to the right)."""
    table = page.locator(f"#{table_id}")
    frame = table.locator(".virtual-table-viewport").first
    headers = table.locator("th.header-cell")
    expect(headers.first).to_be_visible()
    boxes = [h.bounding_box() for h in headers.all()]
    widths = [round(b["width"]) for b in boxes if b is not None]
    assert len(widths) == len(boxes) and widths, table_id
    assert min(widths) >= MIN_COLUMN_PX, f"{table_id}: column widths {widths}"
    outer = frame.bounding_box()
    last = boxes[-1]
    assert outer is not None and last is not None
    assert last["x"] + last["width"] <= outer["x"] + outer["width"] + 1, (
        f"{table_id}: the last column ends at {last['x'] + last['width']:.0f} px, "
        f"the table at {outer['x'] + outer['width']:.0f} px"
    )


def test_queue_and_transcript_follow_customers_in_the_browsers_time_zone(
    shanghai: BrowserContext, sessions: sessionmaker[Session], shot: Any
) -> None:
    token = uuid.uuid4().hex[:8]
    question = f"Please let a person call me about order {token}"
    # Long ago, so it heads the queue (longest waiting first): started 03:04:05 UTC, 11:04:05
    # there; waiting since the handoff answer a second later.
    first = handed_off(
        sessions,
        question,
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        contact=f"customer.{token}@a-rather-long-mail-domain.example.com",
    )
    console = sign_in(shanghai)
    expect(console.locator("#console-zone")).to_contain_text(f"{ZONE} (UTC+08:00)")
    handoff_tab(console).click()
    queue = console.locator("#handoff-queue")
    expect(queue).to_contain_text(question, timeout=UI_TIMEOUT)
    expect(queue).to_contain_text("2024-01-02 11:04:06")
    expect(handoff_tab(console)).to_contain_text(customers(waiting(sessions)))
    assert_columns_fit(console, "handoff-queue")

    queue.get_by_text(question).filter(visible=True).first.click()
    transcript = console.locator("#handoff-transcript")
    expect(transcript).to_contain_text(question, timeout=UI_TIMEOUT)
    expect(transcript).to_contain_text("started 2024-01-02 11:04:05")
    draft = "Hello, I am looking into your order and will"
    box = console.locator("#handoff-reply-text textarea")
    box.fill(draft)
    shot(console, "1-chosen")

    # The customer writes again; nobody presses anything in the console.
    news = f"My order number is {token}-4711, it is urgent"
    customer_writes(sessions, first, news)
    expect(transcript).to_contain_text(news, timeout=LIVE_TIMEOUT)
    expect(queue).to_contain_text(news, timeout=LIVE_TIMEOUT)
    # What the agent was typing is untouched by the refreshes.
    expect(box).to_have_value(draft)

    # Another customer hands off while the agent is on another tab: the tab label counts it.
    console.get_by_role("tab", name="Conversations").click()
    handed_off(sessions, f"I want to talk to a human {token}", datetime.now(UTC))
    expect(handoff_tab(console)).to_contain_text(customers(waiting(sessions)), timeout=LIVE_TIMEOUT)
    shot(console, "2-counted")
    handoff_tab(console).click()
    expect(console.locator("#handoff-summary")).to_contain_text(customers(waiting(sessions)))
    expect(box).to_have_value(draft)


def test_long_cells_squeeze_no_column(
    context: BrowserContext, sessions: sessionmaker[Session], shot: Any
) -> None:
    token = uuid.uuid4().hex[:8]
    question = f"{LONG_TEXT} ({token})"
    declined(sessions, question)
    console = sign_in(context)
    console.get_by_role("tab", name="Conversations").click()
    # The newest conversation (first on the list) has the long first message as its title.
    conversations = console.locator("#review-conversations")
    expect(conversations).to_contain_text(LONG_TEXT[:40], timeout=UI_TIMEOUT)
    assert_columns_fit(console, "review-conversations")

    console.get_by_role("tab", name="Analytics").click()
    unanswered = console.locator("#an-unanswered")
    expect(unanswered).to_contain_text(LONG_TEXT[:40], timeout=UI_TIMEOUT)
    shot(console, "analytics")
    for table in ("an-unanswered", "an-top", "an-latency", "an-languages"):
        assert_columns_fit(console, table)
