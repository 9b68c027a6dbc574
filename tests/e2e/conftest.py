"""The real app in a real browser: `chatbot serve` in a subprocess, headless Chromium.

The server runs once per test session with the real packaged models (the small MiniLM
embedder, to keep start-up and ingest fast) in a temporary data dir (see tests/served.py);
the sample knowledge base loads on its first start. The browser is Debian's `chromium`
(`make e2e-deps` installs it), driven by Playwright, which never downloads a browser.
"""

from __future__ import annotations

import os

# Never let Playwright fetch a browser; only the system Chromium is used.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.served import Server, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "e2e"
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "e2e admin password 1"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`chatbot serve` on a free port of 127.0.0.1, with a staff admin created first."""
    s = start_server(tmp_path_factory.mktemp("e2e"), users=[(ADMIN_NAME, ADMIN_PASSWORD, "admin")])
    try:
        yield s
    finally:
        # The server log goes next to the screenshots, for a failed CI run.
        stop_server(s, ARTIFACTS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # A missing browser is a broken test environment, not a reason to pass: fail loudly.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make e2e-deps` (apt-get install chromium)")
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser profile per test (no cookies shared), downloads allowed."""
    ctx = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 1000}, accept_downloads=True
    )
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """`shot(page, "step")` saves a full-page screenshot to tests/artifacts/e2e/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = request.node.name.removeprefix("test_")

    def save(page: Any, step: str) -> Path:
        path = ARTIFACTS / f"{prefix}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
