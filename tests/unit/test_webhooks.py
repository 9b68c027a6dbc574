"""Webhooks end to end: events from real turns and ratings become deliveries, which the worker
POSTs, signed, to a real HTTP receiver on 127.0.0.1, retrying with backoff on a clock of the
test's own."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.core.vocabulary import DeliveryStatus, EventKind
from chatbot.dialogue.manager import Reply
from chatbot.notify import signing
from chatbot.notify.deliver import BACKOFF_S, MAX_ATTEMPTS, DeliveryWorker
from chatbot.notify.hooks import WebhookError
from chatbot.settings import Settings
from chatbot.staff.actor import LOCAL, Actor, Forbidden
from chatbot.storage import db
from chatbot.storage.models import Message, WebhookDelivery

FAQ = b"""id,question,answer,category,url
returns,How do I return an item?,Start a return from the Order History page.,Returns,
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping,
"""
ALL_EVENTS = [
    EventKind.HANDOFF_REQUESTED,
    EventKind.CUSTOMER_MESSAGE,
    EventKind.RATING_NEGATIVE,
]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records each POST and answers the next status in `answers`
    (200 once they run out)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


class Clock:
    """The worker's clock: starts a second after now (so rows written now are due)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def kb_services(services: Services) -> Services:
    result = services.kb.ingest_bytes("faq.csv", FAQ)
    assert result.ok, result.message
    return services


def run(reply: Reply) -> Reply:
    list(reply)
    assert reply.stored
    return reply


def deliveries(services: Services) -> list[WebhookDelivery]:
    with services.sessions() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify_like_a_receiver(secret: str, request: Received, now: float) -> bool:
    """What the README tells receivers to do."""
    timestamp = request.headers["X-Chatbot-Timestamp"]
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    recent = abs(now - int(timestamp)) <= signing.TOLERANCE_S
    return recent and hmac.compare_digest(expected, request.headers["X-Chatbot-Signature"])


def worker(services: Services, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(services.sessions, clock=clock)


# ---- events ---------------------------------------------------------------------------------
def test_a_handoff_is_delivered_signed(kb_services: Services, receiver: Receiver) -> None:
    new = kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.HANDOFF_REQUESTED])
    reply = run(kb_services.dialogue.respond("I want to talk to a human"))
    assert reply.decision == "handoff"
    # A second handoff reply while the conversation waits in the queue is no new request.
    run(kb_services.dialogue.respond("A human please", reply.conversation_id))
    [pending] = deliveries(kb_services)
    assert (pending.status, pending.attempts, pending.event) == ("pending", 0, "handoff.requested")

    clock = Clock()
    assert worker(kb_services, clock).run_once() == 1
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["X-Chatbot-Event"] == "handoff.requested"
    assert request.headers["X-Chatbot-Delivery"] == str(pending.id)
    assert request.headers["Content-Type"] == "application/json"
    assert verify_like_a_receiver(new.secret, request, clock.now.timestamp())
    assert not verify_like_a_receiver("whsec_other", request, clock.now.timestamp())
    assert signing.verify(
        new.secret,
        request.headers["X-Chatbot-Timestamp"],
        request.body,
        request.headers["X-Chatbot-Signature"],
        now=clock.now.timestamp(),
    )
    body = json.loads(request.body)
    assert body["event"] == "handoff.requested"
    assert body["conversation_id"] == reply.conversation_id
    assert body["message_id"] == reply.message_id
    assert body["data"] == {"reason": "requested", "language": "en"}
    # No customer words in the payload.
    assert "human" not in request.body.decode()

    [done] = deliveries(kb_services)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 1, 200)
    assert done.delivered_at is not None
    [listed] = kb_services.staff.webhooks.list(LOCAL)
    assert listed.last_status == "delivered"


