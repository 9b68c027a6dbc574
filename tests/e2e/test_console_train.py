"""The Train tab in headless Chromium against a server of its own (a training changes the
stored embeddings and the active version, which the shared server's other tests must not
see): an admin starts a short training of the small English embedder on the sample
knowledge base, follows the progress bar, reloads the page and finds the same training,
reads the figures and the adoption, and rolls back; the audit log lists it all. The choice of
the generator's training and its adapters' table are there too (a generator training takes
minutes a step on a CPU: the unit tests run it with a stand-in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ADMIN_NAME, ADMIN_PASSWORD, ARTIFACTS
from tests.e2e.test_browser import UI_TIMEOUT, sign_in
from tests.served import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

TRAINING_TIMEOUT = 300_000  # a few steps, encoding and measuring on a busy small CPU
SHORT = {
    # The English model alone, 5 steps: the smallest training that runs every phase.
    "CHATBOT_MODELS__MULTILINGUAL_EMBEDDER": "",
    "CHATBOT_TRAINING__EPOCHS": "1",
    "CHATBOT_TRAINING__BATCH_SIZE": "8",
    "CHATBOT_TRAINING__MAX_PAIRS": "40",
}


@pytest.fixture(scope="module")
def training_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(
        tmp_path_factory.mktemp("e2e-train"),
        SHORT,
        users=[(ADMIN_NAME, ADMIN_PASSWORD, "admin")],
    )
    try:
        yield s
    finally:
        stop_server(s, ARTIFACTS / "train")


@pytest.fixture
def train_context(browser: object, training_server: Server) -> Iterator[BrowserContext]:
    ctx = browser.new_context(  # type: ignore[attr-defined]
        base_url=training_server.url, viewport={"width": 1280, "height": 1000}
    )
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def open_train_tab(page: Page) -> None:
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-active")).to_contain_text("Active:", timeout=UI_TIMEOUT)


def test_an_admin_trains_follows_the_progress_across_a_reload_and_rolls_back(
    train_context: BrowserContext, training_server: Server, shot: Any
) -> None:
    page = sign_in(train_context)
    open_train_tab(page)
    progress = page.locator("#train-progress")
    expect(progress).to_contain_text("No training has run", timeout=UI_TIMEOUT)
    expect(page.locator("#train-active")).to_contain_text("Active: base")
    # The other kind: the generator, with its own boxes and adapters table (none trained yet).
    kind = page.locator("#train-kind")
    expect(kind).to_contain_text("Retrieval (search and decline)")
    max_steps = page.locator("#train-max-steps")
    expect(max_steps).to_be_hidden()
    kind.get_by_text("Answers (generator, LoRA)").click()
    expect(max_steps).to_be_visible(timeout=UI_TIMEOUT)
    expect(page.locator("#train-generator-versions")).to_be_visible()
    expect(page.locator("#train-generator-active")).to_contain_text(
        "Active generator adapter: base", timeout=UI_TIMEOUT
    )
    kind.get_by_text("Retrieval (search and decline)").click()  # what this test trains
    expect(max_steps).to_be_hidden(timeout=UI_TIMEOUT)

    page.locator("#train-start").click()
    expect(page.locator("#train-message")).to_contain_text("Training started: 1 epoch(s)")
    # The timer brings the steps in without a click.
    expect(progress).to_contain_text(re.compile(r"training · \d of 5 steps"), timeout=UI_TIMEOUT)
    shot(page, "progress")
    page.locator("#train-start").click()  # a second one is refused while it runs
    expect(page.locator("#train-message")).to_contain_text("is running")

    # The training lives in the server: a reloaded page shows it (still running, or ended).
    page.reload()
    expect(page.locator("#console-user")).to_contain_text(ADMIN_NAME, timeout=UI_TIMEOUT)
    open_train_tab(page)
    expect(progress).to_contain_text(
        re.compile(r"Training \(started by admin\)|The last training was adopted or measured"),
        timeout=UI_TIMEOUT,
    )
    outcome = page.locator("#train-outcome")
    expect(outcome).to_contain_text(re.compile("Adopted:|Not adopted:"), timeout=TRAINING_TIMEOUT)
    figures = page.locator("#train-figures")
    for row in ("before (model and threshold in use)", "after (trained, its threshold)"):
        expect(figures).to_contain_text(row)
    versions = page.locator("#train-versions")
    expect(versions).to_contain_text("v1", timeout=UI_TIMEOUT)

    # The caption comes with the versions table: it names the version now active.
    adopted = "Active: v1" in (page.locator("#train-active").text_content() or "")
    expect(outcome).to_contain_text("Adopted:" if adopted else "Not adopted:")
    if adopted:
        expect(outcome).to_contain_text("Restart chatbot serve to use it.")
    # Back to the packaged model (also when it stayed active: the index is rebuilt with it).
    box = page.locator("#train-version textarea")
    box.fill("base")
    page.locator("#train-rollback").click()
    message = page.locator("#train-message")
    expect(message).to_contain_text("Active: base.", timeout=UI_TIMEOUT)
    expect(message).to_contain_text("Restart chatbot serve to use it.")
    expect(page.locator("#train-active")).to_contain_text("Active: base", timeout=UI_TIMEOUT)
    box.fill("")  # the one before the active one: there is none before the base model
    page.locator("#train-rollback").click()
    expect(message).to_contain_text("the base model is already active", timeout=UI_TIMEOUT)
    page.locator("#train-generator-rollback").click()  # no adapter was ever adopted
    expect(message).to_contain_text("the base generator is already active", timeout=UI_TIMEOUT)

    page.get_by_role("tab", name="Audit log").click()
    page.locator("#audit-refresh").click()
    entries = page.locator("#audit-entries")
    for action in ("training.start", "training.end", "training.rollback"):
        expect(entries).to_contain_text(action, timeout=UI_TIMEOUT)
