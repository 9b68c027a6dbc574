"""The website widget on a shop's own site: a second local server on another port (another
origin) serves a plain HTML shop page with the one-tag snippet; Chromium opens it, the
widget talks to the real `chatbot serve` across origins, and the streamed answer, its
sources and the signed-in customer id arrive. A shop page on an origin that is not allowed
loads the widget but cannot use the API: the browser blocks the calls (no CORS headers),
and the widget says it is not available.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import Browser, Page, expect

from chatbot.settings import LLAMACPP_GENERATOR
from chatbot.staff.conversations import ConversationLog
from chatbot.storage import db
from chatbot.web.widget.customer_id import sign
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_browser import ANSWER_TIMEOUT, UI_TIMEOUT
from tests.served import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

SECRET = "the shop's widget secret, 32+ chars"
CUSTOMER = "customer-4711"
QUESTION = "What is your return policy?"  # the sample shop FAQ answers it in two sentences
SUGGESTED = ["What is your return policy?", "Do you ship abroad?"]
WELCOME = "Welcome to Northwind! Ask us anything."
FOLLOW_UP = "Do you ship abroad?"
STAFF_REPLY = "Hello, this is Anna from Northwind."
# The shop's own styles, aimed at everything the widget is made of: none may reach it.
HOSTILE_CSS = (
    "button, textarea, section { display: none !important; } * { color: #f0f !important; }"
)

# Records the text of the first bot answer in the widget's shadow root after every change.
RECORDER = """() => {
  const root = document.querySelector('chatbot-widget').shadowRoot;
  const log = root.querySelector('.log');
  const records = [];
  new MutationObserver(() => {
    const first = log.querySelector('.msg.bot .text');
    const text = first ? first.textContent : '';
    if (text && records[records.length - 1] !== text) records.push(text);
  }).observe(log, {childList: true, subtree: true, characterData: true});
  window.__answers = records;
}"""


class ShopSite:
    """A plain HTTP server on 127.0.0.1 that serves one HTML page at `/`: the shop."""

    def __init__(self, page: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page().encode() if self.path == "/" else b"not found"
                self.send_response(200 if self.path == "/" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def snippet(bot: str, key: str, **options: str) -> str:
    attributes = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in options.items())
    return f'<script src="{bot}/widget.js" data-key="{key}" {attributes} async></script>'


def shop_page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Northwind</title>'
        f"<style>{HOSTILE_CSS}</style></head><body><h1>Northwind Outfitters</h1>"
        f"<p>Jackets, tents and boots.</p>{body}</body></html>"
    )


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, Any]]:
    """The shop's page (an allowed origin) and one on an origin the bot does not allow;
    their snippets are filled in once the bot runs and has keys."""
    pages: dict[str, str] = {"shop": "", "other": ""}
    shop = ShopSite(lambda: pages["shop"])
    other = ShopSite(lambda: pages["other"])
    try:
        yield {"pages": pages, "shop": shop, "other": other}
    finally:
        shop.close()
        other.close()


def created_key(server: Server, name: str, role: str) -> str:
    made = server.cli("keys", "create", name, "--role", role, "--rate", "600")
    assert made.returncode == 0, made.stdout + made.stderr
    found = re.search(r"cb_(?:pub|live)_\S+", made.stdout)
    assert found, made.stdout
    return found.group(0)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, sites: dict[str, Any]) -> Iterator[Server]:
    """`chatbot serve` that allows the shop's origin, checks signed customer ids, and
    generates every answer (so it streams sentence by sentence)."""
    s = start_server(
        tmp_path_factory.mktemp("widget"),
        {
            "CHATBOT_SERVER__ALLOWED_ORIGINS": sites["shop"].origin,
            "CHATBOT_WIDGET__CUSTOMER_ID_SECRET": SECRET,
            "CHATBOT_RETRIEVAL__APPROVED_ANSWERS": "false",
            "CHATBOT_MODELS__GENERATOR": LLAMACPP_GENERATOR,
        },
    )
    try:
        yield s
    finally:
        stop_server(s, ARTIFACTS)


@pytest.fixture(scope="module")
def keys(bot: Server, sites: dict[str, Any]) -> dict[str, str]:
    public = created_key(bot, "website-widget", "customer")
    staff = created_key(bot, "helpdesk", "agent")
    expires = str(int(time.time()) + 3600)
    sites["pages"]["shop"] = shop_page(
        snippet(
            bot.url,
            public,
            lang="en",
            position="right",
            welcome=WELCOME,
            questions="|".join(SUGGESTED),
            **{
                "customer-id": CUSTOMER,
                "customer-expires": expires,
                "customer-signature": sign(SECRET, CUSTOMER, int(expires)),
            },
        )
    )
    sites["pages"]["other"] = shop_page(
        snippet(bot.url, public, lang="auto", questions="|".join(SUGGESTED))
    )
    return {"public": public, "staff": staff}


def open_page(browser: Browser, url: str, locale: str) -> Page:
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale=locale)
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.goto(url)
    return page


def conversations_total(bot: Server, staff: str) -> int:
    r = httpx.get(
        f"{bot.url}/api/v1/conversations", headers={"Authorization": f"Bearer {staff}"}, timeout=30
    )
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def test_the_widget_on_an_allowed_shop_streams_an_answer_with_its_sources(
    browser: Browser, bot: Server, sites: dict[str, Any], keys: dict[str, str], shot: Any
) -> None:
    page = open_page(browser, sites["shop"].origin + "/", "en-US")
    try:
        bubble = page.get_by_role("button", name="Open the support chat")
        expect(bubble).to_be_visible(timeout=UI_TIMEOUT)  # the shop's `display: none` stays out
        shot(page, "1-bubble")
        bubble.click()
        panel = page.get_by_role("dialog", name="Support chat")
        expect(panel).to_be_visible()
        expect(panel).to_contain_text(WELCOME)
        for question in SUGGESTED:
            expect(panel.get_by_role("button", name=question)).to_be_visible()
        box = panel.get_by_role("textbox", name="Your question")
        expect(box).to_be_focused()  # opening puts the cursor in the box
        page.evaluate(RECORDER)

        box.fill(QUESTION)
        box.press("Enter")
        expect(
            panel.get_by_role("status", name="The assistant is writing an answer")
        ).to_be_visible()
        # The suggestions are for an empty chat only.
        expect(panel.get_by_role("button", name=SUGGESTED[1])).to_be_hidden()
        # Typed while the answer is on its way: it waits in the box, then goes by itself.
        box.fill(FOLLOW_UP)
        box.press("Enter")
        expect(box).to_have_value(FOLLOW_UP)
        answer = panel.locator(".msg.bot").first
        expect(answer.locator(".sources li").first).to_be_visible(timeout=ANSWER_TIMEOUT)
        shot(page, "2-answer")
        expect(answer.locator(".sources")).to_contain_text("Sources")
        expect(answer.locator(".sources a").first).to_have_attribute(
            "href", re.compile(r"^https://northwind\.example/")
        )
        texts: list[str] = page.evaluate("() => window.__answers")
        print(f"{len(texts)} states of the answer:", texts)
        assert len(texts) >= 2, f"the answer arrived in one piece: {texts}"
        assert all(b.startswith(a) for a, b in itertools.pairwise(texts)), texts
        assert "30 days" in texts[-1]
        assert panel.locator(".msg.customer").first.inner_text().endswith(QUESTION)
        expect(panel.locator(".msg.customer")).to_have_count(2)
        expect(box).to_have_value("")
        second = panel.locator(".msg.bot").nth(1)
        expect(second).to_have_attribute("data-decision", re.compile("."), timeout=ANSWER_TIMEOUT)
        # The page's own `* { color }` rule does not reach the widget's text either.
        color = answer.locator(".text").evaluate("e => getComputedStyle(e).color")
        assert color != "rgb(255, 0, 255)"

        # The signed-in customer's id reached the conversation; staff see it.
        r = httpx.get(
            f"{bot.url}/api/v1/conversations/{stored_conversation(page)}",
            headers={"Authorization": f"Bearer {keys['staff']}"},
            timeout=30,
        )
        assert r.json()["customer_id"] == CUSTOMER
        authors = [m["author"] for m in r.json()["messages"]]
        assert authors == ["customer", "bot", "customer", "bot"]

        # Escape closes the panel and gives the focus back to the bubble.
        box.press("Escape")
        expect(panel).to_be_hidden()
        expect(bubble).to_be_focused()
        expect(bubble).to_have_attribute("aria-expanded", "false")
        # Reopened after a reload, the conversation is still there.
        page.reload()
        page.get_by_role("button", name="Open the support chat").click()
        expect(panel.locator(".msg.bot .sources li").first).to_be_visible(timeout=UI_TIMEOUT)
        expect(panel.locator(".msg.customer").first).to_contain_text(QUESTION)
        expect(panel.locator(".msg.bot")).to_have_count(2)
    finally:
        page.context.close()


def stored_conversation(page: Page) -> str:
    """The id of the conversation the widget keeps for this browser tab."""
    stored = page.evaluate(
        "() => Object.entries(sessionStorage).find(([k]) => k.startsWith('chatbot-widget:'))"
    )
    found: str = json.loads(stored[1])["id"]
    return found


def test_after_a_handoff_a_staff_reply_appears_in_the_open_widget(
    browser: Browser, bot: Server, sites: dict[str, Any], keys: dict[str, str], shot: Any
) -> None:
    page = open_page(browser, sites["shop"].origin + "/", "en-US")
    engine = db.make_engine(f"sqlite:///{(bot.data_dir / 'chatbot.db').resolve()}")
    try:
        # From the keyboard: the bubble is a button, and opening puts the cursor in the box.
        page.get_by_role("button", name="Open the support chat").focus()
        page.keyboard.press("Enter")
        panel = page.get_by_role("dialog", name="Support chat")
        box = panel.get_by_role("textbox", name="Your question")
        expect(box).to_be_focused()
        page.keyboard.type("I want to talk to a human")
        panel.get_by_role("button", name="Send").click()
        handoff = panel.locator('.msg.bot[data-decision="handoff"]')
        expect(handoff).to_be_visible(timeout=ANSWER_TIMEOUT)
        assert handoff.locator(".text").inner_text().strip()  # the bot's handoff text
        # A staff member answers in the console (another process, the same database).
        log = ConversationLog(db.make_sessions(engine))
        log.reply_as_staff(stored_conversation(page), "admin", STAFF_REPLY)
        staff = panel.locator(".msg.staff")
        expect(staff).to_contain_text(STAFF_REPLY, timeout=30_000)
        expect(staff).to_have_count(1)
        shot(page, "staff-reply")
    finally:
        engine.dispose()
        page.context.close()


def test_a_page_on_an_origin_that_is_not_allowed_cannot_use_the_widget(
    browser: Browser, bot: Server, sites: dict[str, Any], keys: dict[str, str], shot: Any
) -> None:
    before = conversations_total(bot, keys["staff"])
    # `data-lang="auto"`: the widget follows the browser's language.
    page = open_page(browser, sites["other"].origin + "/", "zh-CN")
    refused: list[str] = []
    page.on("requestfailed", lambda request: refused.append(request.url))
    try:
        page.get_by_role("button", name="打开在线客服").click()
        panel = page.get_by_role("dialog", name="在线客服")
        panel.get_by_role("button", name=SUGGESTED[0]).click()
        expect(panel.get_by_role("alert")).to_have_text(
            "抱歉，在线客服暂时无法使用，请稍后再试。", timeout=UI_TIMEOUT
        )
        shot(page, "refused")
        assert any("/api/v1/conversations" in url for url in refused), refused
        expect(panel.locator(".msg.bot")).to_have_count(0)
    finally:
        page.context.close()
    assert conversations_total(bot, keys["staff"]) == before  # nothing reached the bot