def test_a_customer_writing_after_a_handoff(kb_services: Services, receiver: Receiver) -> None:
    kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.CUSTOMER_MESSAGE])
    first = run(kb_services.dialogue.respond("How long does shipping take?"))
    assert deliveries(kb_services) == []  # not handed off: nobody is told
    handoff = run(kb_services.dialogue.respond("I want to talk to a human", first.conversation_id))
    assert deliveries(kb_services) == []  # the handoff itself is not subscribed to
    run(kb_services.dialogue.respond("Is anyone there?", handoff.conversation_id))

    [pending] = deliveries(kb_services)
    assert pending.event == "conversation.customer_message"
    with kb_services.sessions() as s:
        last_customer = s.scalars(
            select(Message.id).where(Message.role == "user").order_by(Message.id.desc())
        ).first()
    assert json.loads(pending.payload)["message_id"] == last_customer
    assert worker(kb_services, Clock()).run_once() == 1
    assert receiver.requests[0].headers["X-Chatbot-Event"] == "conversation.customer_message"


def test_a_thumbs_down(kb_services: Services, receiver: Receiver) -> None:
    kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.RATING_NEGATIVE])
    reply = run(kb_services.dialogue.respond("How long does shipping take?"))
    assert reply.message_id is not None
    log = kb_services.conversations
    assert log.rate_message(reply.message_id, 1)
    assert deliveries(kb_services) == []  # a thumbs-up is nobody's alarm
    assert log.rate_message(reply.message_id, -1, "my parcel is late, call 555-0100")
    assert log.rate_message(reply.message_id, -1, "still late")  # the same thumbs-down again
    [pending] = deliveries(kb_services)
    body = json.loads(pending.payload)
    assert body["event"] == "rating.negative"
    assert body["message_id"] == reply.message_id
    assert body["data"] == {"rating": -1, "with_reason": True}
    assert "555" not in pending.payload  # the customer's words stay in the database
    assert worker(kb_services, Clock()).run_once() == 1
    assert len(receiver.requests) == 1


def test_paused_and_unsubscribed_webhooks_get_nothing(
    kb_services: Services, receiver: Receiver
) -> None:
    hooks = kb_services.staff.webhooks
    hooks.add(LOCAL, receiver.url, [EventKind.RATING_NEGATIVE])
    paused = hooks.add(LOCAL, receiver.url, [EventKind.HANDOFF_REQUESTED])
    hooks.set_active(LOCAL, paused.info.id, False)
    run(kb_services.dialogue.respond("I want to talk to a human"))
    assert deliveries(kb_services) == []
    assert worker(kb_services, Clock()).run_once() == 0
    assert receiver.requests == []
    with pytest.raises(WebhookError, match="paused"):
        hooks.send_test(LOCAL, paused.info.id)


# ---- retries --------------------------------------------------------------------------------
def test_a_failing_receiver_is_retried_with_backoff(
    kb_services: Services, receiver: Receiver
) -> None:
    kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.HANDOFF_REQUESTED])
    run(kb_services.dialogue.respond("I want to talk to a human"))
    receiver.answers = [500, 503]
    clock = Clock()
    sender = worker(kb_services, clock)

    assert sender.run_once() == 1
    [d] = deliveries(kb_services)
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, 500)
    assert d.last_error is not None and d.last_error.startswith("HTTP 500")
    assert aware(d.next_attempt_at) == clock.now + timedelta(seconds=BACKOFF_S[0])

    clock.advance(BACKOFF_S[0] - 1)
    assert sender.run_once() == 0  # not due yet
    clock.advance(1)
    assert sender.run_once() == 1
    [d] = deliveries(kb_services)
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 2, 503)
    assert aware(d.next_attempt_at) == clock.now + timedelta(seconds=BACKOFF_S[1])

    clock.advance(BACKOFF_S[1])
    assert sender.run_once() == 1
    [d] = deliveries(kb_services)
    assert (d.status, d.attempts, d.last_status_code, d.last_error) == ("delivered", 3, 200, None)
    assert len(receiver.requests) == 3
    # The same delivery each time, re-signed with the time of each attempt.
    assert {r.headers["X-Chatbot-Delivery"] for r in receiver.requests} == {str(d.id)}
    assert len({r.headers["X-Chatbot-Timestamp"] for r in receiver.requests}) == 3


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"


