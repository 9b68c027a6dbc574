"""`chatbot serve` is ready when it says so: the models are loaded before it prints its
address and answers HTTP, so the first customer waits no longer than the next.

A real server (tests/served.py) with the packaged small models; the turns go through the
page's own `chat` endpoint with Gradio's Python client, as a browser's would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client

from tests.served import Server, start_server, stop_server

pytestmark = pytest.mark.integration

# Both answered from the sample FAQ by the model (approved answers off), one after the other.
FIRST = "How many days do I have to return an item?"
SECOND = "How do I cancel my order?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(
        tmp_path_factory.mktemp("warm"), {"CHATBOT_RETRIEVAL__APPROVED_ANSWERS": "false"}
    )
    try:
        yield s
    finally:
        stop_server(s)


def timed_turn(client: Client, question: str) -> tuple[float, str]:
    started = time.perf_counter()
    chat, *_ = client.predict(question, api_name="/chat")
    content = chat[-1]["content"]  # Gradio sends a message's text as typed parts
    text = "".join(p.get("text", "") for p in content) if isinstance(content, list) else content
    return time.perf_counter() - started, str(text)


def test_the_models_are_loaded_before_the_address_is_announced(server: Server) -> None:
    log = server.log_text()
    assert "Models ready in" in log, log
    assert log.index("Models ready in") < log.index("Customer chat: http://"), log


def test_the_first_answer_after_a_start_is_no_slower_than_the_next(
    server: Server, tmp_path: Path
) -> None:
    client = Client(server.url, verbose=False, download_files=str(tmp_path))
    first, first_answer = timed_turn(client, FIRST)
    second, second_answer = timed_turn(client, SECOND)
    print(f"first turn {first:.2f} s, second {second:.2f} s, ratio {first / second:.2f}")
    assert "Sources" in first_answer and "Sources" in second_answer
    # Loading the models on the first turn made it many times slower than the second (22 s
    # against about 1 s with the default models); a warm server answers both alike.
    assert first < 3 * second + 1.0, (first, second)
