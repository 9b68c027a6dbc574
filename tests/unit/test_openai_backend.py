"""The openai backend against a small OpenAI-compatible server started here on 127.0.0.1: it
speaks the streaming chat-completions format (server-sent events), and can be slow, refuse,
or be down. The same backend against llama.cpp's own server: tests/integration.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from chatbot.cli.main import settings_problems
from chatbot.container import Services
from chatbot.dialogue.manager import ERROR_TEXT, Reply
from chatbot.generation.base import ChatMessage, GenerationTimeout
from chatbot.generation.factory import build_generator
from chatbot.generation.openai_backend import (
    InferenceServerError,
    OpenAIGenerator,
    estimate_tokens,
)
from chatbot.settings import ModelSettings, Settings
from chatbot.staff.conversations import TranscriptView
from chatbot.storage.models import Message
from tests.conftest import REPO_ROOT

PROMPT: list[ChatMessage] = [
    {"role": "system", "content": "Answer from the passage."},
    {"role": "user", "content": "How do I return an item?"},
]
FAQ = b"""id,question,answer,category,url
returns,How do I return an item?,Start a return from the Order History page.,Returns,
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping,
"""
ANSWER = ["Start", " a return", " from the", " Order History", " page."]


@dataclass
class Behaviour:
    """What the fake server does with the next chat completion."""

    pieces: list[str] = field(default_factory=lambda: list(ANSWER))
    wait_before_s: float = 0.0  # before the response headers (a busy or stalled server)
    wait_between_s: float = 0.0  # between two pieces (a slow model)
    status: int = 200
    error: str = ""
    models: list[str] = field(default_factory=lambda: ["served-model"])
    api_key: str | None = None


class FakeServer:
    """Records each request; `written` counts the pieces sent, `disconnected` is set when
    the client went away mid-answer."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.written = 0
        self.disconnected = threading.Event()
        self.finished = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

            def _headers(self) -> dict[str, str]:
                return {k.lower(): v for k, v in self.headers.items()}

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                key = fake.behaviour.api_key
                if key is None or self.headers.get("Authorization") == f"Bearer {key}":
                    return True
                self._json(401, {"error": {"message": "Invalid API Key", "code": 401}})
                return False

            def do_GET(self) -> None:
                fake.requests.append((self.path, self._headers(), None))
                if not self._authorised():
                    return
                if self.path == "/v1/models":
                    models = [{"id": m, "object": "model"} for m in fake.behaviour.models]
                    self._json(200, {"object": "list", "data": models})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                fake.requests.append((self.path, self._headers(), body))
                b = fake.behaviour
                time.sleep(b.wait_before_s)
                if not self._authorised():
                    return
                if b.status != 200:
                    self._json(b.status, {"error": {"message": b.error, "code": b.status}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    self._event({"role": "assistant", "content": None})
                    for piece in b.pieces:
                        self._event({"content": piece})
                        fake.written += 1
                        time.sleep(b.wait_between_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    fake.disconnected.set()
                finally:
                    fake.finished.set()

            def _event(self, delta: dict[str, Any]) -> None:
                chunk = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "served-model",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [body for path, _, body in self.requests if path == "/v1/chat/completions"]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then let go): a server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def down_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "generate"]


def wait_for(condition: Any, within_s: float = 5.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def transcript(services: Services, reply: Reply) -> TranscriptView:
    assert reply.conversation_id is not None
    view = services.conversations.transcript(reply.conversation_id)
    assert view is not None
    return view


@pytest.fixture
def kb_services(services: Services) -> Services:
    result = services.kb.ingest_bytes("faq.csv", FAQ)
    assert result.ok, result.message
    services.dialogue.approved_answers = False  # every answer is generated
    return services


def openai_settings(tmp_path: Path, **models: Any) -> Settings:
    return Settings(data_dir=tmp_path, models={"generator_backend": "openai", **models})


# ---- streaming ---------------------------------------------------------------------------


def test_the_pieces_stream_in_order_and_the_request_carries_the_prompt(
    server: FakeServer,
) -> None:
    generator = OpenAIGenerator(server.url, model="served-model", api_key="secret")
    assert list(generator.stream(PROMPT, 40)) == ANSWER
    [body] = server.chat_requests()
    assert body["model"] == "served-model"
    assert body["messages"] == PROMPT
    assert (body["max_tokens"], body["stream"], body["temperature"]) == (40, True, 0.0)
    _, headers, _ = server.requests[-1]
    assert headers["authorization"] == "Bearer secret"
    assert wait_for(lambda: not worker_threads())


def test_the_factory_builds_it_from_settings_with_the_api_key(
    server: FakeServer, tmp_path: Path
) -> None:
    server.behaviour.api_key = "k-123"
    settings = openai_settings(
        tmp_path,
        openai_base_url=server.url,
        openai_api_key="k-123",
        openai_model="served-model",
        openai_context_tokens=8192,
    )
    assert isinstance(settings.models.openai_api_key, SecretStr)
    generator = build_generator(settings)
    assert isinstance(generator, OpenAIGenerator)
    assert generator.context_tokens() == 8192
    assert "".join(generator.stream(PROMPT, 8)) == "".join(ANSWER)


def test_the_generator_setting_names_the_model_when_openai_model_is_unset(
    tmp_path: Path,
) -> None:
    """As benchmarks/answers.py's `--candidate openai:MODEL` sets it."""
    url = "http://127.0.0.1:8080/v1"
    by_generator = openai_settings(tmp_path, openai_base_url=url, generator="qwen2.5:0.5b")
    assert build_generator(by_generator).name == f"qwen2.5:0.5b at {url}"
    both = openai_settings(tmp_path, openai_base_url=url, generator="x", openai_model="y")
    assert build_generator(both).name == f"y at {url}"
    assert openai_settings(tmp_path, openai_base_url=url).models.generator == ""


def test_an_unset_model_is_the_first_one_the_server_lists(server: FakeServer) -> None:
    server.behaviour.models = ["first", "second"]
    generator = OpenAIGenerator(server.url)
    generator.warm_up()
    assert generator.name == f"first at {server.url}"
    list(generator.stream(PROMPT, 8))
    assert server.chat_requests()[-1]["model"] == "first"
    asked = len(server.requests)
    generator.warm_up()  # reached once: nothing more to ask
    assert len(server.requests) == asked


def test_closing_the_stream_drops_the_connection_and_the_server_stops(
    server: FakeServer,
) -> None:
    server.behaviour.pieces = [f" word{i}" for i in range(200)]
    server.behaviour.wait_between_s = 0.02
    # (The protocol promises an iterator that can be closed: here, a generator.)
    stream = cast(Generator[str], OpenAIGenerator(server.url, model="m").stream(PROMPT, 200))
    assert [next(stream) for _ in range(3)] == [" word0", " word1", " word2"]
    stream.close()
    assert server.disconnected.wait(5), "the server kept writing to a client that left"
    assert server.written < 50
    assert wait_for(lambda: not worker_threads())


def test_token_counts_err_high() -> None:
    generator = OpenAIGenerator("http://127.0.0.1:1/v1", context_tokens=2048)
    assert generator.context_tokens() == 2048
    assert estimate_tokens("How long does shipping take?") == 10  # 28 characters / 3
    assert estimate_tokens("within 30 days") == 2 + 4  # 12 characters / 3, 2 digits
    assert estimate_tokens("退货需要多久") == 18  # 3 UTF-8 bytes a character
    system_only = generator.count_tokens(PROMPT[:1])
    assert 0 < system_only < generator.count_tokens(PROMPT)


# ---- the server is slow ------------------------------------------------------------------


def test_a_slow_server_is_cut_off_at_the_turns_deadline(server: FakeServer) -> None:
    server.behaviour.wait_before_s = 3.0  # longer than the turn has
    generator = OpenAIGenerator(server.url, model="m", timeout_s=30)
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        list(generator.stream(PROMPT, 40, deadline=started + 0.5))
    assert time.monotonic() - started < 1.5  # the deadline, not the server, ended it


def test_a_deadline_already_past_sends_no_request(server: FakeServer) -> None:
    with pytest.raises(GenerationTimeout):
        list(OpenAIGenerator(server.url, model="m").stream(PROMPT, 8, deadline=0.0))
    assert server.requests == []


def test_a_server_silent_past_its_timeout_is_an_error_that_names_the_setting(
    server: FakeServer,
) -> None:
    server.behaviour.wait_before_s = 1.5
    generator = OpenAIGenerator(server.url, model="m", timeout_s=0.3)
    with pytest.raises(InferenceServerError) as raised:
        list(generator.stream(PROMPT, 8))
    assert str(raised.value) == (
        f"the inference server at {server.url} sent nothing for 0.3 s "
        "(CHATBOT_MODELS__OPENAI_TIMEOUT_SECONDS)"
    )


def test_a_slow_turn_answers_with_the_passage_and_is_stored_as_timed_out(
    kb_services: Services, server: FakeServer
) -> None:
    server.behaviour.wait_before_s = 3.0
    kb_services.dialogue.generator = OpenAIGenerator(server.url, model="m")
    kb_services.dialogue.turn_timeout_s = 0.5
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert list(reply) == ["Start a return from the Order History page."]
    assert (reply.answer_mode, reply.draft_rejection) == ("passage", "timeout")
    view = transcript(kb_services, reply)
    user, bot = view.messages
    assert (user.content, bot.status) == ("How do I return an item?", "timeout")


# ---- the server is down or refuses -------------------------------------------------------


def test_a_server_that_is_down_gives_the_polite_reply_and_keeps_the_message(
    kb_services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = down_url()
    kb_services.dialogue.generator = build_generator(openai_settings(tmp_path, openai_base_url=url))
    caplog.set_level(logging.INFO)
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert list(reply) == [ERROR_TEXT]
    view = transcript(kb_services, reply)
    user, bot = view.messages
    assert (user.role, user.content) == ("user", "How do I return an item?")
    assert (bot.role, bot.status, bot.content) == ("assistant", "error", ERROR_TEXT)
    # Staff read what went wrong and where: in the log, and on the stored reply.
    problem = (
        f"cannot reach the inference server at {url} ([Errno 111] Connection refused); "
        "is it running? (CHATBOT_MODELS__OPENAI_BASE_URL)"
    )
    # One line in the log, no traceback: an outage is expected, not a bug.
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (error.levelno, error.getMessage()) == (logging.ERROR, f"generation failed: {problem}")
    assert error.exc_info is None
    with kb_services.sessions() as s:
        stored = s.scalar(select(Message.error).where(Message.role == "assistant"))
    assert stored == f"InferenceServerError: {problem}"


def test_the_server_down_at_start_is_a_warning_and_the_first_turn_tries_again(
    kb_services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = down_url()
    kb_services.dialogue.generator = build_generator(openai_settings(tmp_path, openai_base_url=url))
    kb_services.dialogue.warm_up()  # what `chatbot serve` runs before "Customer chat:"
    assert any(
        r.levelno == logging.WARNING and "not answering at start" in r.getMessage()
        for r in caplog.records
    )
    reply = kb_services.dialogue.respond("How do I return an item?")
    assert list(reply) == [ERROR_TEXT]


def test_warm_up_with_the_server_down_warns_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = down_url()
    generator = OpenAIGenerator(url)
    generator.warm_up()
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith(f"cannot reach the inference server at {url} (")
    assert warning.getMessage().endswith("customers get the error reply until it answers")
    assert warning.exc_info is None  # one line, no traceback, for an outage


def test_a_refused_request_says_why_and_which_setting_to_check(server: FakeServer) -> None:
    server.behaviour.api_key = "right"
    generator = OpenAIGenerator(server.url, model="m", api_key="wrong")
    with pytest.raises(InferenceServerError) as raised:
        list(generator.stream(PROMPT, 8))
    assert str(raised.value) == (
        f"the inference server at {server.url} answered HTTP 401: Invalid API Key; "
        "check CHATBOT_MODELS__OPENAI_API_KEY"
    )
    server.behaviour.api_key = None
    server.behaviour.status, server.behaviour.error = 404, "model 'm' not found"
    with pytest.raises(InferenceServerError, match="HTTP 404: model 'm' not found; check"):
        list(generator.stream(PROMPT, 8))


def test_a_configured_model_the_server_does_not_list_is_a_warning(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    OpenAIGenerator(server.url, model="other").warm_up()
    assert "does not list model 'other' (it lists served-model)" in caplog.text


# ---- settings ----------------------------------------------------------------------------


def test_the_openai_backend_without_a_server_url_is_a_clear_settings_error() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(models={"generator_backend": "openai"})
    assert settings_problems(raised.value) == (
        "  CHATBOT_MODELS__OPENAI_BASE_URL: required with CHATBOT_MODELS__GENERATOR_BACKEND="
        "openai: the inference server's OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1"
    )
    with pytest.raises(ValidationError) as raised:
        ModelSettings(generator_backend="openai", openai_base_url="localhost:8080")
    assert "is not an http:// or https:// URL" in str(raised.value)
    # Other backends need no URL.
    assert ModelSettings().openai_base_url == ""


def test_the_environment_configures_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_MODELS__GENERATOR_BACKEND", "openai")
    monkeypatch.setenv("CHATBOT_MODELS__OPENAI_BASE_URL", " http://gpu-box:8000/v1 ")
    monkeypatch.setenv("CHATBOT_MODELS__OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("CHATBOT_MODELS__OPENAI_MODEL", "qwen2.5:0.5b")
    monkeypatch.setenv("CHATBOT_MODELS__OPENAI_TIMEOUT_SECONDS", "12.5")
    m = Settings().models
    assert (m.openai_base_url, m.openai_model) == ("http://gpu-box:8000/v1", "qwen2.5:0.5b")
    assert m.openai_api_key is not None and m.openai_api_key.get_secret_value() == "sk-local"
    assert "sk-local" not in repr(m)
    assert m.openai_timeout_seconds == 12.5


def test_building_it_does_not_import_the_client() -> None:
    code = (
        "import sys\n"
        "from chatbot.generation.factory import build_generator\n"
        "from chatbot.settings import Settings\n"
        "s = Settings(models={'generator_backend': 'openai', "
        "'openai_base_url': 'http://127.0.0.1:1/v1'})\n"
        "build_generator(s)\n"
        "assert 'openai' not in sys.modules, 'the openai client was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
