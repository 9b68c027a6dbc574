"""Replacing a document deletes its passages, so it needs the right to delete: an agent's
upload of a file named like an existing document is refused (the others in the upload go in),
an admin's replaces it. Sent through the console's upload event, as the browser does."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import SAMPLE_DATA
from tests.security.conftest import Server, admin, agent, assert_responsive, call

SAMPLE_FAQ = SAMPLE_DATA / "shop_faq.csv"
ONE_ROW = b"question,answer\nWhat is this?,A one-row file.\n"


def upload(c: httpx.Client, name: str, content: bytes) -> dict[str, Any]:
    """Upload through Gradio's upload route, as the file picker does; the FileData to send."""
    r = c.post("/admin/gradio_api/upload", files=[("files", (name, content, "text/csv"))])
    assert r.status_code == 200, r.text
    [path] = r.json()
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def shown(markdown: str) -> str:
    """The text a markdown report shows: backslash escapes of punctuation undone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def rows(table: Any) -> list[list[Any]]:
    """The rows of a Dataframe output (Gradio sends {"headers": ..., "data": [...]})."""
    return list(table["data"] if isinstance(table, dict) else table)


def passages(c: httpx.Client) -> dict[str, int]:
    """Document name -> passages, from the console's documents event."""
    event, data = call(c, "/admin", "documents")
    assert event == "complete", data
    return {str(row[0]): int(row[2]) for row in rows(data[0])}


def cli_passages(server: Server, name: str) -> int:
    """The passages `chatbot kb list` shows for a document."""
    listed = server.cli("kb", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.split()[:1] == [name]]
    return int(line.split()[2])


def remove(server: Server, name: str) -> None:
    event, data = call(admin(server), "/admin", "delete_document", name)
    assert event == "complete" and "Deleted" in data[0], data


def audit_rows(c: httpx.Client) -> list[list[Any]]:
    """(time, actor, action, target, details) rows of the console's audit log, newest first."""
    event, data = call(c, "/admin", "audit_log")
    assert event == "complete", data
    return rows(data[1])


def test_an_agent_cannot_replace_a_document_by_uploading_its_name(server: Server) -> None:
    ann = agent(server)
    before = passages(ann)
    assert before["shop_faq.csv"] > 40  # the sample knowledge base

    files = [
        upload(ann, "shop_faq.csv", ONE_ROW),
        upload(ann, "rights_extra.csv", b"question,answer\nDo you gift wrap?,Yes, for free.\n"),
    ]
    event, data = call(ann, "/admin", "upload_files", files)
    assert event == "complete", data
    report = shown(data[0])
    assert (
        "⛔ shop_faq.csv: a document named 'shop_faq.csv' already exists, and replacing it "
        "deletes its current passages, which only an admin may do; nothing was changed. "
        "Upload the file under a new name to add it alongside, or ask an admin to upload it"
    ) in report
    assert "✅ rights_extra.csv: 2 passages added" in report  # the rest of the upload goes in

    after = passages(ann)
    assert after["shop_faq.csv"] == before["shop_faq.csv"]
    assert after["rights_extra.csv"] == 2
    assert cli_passages(server, "shop_faq.csv") == before["shop_faq.csv"]
    # The refusal is in the audit log, under the agent's name, with the reason.
    refusals = [r for r in audit_rows(admin(server)) if r[2] == "kb.upload_refused"]
    assert refusals and refusals[0][1] == "agent" and refusals[0][3] == "shop_faq.csv"
    assert "only an admin may do" in refusals[0][4]
    remove(server, "rights_extra.csv")  # the shared server's knowledge base stays the sample
    assert_responsive(server)


def test_an_admin_can_replace_a_document(server: Server) -> None:
    boss = admin(server)
    original = SAMPLE_FAQ.read_bytes()
    before = passages(boss)["shop_faq.csv"]
    try:
        event, data = call(boss, "/admin", "upload_files", [upload(boss, "shop_faq.csv", ONE_ROW)])
        assert event == "complete", data
        assert shown(data[0]) == "✅ shop_faq.csv: 2 passages replaced"
        assert passages(boss)["shop_faq.csv"] == 2
        assert cli_passages(server, "shop_faq.csv") == 2
    finally:  # the other tests answer from the sample knowledge base
        event, data = call(boss, "/admin", "upload_files", [upload(boss, "shop_faq.csv", original)])
        assert event == "complete", data
    assert passages(boss)["shop_faq.csv"] == before
    # The same content again is a no-op, for an agent too.
    ann = agent(server)
    event, data = call(ann, "/admin", "upload_files", [upload(ann, "shop_faq.csv", original)])
    assert event == "complete", data
    assert shown(data[0]) == f"✅ shop_faq.csv: {before} passages unchanged"
    assert_responsive(server)
