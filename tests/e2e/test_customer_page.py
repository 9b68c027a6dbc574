"""The customer page as a shop deploys it: its name, logo and colour, a greeting and
suggested questions, clean citations that survive a reload, no useless share or trash
buttons, and a message typed while an answer is on its way is kept and sent after it.

Its own `chatbot serve`, branded through the CHATBOT_BRANDING__* settings. Screenshots go to
tests/artifacts/e2e/ (the customer page in English and Chinese, typing, answer, sources).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT
from tests.served import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

SHOP = "Northwind Outfitters"
COLOR = "#0f766e"  # rgb(15, 118, 110)
WELCOME = "Welcome to Northwind! Ask about orders, returns and delivery."
FIRST = "How many days do I have to return an item?"
SECOND = "How do I cancel my order?"
# Two answers to write: the first turn takes long enough to type the next message.
TWO_PARTS = "How many days do I have to return an item, and do you ship to Canada?"
TYPING = '.pending[role="status"]'


@pytest.fixture(scope="module")
def branded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("branded")
    logo = root / "logo.png"
    Image.new("RGB", (64, 64), (15, 118, 110)).save(logo)
    s = start_server(
        root,
        {
            "CHATBOT_BRANDING__NAME": SHOP,
            "CHATBOT_BRANDING__LOGO": str(logo),
            "CHATBOT_BRANDING__COLOR": COLOR,
            "CHATBOT_BRANDING__WELCOME": WELCOME,
            "CHATBOT_SAMPLE_KB": "both",
            # Every answer generated (seconds each): a message typed meanwhile must wait.
            "CHATBOT_RETRIEVAL__APPROVED_ANSWERS": "false",
        },
    )
    try:
        yield s
    finally:
        stop_server(s, ARTIFACTS)


def new_context(browser: Browser, server: Server, language: str = "en-US") -> BrowserContext:
    ctx = browser.new_context(
        base_url=server.url,
        viewport={"width": 1100, "height": 900},
        extra_http_headers={"Accept-Language": language},
        locale=language,
    )
    ctx.set_default_timeout(30_000)
    return ctx


@pytest.fixture
def page(browser: Browser, branded: Server) -> Iterator[Page]:
    ctx = new_context(browser, branded)
    page = ctx.new_page()
    page.goto("/")
    expect(page.locator("#chat-input textarea")).to_be_editable(timeout=UI_TIMEOUT)
    yield page
    ctx.close()


def test_the_page_carries_the_shops_name_logo_colour_and_greeting(page: Page, shot: Any) -> None:
    expect(page).to_have_title(SHOP)
    expect(page.get_by_role("heading", name=SHOP)).to_be_visible()
    logo = page.locator("#brand-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.naturalWidth") == 64  # the shop's image, decoded
    expect(page.get_by_role("tab")).to_have_count(0)
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text(WELCOME, timeout=UI_TIMEOUT)
    # Suggested questions: the sample FAQ's first ones, in English for an English browser.
    expect(chat.get_by_role("button", name="How do I cancel my order?")).to_be_visible()
    send = page.locator("#chat-send")
    assert send.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(15, 118, 110)"
    shot(page, "1-branded")


def test_a_suggested_question_is_asked_with_one_click(page: Page, shot: Any) -> None:
    chat = page.locator("#chatbot")
    chat.get_by_role("button", name=SECOND).click()
    expect(chat.locator(".message.user")).to_have_text(SECOND, timeout=UI_TIMEOUT)
    expect(chat).to_contain_text("Sources", timeout=ANSWER_TIMEOUT)
    user = chat.locator(".message.user").first
    assert user.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(15, 118, 110)"
    shot(page, "2-suggested")


def test_a_message_typed_while_an_answer_is_on_its_way_is_kept_and_sent(
    page: Page, shot: Any
) -> None:
    chat = page.locator("#chatbot")
    box = page.locator("#chat-input textarea")
    box.fill(TWO_PARTS)
    box.press("Enter")
    # The turn has taken the message (it shows in the chat, the box is empty).
    expect(chat.locator(".message.user")).to_have_text(TWO_PARTS, timeout=UI_TIMEOUT)
    box.fill(SECOND)
    box.press("Enter")
    # Sent while the first answer was on its way (a generated answer takes seconds)...
    assert "Sources" not in chat.inner_text()
    # ...it is not lost: the box shows it while the first answer is written...
    expect(box).to_have_value(SECOND)
    shot(page, "3-typing")
    expect(chat.locator(".message.user")).to_have_count(1)
    # ...and it is sent when that answer is complete, and answered too.
    expect(chat.locator(".message.user")).to_have_count(2, timeout=ANSWER_TIMEOUT)
    expect(chat.locator(".message.user").nth(1)).to_have_text(SECOND)
    expect(box).to_have_value("")
    expect(chat.get_by_text("Sources", exact=True)).to_have_count(2, timeout=ANSWER_TIMEOUT)
    expect(chat).not_to_contain_text("Please type a question")  # the second was not empty
    expect(chat.locator(TYPING)).to_have_count(0, timeout=ANSWER_TIMEOUT)
    shot(page, "4-both-answered")


def test_citations_are_clean_and_survive_a_reload(page: Page, shot: Any) -> None:
    chat = page.locator("#chatbot")
    box = page.locator("#chat-input textarea")
    box.fill(FIRST)
    box.press("Enter")
    expect(chat.get_by_text("Sources", exact=True)).to_have_count(1, timeout=ANSWER_TIMEOUT)
    answer = chat.locator(".message.bot").last
    expect(answer.locator("a[href='https://northwind.example/help/returns']")).to_have_count(1)
    text = answer.inner_text()
    cited = text.split("Sources", 1)[1]
    for internal in ("returns-window", "shop_faq.csv", "score", "Staff-edited"):
        assert internal not in cited, cited
    # The cited lines are titles only: no snippet repeating the answer.
    assert "30 days" not in cited
    # No share-to-Hugging-Face or trash button; a copy button per message stays.
    assert chat.locator('button[aria-label="Share"], button[title="Share"]').count() == 0
    expect(chat.locator("button:visible", has=page.locator("svg"))).not_to_have_count(0)
    for label in ("Clear", "清空对话"):
        expect(chat.locator(f'button[aria-label="{label}"]:visible')).to_have_count(0)
    shot(page, "5-sources")

    page.reload()
    restored = page.locator("#chatbot .message.bot").last
    expect(restored).to_contain_text("Sources", timeout=UI_TIMEOUT)
    expect(restored.locator("a[href='https://northwind.example/help/returns']")).to_have_count(1)
    shot(page, "6-reloaded")


def test_a_chinese_customer_gets_the_page_in_chinese_with_a_chinese_font(
    browser: Browser, branded: Server, shot: Any
) -> None:
    ctx = new_context(browser, branded, "zh-CN")
    try:
        page = ctx.new_page()
        page.goto("/")
        box = page.locator("#chat-input textarea")
        expect(box).to_be_editable(timeout=UI_TIMEOUT)
        chat = page.locator("#chatbot")
        expect(chat).to_contain_text(WELCOME, timeout=UI_TIMEOUT)  # the shop's own text
        question = "如何取消订单？"
        expect(chat.get_by_role("button", name=question)).to_be_visible()
        chat.get_by_role("button", name=question).click()
        expect(chat.get_by_text("参考来源", exact=True)).to_have_count(1, timeout=ANSWER_TIMEOUT)
        # Han characters drawn with a CJK font, not as boxes: their glyphs have width.
        width = page.evaluate(
            "() => { const c = document.createElement('canvas').getContext('2d');"
            " c.font = '16px sans-serif'; return c.measureText('取消订单').width; }"
        )
        assert width > 40
        # No trash button in Chinese either (its label is translated).
        expect(chat.locator(".top-panel button:visible")).to_have_count(0)
        path = shot(page, "7-chinese")
        assert Path(path).stat().st_size > 10_000
    finally:
        ctx.close()
