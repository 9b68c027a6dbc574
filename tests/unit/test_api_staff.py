"""The HTTP API's staff endpoints over real HTTP: the console's roles and audit entries."""

from __future__ import annotations

import csv
import io

import pytest

from chatbot.container import Services
from chatbot.staff.actor import CLI
from tests.unit.api_server import FAQ_CSV, bearer, client, new_key, served


@pytest.fixture
def keys(services: Services) -> dict[str, str]:
    return {role: new_key(services, role) for role in ("admin", "agent", "customer")}


def audit(services: Services) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in services.staff.audit_log(CLI)]


def test_a_customer_key_is_refused_on_every_staff_endpoint(
    services: Services, keys: dict[str, str]
) -> None:
    with served(services) as url, client(url, keys["customer"]) as c:
        for method, path in [
            ("GET", "/api/v1/kb/documents"),
            ("DELETE", "/api/v1/kb/documents/faq.csv"),
            ("GET", "/api/v1/conversations"),
            ("GET", "/api/v1/handoffs"),
            ("GET", "/api/v1/export"),
        ]:
            r = c.request(method, path)
            assert r.status_code == 403, (method, path)
            assert r.json()["error"]["code"] == "forbidden"
        r = c.post("/api/v1/kb/documents", files={"file": ("faq.csv", FAQ_CSV.encode())})
        assert r.status_code == 403
    assert services.kb.documents() == []


def test_upload_list_and_delete_write_the_consoles_audit_entries(
    services: Services, keys: dict[str, str]
) -> None:
    with served(services) as url, client(url, keys["admin"]) as c:
        r = c.post("/api/v1/kb/documents", files={"file": ("faq.csv", FAQ_CSV.encode())})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "added" and r.json()["passages"] >= 1
        (doc,) = c.get("/api/v1/kb/documents").json()
        assert doc["name"] == "faq.csv" and doc["entries"] == 1
        # An agent may not delete (the console's rule), and it says why.
        r = c.delete("/api/v1/kb/documents/faq.csv", headers=bearer(keys["agent"]))
        assert r.status_code == 403 and "admin" in r.json()["error"]["message"]
        assert c.delete("/api/v1/kb/documents/faq.csv").status_code == 200
        assert c.delete("/api/v1/kb/documents/faq.csv").status_code == 404
        assert c.get("/api/v1/kb/documents").json() == []
    entries = audit(services)
    assert ("api:test-admin", "kb.upload", "faq.csv") in entries
    assert ("api:test-admin", "kb.delete_document", "faq.csv") in entries


def test_conversations_handoffs_and_the_csv_export(
    services: Services, keys: dict[str, str]
) -> None:
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    reply = services.dialogue.respond("When are you open?")
    "".join(reply)
    handoff = services.dialogue.respond("I want to talk to a human agent now")
    "".join(handoff)
    with served(services) as url, client(url, keys["agent"]) as c:
        page = c.get("/api/v1/conversations", params={"page_size": 1}).json()
        assert page["total"] == 2 and len(page["items"]) == 1
        found = c.get("/api/v1/conversations", params={"text": "when are you"}).json()
        assert [i["id"] for i in found["items"]] == [reply.conversation_id]
        bad = c.get("/api/v1/conversations", params={"outcome": "nonsense"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        queue = c.get("/api/v1/handoffs").json()
        assert [q["id"] for q in queue] == [handoff.conversation_id]
        assert queue[0]["language"] == "en"
        assert c.get("/api/v1/handoffs", params={"language": "zh"}).json() == []
        english = c.get("/api/v1/handoffs", params={"language": "en"}).json()
        assert [q["id"] for q in english] == [handoff.conversation_id]
        # Exporting is an admin's, as in the console.
        assert c.get("/api/v1/export").status_code == 403
        with c.stream("GET", "/api/v1/export", headers=bearer(keys["admin"])) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/csv")
            body = r.read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {row["conversation_id"] for row in rows} >= {reply.conversation_id}
    assert ("api:test-admin", "conversations.export") in [(a, b) for a, b, _ in audit(services)]