def test_a_receiver_that_is_down_ends_failed(kb_services: Services) -> None:
    kb_services.staff.webhooks.add(LOCAL, closed_port_url(), [EventKind.HANDOFF_REQUESTED])
    run(kb_services.dialogue.respond("I want to talk to a human"))
    clock = Clock()
    sender = worker(kb_services, clock)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert sender.run_once() == 1, attempt
        [d] = deliveries(kb_services)
        assert d.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert d.status == "pending"
            clock.advance(BACKOFF_S[attempt - 1])
    assert d.status == DeliveryStatus.FAILED
    assert d.last_status_code is None
    assert d.last_error is not None and "ConnectError" in d.last_error
    clock.advance(10 * BACKOFF_S[-1])
    assert sender.run_once() == 0  # nothing more is tried
    [failed] = kb_services.staff.webhooks.deliveries(LOCAL, failed_only=True)
    assert failed.id == d.id


def test_a_claimed_delivery_is_not_sent_twice(kb_services: Services, receiver: Receiver) -> None:
    kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.HANDOFF_REQUESTED])
    run(kb_services.dialogue.respond("I want to talk to a human"))
    clock = Clock()
    one, other = worker(kb_services, clock), worker(kb_services, clock)
    assert len(one._claim(clock.now)) == 1
    assert other._claim(clock.now) == []  # another replica finds nothing due


def test_the_background_thread_sends(kb_services: Services, receiver: Receiver) -> None:
    hook = kb_services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.HANDOFF_REQUESTED])
    kb_services.staff.webhooks.send_test(LOCAL, hook.info.id)
    sender = DeliveryWorker(kb_services.sessions, poll_s=0.05)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sender.stop()
    [request] = receiver.requests
    assert request.headers["X-Chatbot-Event"] == "webhook.test"
    assert verify_like_a_receiver(hook.secret, request, time.time())


# ---- staff ----------------------------------------------------------------------------------
def test_only_admins_manage_webhooks(services: Services, receiver: Receiver) -> None:
    hooks = services.staff.webhooks
    agent = Actor("bob", "agent")
    with pytest.raises(Forbidden, match="Only an admin can manage webhooks"):
        hooks.add(agent, receiver.url, [EventKind.HANDOFF_REQUESTED])
    assert services.audit.recent() == []
    assert hooks.list(LOCAL) == []
    created = hooks.add(LOCAL, receiver.url, ALL_EVENTS)
    assert created.secret.startswith("whsec_")
    for refused in (
        lambda: hooks.list(agent),
        lambda: hooks.remove(agent, created.info.id),
        lambda: hooks.send_test(agent, created.info.id),
        lambda: hooks.deliveries(agent),
    ):
        with pytest.raises(Forbidden):
            refused()
    assert [(e.actor, e.action) for e in services.audit.recent()] == [("local", "webhook.add")]
    hooks.remove(LOCAL, created.info.id)
    assert hooks.list(LOCAL) == []
    assert [e.action for e in services.audit.recent()] == ["webhook.remove", "webhook.add"]


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://example.com/hook", ["handoff.requested"], "http:// or https://"),
        ("example.com/hook", ["handoff.requested"], "http:// or https://"),
        ("https:///hook", ["handoff.requested"], "names no host"),
        ("https://example.com/hook", ["handoff.sent"], "no event 'handoff.sent'"),
        ("https://example.com/hook", ["webhook.test"], "no event"),
        ("https://example.com/hook", [], "at least one event"),
    ],
)
def test_bad_webhooks_are_refused_clearly(
    services: Services, url: str, events: list[str], message: str
) -> None:
    with pytest.raises(WebhookError, match=message):
        services.staff.webhooks.add(LOCAL, url, events)
    assert services.audit.recent() == []


