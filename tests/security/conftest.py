"""The served app under attack: `chatbot serve` in a subprocess, probed over real HTTP.

One server per test session (`server`) with the real packaged models, the sample knowledge
base, an admin and an agent. Tests that need other settings or that break the server on
purpose start their own with `start_server(root, env)` (tests/served.py).

Every test ends by checking that the server still answers `/` within a second
(`assert_responsive`): a refused attack must not have frozen it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import served
from tests.served import ARTIFACTS, Server

ADMIN = ("admin", "security admin password 1")
AGENT = ("agent", "security agent password 1")
SECURITY_ARTIFACTS = ARTIFACTS / "security"


def start_server(
    root: Path, extra_env: Mapping[str, str] | None = None, *, users: bool = True
) -> Server:
    """`chatbot serve` with its own data dir under `root`, the admin and agent created first
    (unless `users=False`)."""
    staff = [(*ADMIN, "admin"), (*AGENT, "agent")] if users else []
    return served.start_server(root, extra_env, users=staff)


def stop_server(server: Server) -> None:
    served.stop_server(server, SECURITY_ARTIFACTS)


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


def chat(c: httpx.Client, text: str, timeout: float = 60) -> list[dict[str, Any]]:
    """One customer turn the way the browser sends it: the textbox value, then the other
    inputs as the page holds them at the start (per-session state is kept by the server)."""
    [dep] = [d for d in config(c)["dependencies"] if d.get("api_name") == "chat"]
    data: list[Any] = [text, *[None] * (len(dep["inputs"]) - 1)]
    return queue_join(c, "", fn_index(c, "", "chat"), data, timeout=timeout)
