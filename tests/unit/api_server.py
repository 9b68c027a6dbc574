"""The web app served by uvicorn on a free local port in a thread, for the API tests, and
helpers to read its Server-Sent Events."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from chatbot.container import Services
from chatbot.staff.actor import CLI
from chatbot.web.app import create_app

WAIT_S = 30.0
FAQ_CSV = "id,question,answer\nhours,When are you open?,9 to 5 on weekdays.\n"


@contextmanager
def served(services: Services) -> Iterator[str]:
    app = create_app(services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def new_key(services: Services, role: str, rate: int = 1000, name: str = "") -> str:
    return services.staff.keys.create(CLI, name or f"test-{role}", role, rate).key


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def client(url: str, key: str | None = None) -> httpx.Client:
    headers = bearer(key) if key else {}
    return httpx.Client(base_url=url, timeout=WAIT_S, headers=headers)


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) per event; comment lines (pings) as ("ping", None)."""
    events: list[tuple[str, Any]] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            events.append(("ping", None))
            continue
        event, data = "message", ""
        for line in block.splitlines():
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            elif field == "data":
                data += value
        events.append((event, data if data == "[DONE]" else json.loads(data)))
    return events
