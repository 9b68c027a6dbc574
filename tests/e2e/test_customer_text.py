"""What the customer reads in the chat, in headless Chromium against the session's `chatbot
serve` (conftest.py): their own message exactly as typed (no HTML, markdown or links of its
own, also when the conversation comes back on reload), and an answer laid out as its FAQ
entry was written: wrapped lines as one paragraph, a list as list items.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT, ask, open_chat
from tests.served import Server

pytestmark = pytest.mark.e2e

TYPED = "<img src=x onerror=alert(1)> and [click](https://example.com)"

LIST_QUESTION = "How do I season a cast iron camping skillet?"
LIST_ITEMS = [
    "Use a neutral oil such as sunflower",
    "Heat it upside down over the camp stove",
    "Repeat three times before the first trip",
]
# An FAQ entry as a text editor wraps it (at 80 columns), its list one "•" item per line.
LIST_FAQ = (
    "# Camp kitchen care\n\n"
    f"## {LIST_QUESTION}\n\n"
    "Wash the skillet with hot water and a brush, dry it over a low flame, then rub a\n"
    "thin layer of cooking oil over every surface and heat it until it stops smoking.\n\n"
    + "".join(f"• {item}\n" for item in LIST_ITEMS)
)


def user_bubbles(page: Page) -> Locator:
    return page.locator('#chatbot [data-testid="user"]')


def last_answer(page: Page) -> Locator:
    """The last bot message that is not Gradio's typing indicator."""
    return page.locator("#chatbot .message.bot:not(.pending)").last


def assert_shown_as_typed(page: Page) -> None:
    bubble = user_bubbles(page)
    expect(bubble).to_have_count(1, timeout=UI_TIMEOUT)
    expect(bubble).to_contain_text("onerror")
    assert bubble.inner_text().strip() == TYPED
    expect(bubble.locator("img")).to_have_count(0)
    expect(bubble.locator("a")).to_have_count(0)


def test_the_customers_message_shows_exactly_as_typed(context: BrowserContext, shot: Any) -> None:
    page = open_chat(context)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    ask(page, TYPED)
    assert_shown_as_typed(page)
    # Let the turn end (the message is stored), then reload: the conversation comes back.
    expect(last_answer(page)).to_have_text(re.compile(r"\S"), timeout=ANSWER_TIMEOUT)
    expect(page.locator("#chatbot .pending")).to_have_count(0, timeout=ANSWER_TIMEOUT)
    shot(page, "1-sent")
    page.reload()
    expect(page.locator("#chat-input textarea")).to_be_visible(timeout=UI_TIMEOUT)
    assert_shown_as_typed(page)
    shot(page, "2-reloaded")
    assert alerts == []


def test_an_answer_shows_its_paragraph_whole_and_its_list_as_items(
    server: Server, context: BrowserContext, shot: Any, tmp_path: Path
) -> None:
    faq = tmp_path / "e2e_camp_kitchen.md"
    faq.write_text(LIST_FAQ, encoding="utf-8")
    ingested = server.cli("ingest", str(faq))
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr

    page = open_chat(context)
    ask(page, LIST_QUESTION)
    answer = last_answer(page)
    expect(answer).to_contain_text(LIST_ITEMS[-1], timeout=ANSWER_TIMEOUT)
    shot(page, "answer")
    # The bullets are list items (the Sources block below is a numbered list of its own).
    items = answer.locator("ul > li")
    expect(items).to_have_count(len(LIST_ITEMS))
    assert [item.inner_text().strip() for item in items.all()] == LIST_ITEMS
    # The two wrapped lines are one paragraph, with no line break where the file wrapped.
    paragraph = answer.locator("p", has_text="Wash the skillet")
    expect(paragraph).to_have_count(1)
    expect(paragraph.locator("br")).to_have_count(0)
    expect(paragraph).to_contain_text("rub a thin layer")
