"""The HTTP API's customer endpoints and its keys, over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from chatbot.api import customer
from chatbot.container import Services
from chatbot.dialogue import manager
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.staff.actor import CLI
from tests.unit.api_server import FAQ_CSV, bearer, client, new_key, parse_sse, served


@pytest.fixture
def answering(services: Services) -> Services:
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    services.dialogue.approved_answers = False  # every answer goes through the generator
    services.dialogue.generator = ScriptedGenerator(["9 to 5 on weekdays."])
    return services


def start(c: httpx.Client, key: str) -> tuple[str, str]:
    r = c.post("/api/v1/conversations", headers=bearer(key))
    assert r.status_code == 201, r.text
    body = r.json()
    return body["id"], body["token"]


def test_no_key_unknown_key_and_revoked_key_are_refused_with_json(services: Services) -> None:
    key = new_key(services, "customer")
    with served(services) as url, client(url) as c:
        r = c.post("/api/v1/conversations")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        r = c.post("/api/v1/conversations", headers=bearer("cb_pub_nonsense"))
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.post("/api/v1/conversations", headers=bearer(key)).status_code == 201
        (info,) = services.staff.keys.list(CLI)
        services.staff.keys.revoke(CLI, info.id)
        r = c.post("/api/v1/conversations", headers=bearer(key))
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_the_rate_limit_answers_429_with_retry_after(services: Services) -> None:
    key = new_key(services, "customer", rate=2)
    with served(services) as url, client(url, key) as c:
        assert c.post("/api/v1/conversations").status_code == 201
        assert c.post("/api/v1/conversations").status_code == 201
        r = c.post("/api/v1/conversations")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # Another key has its own allowance.
        assert (
            c.post(
                "/api/v1/conversations", headers=bearer(new_key(services, "customer", name="b"))
            ).status_code
            == 201
        )


def test_a_streamed_answer_is_deltas_then_one_final_event(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?", "stream": True},
            headers={"X-Conversation-Token": token},
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "final" and kinds.count("final") == 1
    assert "delta" in kinds
    final = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "delta") == final["text"]
    assert final["decision"] == "answer"
    assert final["conversation_id"] == cid
    assert isinstance(final["message_id"], int)
    assert final["sources"] and final["sources"][0]["title"]
    assert set(final["sources"][0]) == {"title", "url", "page"}


def test_a_blocking_answer_is_the_final_event_as_json(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?", "stream": False},
            headers={"X-Conversation-Token": token},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["decision"] == "answer" and body["text"] and body["message_id"]
        assert body["answer_mode"] == "generated"


def test_pings_keep_a_slow_stream_open(
    answering: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer, "PING_SECONDS", 0.05)
    answering.dialogue.generator = ScriptedGenerator(["9 to 5 on weekdays."], delay_s=0.1)
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?"},
            headers={"X-Conversation-Token": token},
        )
    events = parse_sse(r.text)
    assert ("ping", None) in events
    assert events[-1][0] == "final"


def test_a_failing_model_gets_the_polite_reply_as_the_final_event(answering: Services) -> None:
    """The dialogue itself answers a failed generation (as on the chat page)."""
    answering.dialogue.generator = ScriptedGenerator(["nine to five on weekdays"], fail_after=1)
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?"},
            headers={"X-Conversation-Token": token},
        )
    events = parse_sse(r.text)
    assert events[-1][0] == "final"
    assert "went wrong" in events[-1][1]["text"]


def test_a_failing_turn_ends_with_an_error_event_and_keeps_the_message(
    answering: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    # The answer cannot be stored: the failure reaches the stream, after its deltas.
    monkeypatch.setattr(manager.repo, "add_assistant_message", broken)
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?"},
            headers={"X-Conversation-Token": token},
        )
        events = parse_sse(r.text)
        assert events[-1][0] == "error", events
        assert set(events[-1][1]) == {"code", "message"}
        assert "Traceback" not in r.text
        r = c.get(f"/api/v1/conversations/{cid}", headers={"X-Conversation-Token": token})
        assert r.status_code == 200
        texts = [(m["author"], m["text"]) for m in r.json()["messages"]]
        assert ("customer", "When are you open?") in texts


def test_a_conversation_is_read_back_only_with_its_token(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        _, other_token = start(c, key)
        c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?", "stream": False},
            headers={"X-Conversation-Token": token},
        )
        assert c.get(f"/api/v1/conversations/{cid}").status_code == 403
        r = c.get(f"/api/v1/conversations/{cid}", headers={"X-Conversation-Token": other_token})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "hi"},
            headers={"X-Conversation-Token": other_token},
        )
        assert r.status_code == 403
        r = c.get(f"/api/v1/conversations/{cid}", headers={"X-Conversation-Token": token})
        assert r.status_code == 200
        body = r.json()
        assert [m["author"] for m in body["messages"]] == ["customer", "bot"]
        assert body["messages"][1]["sources"]
        assert "draft" not in body["messages"][1] and "decision" not in body["messages"][1]
        # A staff key reads any conversation.
        staff = new_key(answering, "agent")
        assert c.get(f"/api/v1/conversations/{cid}", headers=bearer(staff)).status_code == 200


def test_a_rating_is_stored_on_the_answer(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        _, other_token = start(c, key)
        answer = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?", "stream": False},
            headers={"X-Conversation-Token": token},
        ).json()
        mid = answer["message_id"]
        rating = {"rating": "down", "reason": "wrong"}
        assert c.post(f"/api/v1/messages/{mid}/rating", json=rating).status_code == 403
        r = c.post(
            f"/api/v1/messages/{mid}/rating",
            json=rating,
            headers={"X-Conversation-Token": other_token},
        )
        assert r.status_code == 404
        r = c.post(
            f"/api/v1/messages/{mid}/rating", json=rating, headers={"X-Conversation-Token": token}
        )
        assert r.status_code == 200 and r.json() == {"ok": True}
    t = answering.conversations.transcript(cid)
    assert t is not None
    assert (t.messages[-1].rating, t.messages[-1].rating_reason) == (-1, "wrong")


def test_bad_input_and_unknown_paths_are_json_errors(services: Services) -> None:
    key = new_key(services, "customer")
    with served(services) as url, client(url, key) as c:
        cid, token = start(c, key)
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": ""},
            headers={"X-Conversation-Token": token},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        r = c.get("/api/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.get("/api/openapi.json").json()["paths"]["/api/v1/conversations"]
        docs = c.get("/api/docs").text
        # Offline: every file the docs page loads comes from this server.
        assert "cdn" not in docs and "http" not in docs.replace("http-equiv", "")
        for asset in re.findall(r'(?:src|href)="(/api/docs-assets/[^"]+)"', docs):
            assert c.get(asset).status_code == 200, asset
        assert len(re.findall(r"/api/docs-assets/", docs)) == 3
        # The chat page is still served.
        assert c.get("/").status_code == 200


def test_a_client_that_leaves_mid_stream_stops_the_turn_and_it_is_stored(
    answering: Services,
) -> None:
    slow = ScriptedGenerator([" ".join(["We are open 9 to 5 on weekdays."] * 100)], delay_s=0.02)
    answering.dialogue.generator = slow
    answering.dialogue.approved_answers = False
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        cid, token = start(c, key)
        with c.stream(
            "POST",
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "When are you open?"},
            headers={"X-Conversation-Token": token},
        ) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break  # the customer leaves
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            t = answering.conversations.transcript(cid)
            if t is not None and len(t.messages) == 2:
                break
            time.sleep(0.1)
    assert t is not None and [m.role for m in t.messages] == ["user", "assistant"]
    assert slow.outcomes == ["closed"]  # the model stopped: it did not write on to the end


class CountingGenerator(ScriptedGenerator):
    """Counts the answers being generated at the same moment."""

    def __init__(self) -> None:
        super().__init__(["9 to 5 on weekdays."], delay_s=0.1)
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            yield from super().stream(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("stream", [True, False])
def test_turns_beyond_the_servers_concurrency_wait_their_turn(
    answering: Services, stream: bool
) -> None:
    """Six customers at once on a server that answers two at a time: never more than two
    answers are generated together, and every customer gets theirs."""
    answering.settings.server.concurrency = 2
    generator = CountingGenerator()
    answering.dialogue.generator = generator
    key = new_key(answering, "customer")
    with served(answering) as url:

        def one_customer(_: int) -> str:
            with client(url, key) as c:
                cid, token = start(c, key)
                r = c.post(
                    f"/api/v1/conversations/{cid}/messages",
                    json={"text": "When are you open?", "stream": stream},
                    headers={"X-Conversation-Token": token},
                )
                assert r.status_code == 200, r.text
                return parse_sse(r.text)[-1][0] if stream else "final"

        with ThreadPoolExecutor(6) as pool:
            ends = list(pool.map(one_customer, range(6)))
    assert ends == ["final"] * 6
    assert generator.most == 2
    assert generator.outcomes.count("complete") == 6
