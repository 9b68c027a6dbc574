"""The customer sees a typing indicator until the first checked text, then text that only
grows: nothing shown is ever changed or taken back.

A page-side MutationObserver records the chat after every DOM change: whether Gradio's
typing indicator is there, and the text of the last bot message. The server is its own,
with approved FAQ answers off, so the reply is written by the model and checked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import Browser, Page, expect

from chatbot.settings import LLAMACPP_GENERATOR
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT
from tests.served import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

QUESTION = "How long do I have to return an item?"  # the sample shop FAQ covers it

# Gradio's own typing indicator (chatbot/ui/chat.py TYPING): a status element with a label
# for screen readers. A bot message is any other `.message.bot`.
RECORDER = """() => {
  const chat = document.querySelector('#chatbot');
  const records = [];
  const snap = () => {
    const typing = chat.querySelector('.pending[role="status"]');
    const bots = chat.querySelectorAll('.message.bot:not(.pending)');
    const last = bots.length ? bots[bots.length - 1].innerText : '';
    const rec = {
      t: performance.now() - (window.__sentAt ?? performance.now()),
      typing: typing !== null,
      label: typing ? typing.getAttribute('aria-label') : null,
      text: last.replace(/\\s+/g, ' ').trim(),
    };
    const prev = records[records.length - 1];
    if (!prev || prev.typing !== rec.typing || prev.text !== rec.text) records.push(rec);
  };
  new MutationObserver(snap).observe(chat, {
    childList: true, subtree: true, characterData: true, attributes: true,
  });
  window.__records = records;
}"""


@pytest.fixture(scope="module")
def generating_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`chatbot serve` that generates every answer (no stored FAQ answer is sent as is)."""
    s = start_server(
        tmp_path_factory.mktemp("stream"),
        {
            "CHATBOT_RETRIEVAL__APPROVED_ANSWERS": "false",
            # The product's default model: its answers pass the check and stream as sentences.
            "CHATBOT_MODELS__GENERATOR": LLAMACPP_GENERATOR,
        },
    )
    try:
        yield s
    finally:
        stop_server(s, ARTIFACTS)


@pytest.fixture
def page(browser: Browser, generating_server: Server) -> Iterator[Page]:
    ctx = browser.new_context(
        base_url=generating_server.url, viewport={"width": 1280, "height": 1000}
    )
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.goto("/")
    expect(page.locator("#chat-input textarea")).to_be_editable(timeout=UI_TIMEOUT)
    yield page
    ctx.close()


def test_typing_indicator_first_then_answer_text_only_grows(page: Page, shot: Any) -> None:
    chat = page.locator("#chatbot")
    page.evaluate(RECORDER)
    page.locator("#chat-input textarea").fill(QUESTION)
    page.evaluate("() => { window.__sentAt = performance.now(); }")
    page.locator("#chat-send").click()
    expect(chat.locator('.pending[role="status"]')).to_be_visible(timeout=UI_TIMEOUT)
    shot(page, "1-typing")
    expect(chat).to_contain_text("Sources", timeout=ANSWER_TIMEOUT)  # the last update
    expect(chat.locator('.pending[role="status"]')).to_have_count(0)
    shot(page, "2-answer")

    records: list[dict[str, Any]] = page.evaluate("() => window.__records")
    for r in records:
        print(f"{r['t']:8.0f} ms  typing={r['typing']!s:5}  {r['text'][:100]!r}")
    first_typing = next(i for i, r in enumerate(records) if r["typing"])
    first_text = next(i for i, r in enumerate(records) if r["text"])
    print(
        f"typing indicator after {records[first_typing]['t']:.0f} ms, "
        f"first answer text after {records[first_text]['t']:.0f} ms"
    )
    assert first_typing < first_text, "the answer text came before any typing indicator"
    # Screen readers hear it: the indicator has an accessible name.
    assert records[first_typing]["label"]

    texts = [r["text"] for r in records if r["text"]]
    changed = [(a, b) for a, b in itertools.pairwise(texts) if not b.startswith(a)]
    assert not changed, f"shown text was changed or removed: {changed[:3]}"
    final = texts[-1]
    answer = final.split("Sources")[0].strip()
    assert answer and re.search(r"\w", answer)
