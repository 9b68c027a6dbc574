"""The customer chat in a Chinese browser: Chinese labels (gr.I18n, by the browser's language),
Chinese replies to Chinese messages, and Chinese thumbs-down reasons. Headless Chromium against
the session's `chatbot serve` (conftest.py); fonts-noto-cjk draws the Chinese text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT, ask
from tests.served import Server

pytestmark = pytest.mark.e2e

# Something the sample shop's knowledge base (English or Chinese) does not cover.
OUT_OF_SCOPE = "蒙古的首都是哪里？"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def zh_context(browser: Any, server: Server) -> Iterator[BrowserContext]:
    """A browser set to Simplified Chinese: navigator.language and Accept-Language."""
    ctx = browser.new_context(
        base_url=server.url,
        viewport={"width": 1280, "height": 1000},
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def open_chinese_chat(context: BrowserContext) -> Page:
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#chat-input textarea")).to_be_editable(timeout=UI_TIMEOUT)
    return page


def test_a_chinese_browser_gets_a_chinese_page_and_a_chinese_decline(
    zh_context: BrowserContext, tmp_path: Path
) -> None:
    page = open_chinese_chat(zh_context)
    expect(page.get_by_role("heading", name="在线客服")).to_be_visible()
    expect(page.get_by_role("tab")).to_have_count(0)  # no lone "Chat" tab
    box = page.locator("#chat-input textarea")
    expect(box).to_have_attribute("placeholder", "输入问题后按回车键发送")
    expect(page.locator("#chat-send")).to_have_text("发送")
    expect(page.locator("#new-conversation")).to_have_text("新对话")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("您好！")  # the empty chat's greeting
    expect(page.get_by_text("Send", exact=True)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "1-empty.png"), full_page=True)

    ask(page, OUT_OF_SCOPE)
    expect(chat).to_contain_text("请直接回复“转人工”", timeout=ANSWER_TIMEOUT)
    expect(chat).not_to_contain_text("I don't know")
    screenshot = tmp_path / "2-decline.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert HAN.search(chat.inner_text())


def test_a_chinese_handoff_and_chinese_feedback_reasons(
    zh_context: BrowserContext, tmp_path: Path
) -> None:
    page = open_chinese_chat(zh_context)
    ask(page, "转人工")  # what the Chinese decline tells the customer to say
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("已将本次对话转交给客服团队", timeout=ANSWER_TIMEOUT)
    expect(chat).to_contain_text("电子邮箱或电话号码")

    # The thumbs-down reasons under the answer's flag are Chinese too.
    chat.get_by_role("button", name="Feedback").last.click()
    expect(chat.get_by_role("button", name="答案有误")).to_be_visible()
    expect(chat.get_by_role("button", name="没有回答我的问题")).to_be_visible()
    page.screenshot(path=str(tmp_path / "handoff.png"), full_page=True)


def test_an_english_question_in_a_chinese_browser_gets_an_english_reply(
    zh_context: BrowserContext,
) -> None:
    page = open_chinese_chat(zh_context)
    expect(page.locator("#chat-send")).to_have_text("发送")
    ask(page, "What is the capital of Mongolia?")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("talk to a human", timeout=ANSWER_TIMEOUT)
    expect(page.locator("#chat-send")).to_have_text("发送")  # the page stays Chinese
