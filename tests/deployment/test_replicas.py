"""Two real `chatbot serve` replicas on one fresh PostgreSQL database, each with its own data
dir, with nginx in front (the config of docs/DEPLOYMENT.md) and the API rate limit in Redis.

Customers chat through nginx over the HTTP API while staff upload a new FAQ document
through replica 1; replica 2, asked directly, answers from it within seconds. Every turn is
stored exactly once in its own conversation. A key limited to N requests a minute gets N
answers in all across both replicas, then 429 with Retry-After from either. The Gradio chat
page works through nginx: the cookie keeps one browser on one replica.

Runs in the SQLite run of `make test` (it always makes its own PostgreSQL database, at
CHATBOT_TEST_POSTGRES_URL, and uses Redis database 14 at 127.0.0.1:6379); the smallest
embedder and the scripted generator keep the replicas' start short.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chatbot.storage.models import Message
from tests.deployment.cluster import (
    Cluster,
    clear_rate_limits,
    create_database,
    create_key,
    drop_database,
    start_cluster,
)
from tests.served import ARTIFACTS
from tests.unit.api_server import parse_sse

pytestmark = pytest.mark.integration

CUSTOMERS = 6
TURNS = 4
QUESTIONS = [
    "How do I return an item?",
    "How much does shipping cost?",
    "How do I reset my password?",
    "Can I pay with PayPal?",
]
NEW_QUESTION = "Do you gift-wrap orders for the zephyr festival?"
NEW_ANSWER = "Zephyr festival gift wrapping costs 3 euros and is chosen at checkout."
NEW_FAQ = f"id,question,answer\nzephyr-wrap,{NEW_QUESTION},{NEW_ANSWER}\n"
PICKUP_DEADLINE_S = 30
LIMITED_RATE = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    database = create_database()
    clear_rate_limits()
    small = {
        "CHATBOT_MODELS__GENERATOR_BACKEND": "scripted",
        "CHATBOT_MODELS__MULTILINGUAL_EMBEDDER": "",
    }
    started: Cluster | None = None
    try:
        # Only replica 1 loads the sample knowledge base: both would (the second replaces
        # the first's copy in place), but that doubles the start-up work.
        started = start_cluster(root, database, 2, small, {1: {"CHATBOT_LOAD_SAMPLE_KB": "false"}})
        yield started
    finally:
        if started is not None:
            started.stop()
            for s in started.replicas:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                (ARTIFACTS / f"replicas-{s.root.name}.log").write_text(s.log_text())
        clear_rate_limits()
        drop_database(database)


def bearer(key: str, token: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if token is not None:
        headers["X-Conversation-Token"] = token
    return headers


def ask(c: httpx.Client, key: str, conversation: tuple[str, str], text: str) -> dict[str, Any]:
    """One streamed turn; the `final` event's answer."""
    cid, token = conversation
    r = c.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=bearer(key, token),
        json={"text": text, "stream": True},
    )
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events[-1][0] == "final", events
    answer: dict[str, Any] = events[-1][1]
    return answer


def start(c: httpx.Client, key: str) -> tuple[str, str]:
    r = c.post("/api/v1/conversations", headers=bearer(key))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def from_new_document(answer: dict[str, Any]) -> bool:
    return NEW_ANSWER in answer["text"] and any(
        s["title"] == NEW_QUESTION for s in answer["sources"]
    )


def stored_turns(database_url: str) -> dict[str, list[tuple[str, str, str]]]:
    """(role, content, status) of every stored message, per conversation, in order."""
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                Message.conversation_id, Message.role, Message.content, Message.status
            ).order_by(Message.id)
        ).all()
    engine.dispose()
    found: dict[str, list[tuple[str, str, str]]] = {}
    for cid, role, content, status in rows:
        found.setdefault(cid, []).append((role, content, status))
    return found