# ---- chatbot webhooks ... -------------------------------------------------------------------
def test_cli_add_list_remove(tmp_path: Path, receiver: Receiver) -> None:
    runner = CliRunner()
    db.upgrade(Settings().db_url)
    empty = runner.invoke(app, ["webhooks", "list"])
    assert empty.exit_code == 0, empty.output
    assert "No webhooks yet" in empty.stdout

    added = runner.invoke(
        app,
        ["webhooks", "add", receiver.url, "--event", "handoff.requested", "-e", "rating.negative"],
    )
    assert added.exit_code == 0, added.output
    assert "created webhook 1" in added.stdout
    assert "secret: whsec_" in added.stdout

    bad = runner.invoke(app, ["webhooks", "add", "ftp://x", "--event", "rating.negative"])
    assert bad.exit_code == 1
    assert "http:// or https://" in bad.output

    queued = runner.invoke(app, ["webhooks", "test", "1"])
    assert queued.exit_code == 0, queued.output
    listed = runner.invoke(app, ["webhooks", "list"])
    assert listed.exit_code == 0, listed.output
    assert receiver.url in listed.stdout
    assert "handoff.requested,rating.negative" in listed.stdout
    assert "pending" in listed.stdout  # the test delivery, not sent yet
    sent = runner.invoke(app, ["webhooks", "deliveries"])
    assert "webhook.test" in sent.stdout and "pending" in sent.stdout
    none_failed = runner.invoke(app, ["webhooks", "deliveries", "--failed"])
    assert "No failed deliveries." in none_failed.stdout

    removed = runner.invoke(app, ["webhooks", "remove", "1"])
    assert removed.exit_code == 0, removed.output
    assert "removed webhook 1" in removed.stdout
    missing = runner.invoke(app, ["webhooks", "remove", "1"])
    assert missing.exit_code == 1
    assert "no webhook 1" in missing.output
    assert "No webhooks yet" in runner.invoke(app, ["webhooks", "list"]).stdout


# ---- the console's Webhooks tab -------------------------------------------------------------
def test_console_tab_adds_tests_lists_and_removes(services: Services, receiver: Receiver) -> None:
    import gradio as gr

    from chatbot.ui.webhooks import add_webhook, remove_webhook, test_webhook, webhook_tables

    services.accounts.add("ann", "a-long-password", "admin")
    services.accounts.add("bob", "a-long-password", "agent")
    ann, bob = gr.Request(username="ann"), gr.Request(username="bob")

    assert "Only an admin" in add_webhook(services, receiver.url, ["rating.negative"], bob)
    caption, hooks, sent = webhook_tables(services, bob)
    assert "Only an admin" in caption and hooks == [] and sent == []

    assert "http:// or https://" in add_webhook(services, "ftp://x", ["rating.negative"], ann)
    added = add_webhook(services, receiver.url, ["rating.negative"], ann)
    assert "Added webhook 1" in added and "whsec_" in added
    assert "Queued a test delivery" in test_webhook(services, 1, ann)
    caption, hooks, sent = webhook_tables(services, ann)
    assert [row[:4] for row in hooks] == [[1, receiver.url, "rating.negative", "yes"]]
    assert [row[2:5] for row in sent] == [["webhook.test", "pending", 0]]
    assert "Only an admin" in remove_webhook(services, 1, bob)
    assert "Removed webhook 1" in remove_webhook(services, 1, ann)
    assert "no webhook 1" in remove_webhook(services, 1, ann)
    assert webhook_tables(services, ann)[1] == []


def test_console_has_the_webhooks_tab(services: Services) -> None:
    from chatbot.ui import build_console

    console = build_console(services)
    assert "Webhooks" in {getattr(b, "label", None) for b in console.blocks.values()}


def test_the_readme_verification_example_works(services: Services, receiver: Receiver) -> None:
    """The receiver's check the README shows, run on a real delivery."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Webhooks", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(example, namespace)
    verified = namespace["verified"]
    assert callable(verified)

    hook = services.staff.webhooks.add(LOCAL, receiver.url, [EventKind.RATING_NEGATIVE])
    services.staff.webhooks.send_test(LOCAL, hook.info.id)
    assert DeliveryWorker(services.sessions).run_once() == 1
    [request] = receiver.requests
    assert verified(hook.secret, request.headers, request.body)
    assert not verified(hook.secret, request.headers, request.body + b" ")
