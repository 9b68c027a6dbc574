"""The staff console in headless Chromium: a Chinese customer's conversation shows its language
in the Conversations list and is found with the language filter; the analytics page counts
questions per language and groups the same question asked in Chinese and in English."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import BrowserContext, expect

from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT, ask, open_chat, sign_in
from tests.served import Server

pytestmark = pytest.mark.e2e

QUESTION = "你们的退货政策是什么？"
ENGLISH_QUESTION = "What is your returns policy?"
CHINESE = "zh (中文)"


def test_conversation_language_is_listed_filtered_and_counted(
    browser: Any, server: Server, context: BrowserContext, shot: Any
) -> None:
    for question in (ENGLISH_QUESTION, QUESTION):
        # A fresh browser profile: each question starts a conversation of its own.
        customer = browser.new_context(base_url=server.url)
        try:
            page = open_chat(customer)
            ask(page, question)
            chat = page.locator("#chatbot")
            expect(chat).to_contain_text(question, timeout=UI_TIMEOUT)
            # A bot answer has a feedback button: the turn was stored.
            feedback = chat.get_by_role("button", name="Feedback")
            expect(feedback.first).to_be_visible(timeout=ANSWER_TIMEOUT)
        finally:
            customer.close()

    console = sign_in(context)
    console.get_by_role("tab", name="Conversations").click()
    language = console.locator("#review-language")
    # The filter's choices are the languages stored conversations are in.
    language.locator("input").click()
    console.get_by_role("option", name=CHINESE).click()
    info = console.locator("#review-page-info")
    expect(info).to_contain_text("conversations 1-", timeout=UI_TIMEOUT)
    table = console.locator("#review-conversations")
    expect(table).to_contain_text(QUESTION)
    expect(table).to_contain_text(CHINESE)
    expect(table).not_to_contain_text(ENGLISH_QUESTION)
    expect(table).not_to_contain_text("en (English)")
    shot(console, "1-filtered")

    console.get_by_role("tab", name="Analytics").click()
    languages = console.locator("#an-languages")
    expect(languages).to_contain_text(CHINESE, timeout=UI_TIMEOUT)
    expect(languages).to_contain_text("en (English)")
    # The two questions mean the same: one group, whatever the language.
    shot(console, "2-languages")
    group = console.locator("#an-top").get_by_role("row").filter(has_text=QUESTION)
    expect(group).to_contain_text(ENGLISH_QUESTION)