def test_a_new_document_reaches_the_other_replica_and_no_turn_is_lost(cluster: Cluster) -> None:
    one, two = cluster.replicas
    proxy = cluster.nginx
    for url in (one.url, two.url, proxy.url):
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {
            "status": "ok",
            "database": "ok",
        }
    staff = create_key(cluster, "ops", "admin", 10_000)
    customer = create_key(cluster, "widget", "customer", 10_000)

    with httpx.Client(base_url=two.url, timeout=60) as direct_two:
        probe = start(direct_two, customer)
        before = ask(direct_two, customer, probe, NEW_QUESTION)
    assert not from_new_document(before)  # nothing to answer from yet

    # Customers chat through nginx while the upload happens.
    asked: dict[str, list[str]] = {}
    failures: list[str] = []
    first_turns_done = threading.Barrier(CUSTOMERS + 1)

    def chat(n: int) -> None:
        questions = [f"{QUESTIONS[(n + t) % len(QUESTIONS)]} (customer {n})" for t in range(TURNS)]
        try:
            with httpx.Client(base_url=proxy.url, timeout=120) as c:
                conversation = start(c, customer)
                asked[conversation[0]] = questions
                for t, q in enumerate(questions):
                    answer = ask(c, customer, conversation, q)
                    assert answer["conversation_id"] == conversation[0]
                    if t == 0:
                        first_turns_done.wait(timeout=120)
        except Exception as exc:  # reported below, with the customer
            failures.append(f"customer {n}: {type(exc).__name__}: {exc}")
            first_turns_done.abort()

    threads = [threading.Thread(target=chat, args=(n,)) for n in range(CUSTOMERS)]
    for t in threads:
        t.start()
    try:
        first_turns_done.wait(timeout=120)
    except threading.BrokenBarrierError:
        for t in threads:
            t.join(timeout=300)
        pytest.fail(f"customers failed before the upload: {failures}")

    with httpx.Client(base_url=one.url, timeout=120) as direct_one:
        r = direct_one.post(
            "/api/v1/kb/documents",
            headers=bearer(staff),
            files={"file": ("zephyr.csv", NEW_FAQ.encode(), "text/csv")},
        )
    assert r.status_code == 200 and r.json()["status"] == "added", r.text
    uploaded = time.monotonic()
    polls = 0
    with httpx.Client(base_url=two.url, timeout=60) as direct_two:
        while True:
            polls += 1
            if from_new_document(ask(direct_two, customer, probe, NEW_QUESTION)):
                break
            assert time.monotonic() - uploaded < PICKUP_DEADLINE_S, (
                f"replica 2 did not answer from the new document {PICKUP_DEADLINE_S} s after "
                "it was uploaded to replica 1"
            )
            time.sleep(0.2)

    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    assert len(asked) == CUSTOMERS

    # Every turn stored exactly once, in its own conversation, whichever replica took it.
    stored = stored_turns(cluster.database_url)
    for cid, questions in asked.items():
        turns = stored[cid]
        assert [role for role, _, _ in turns] == ["user", "assistant"] * TURNS, (cid, turns)
        assert [content for role, content, _ in turns if role == "user"] == questions
        assert all(status == "complete" for _, _, status in turns), turns
    probe_turns = stored[probe[0]]
    assert len(probe_turns) == 2 * (1 + polls)
    assert set(stored) == {*asked, probe[0]}

    # nginx spread the API requests over both replicas.
    api = [r for r in proxy.requests() if "/api/v1/conversations/" in r.request]
    assert {r.upstream for r in api} == {one.url[7:], two.url[7:]}, api


def test_a_rate_limit_is_shared_by_the_replicas(cluster: Cluster) -> None:
    limited = create_key(cluster, "limited", "customer", LIMITED_RATE)
    clients = [httpx.Client(base_url=s.url, timeout=30) for s in cluster.replicas]
    try:
        statuses = []
        for i in range(LIMITED_RATE + 2):
            r = clients[i % 2].post("/api/v1/conversations", headers=bearer(limited))
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "rate_limited"
                assert 1 <= int(r.headers["retry-after"]) <= 60
        assert statuses == [201] * LIMITED_RATE + [429, 429]
        through_proxy = httpx.post(
            f"{cluster.nginx.url}/api/v1/conversations", headers=bearer(limited), timeout=30
        )
        assert through_proxy.status_code == 429
    finally:
        for c in clients:
            c.close()
    for s in cluster.replicas:
        assert "cannot use Redis" not in s.log_text()


def test_the_chat_page_works_through_nginx_on_one_replica_per_browser(cluster: Cluster) -> None:
    """Gradio's queue keeps a turn in one process: nginx's cookie keeps the browser there."""
    from gradio_client import Client

    proxy = cluster.nginx
    seen = len(proxy.requests())
    marker = uuid.uuid4().hex[:8]
    client = Client(proxy.url, verbose=False, download_files=False, analytics_enabled=False)
    result = client.predict(f"How do I return an item? ({marker})", api_name="/chat")
    history = result[0] if isinstance(result, tuple | list) else result
    assert history[-1]["role"] == "assistant" and history[-1]["content"], history
    ours = [r for r in proxy.requests()[seen:] if "/gradio_api/" in r.request]
    assert any("queue/join" in r.request for r in ours), ours
    # One browser (one route cookie), one replica, for the page and its whole turn.
    routes = {r.route for r in ours}
    assert len(routes) == 1, ours
    assert len({r.upstream for r in ours}) == 1, ours
