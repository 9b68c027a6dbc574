"""Events accept no server paths from the client; the customer page takes and serves no files;
a conversation is reached only with the token the server signed.

Each attack is sent the way a browser would send it (`queue/join` with the event's index),
against the real served app, and must leave it answering within a second.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO_ROOT
from tests.security.conftest import (
    Server,
    admin,
    agent,
    assert_responsive,
    call,
    config,
    fn_index,
    queue_join,
)


def file_data(path: str | Path) -> dict[str, Any]:
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def chat_message_with(path: str | Path) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "file", "file": file_data(path)}]}


def chat_inputs(c: httpx.Client) -> int:
    [chat] = [d for d in config(c)["dependencies"] if d.get("api_name") == "chat"]
    return len(chat["inputs"])


def attack_payloads(c: httpx.Client, path: str | Path) -> list[list[Any]]:
    """The chat event's data with `path` as a file in the history slot, as the textbox
    value, and in every other slot."""
    n = chat_inputs(c)
    payloads: list[list[Any]] = [["hi", [chat_message_with(path)], *[None] * (n - 2)]]
    for slot in range(n):
        data: list[Any] = ["hi", *[None] * (n - 1)]
        data[slot] = file_data(path)
        payloads.append(data)
    return payloads


def run_async(fn: Any) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_a_file_path_in_the_chat_request_neither_freezes_nor_reads(
    server: Server, tmp_path: Path
) -> None:
    c = server.client(timeout=20)
    index = fn_index(c, "", "chat")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo):
        for data in attack_payloads(c, path):
            # Sent in the background: if the server reads the path, this never returns.
            results: list[list[dict[str, Any]]] = []
            t = run_async(
                lambda data=data, results=results: results.append(queue_join(c, "", index, data))
            )
            t.join(timeout=3)
            assert_responsive(server)
            t.join(timeout=15)
            assert not t.is_alive(), f"the chat event hung on {path} in {data}"
            # Refused, never copied: no path into Gradio's cache comes back.
            assert "gradio_api/file=" not in json.dumps(results)


def test_server_files_never_reach_the_cache_or_an_answer(server: Server) -> None:
    c = server.client()
    index = fn_index(c, "", "chat")
    targets: list[str | Path] = [
        "/etc/passwd",
        server.data_dir / "chatbot.db",
        "/proc/self/environ",
    ]
    replies: dict[str, list[list[Any]]] = {}
    for path in [*targets, "/no/such/file"]:
        for data in attack_payloads(c, path):
            messages = queue_join(c, "", index, data)
            text = json.dumps(messages)
            assert "root:x:0:0" not in text and "SQLite format" not in text
            assert "CHATBOT_" not in text
            # No copy of the file is offered for download.
            assert "gradio_api/file=" not in text, text
            replies.setdefault(str(path), []).append(
                [m.get("msg") for m in messages if m.get("msg") != "estimation"]
            )
    # A missing file is answered exactly like an existing one: no existence oracle.
    assert replies["/no/such/file"] == replies["/etc/passwd"]
    # The file routes serve none of them, to customers or staff.
    staff = agent(server)
    for path in targets:
        assert c.get(f"/gradio_api/file={path}").status_code in (403, 404)
        assert staff.get(f"/admin/gradio_api/file={path}").status_code in (403, 404)
    assert_responsive(server)


def documents(server: Server) -> str:
    listed = server.cli("kb", "list")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def upload(c: httpx.Client, name: str, content: bytes) -> str:
    r = c.post("/admin/gradio_api/upload", files=[("files", (name, content, "text/csv"))])
    assert r.status_code == 200, r.text
    [path] = r.json()
    return str(path)


def test_the_console_ingests_only_files_its_own_session_uploaded(server: Server) -> None:
    ann = agent(server)
    readme = REPO_ROOT / "README.md"
    for path in ("/etc/passwd", readme, server.data_dir / "chatbot.db"):
        event, data = call(ann, "/admin", "upload_files", [file_data(path)])
        assert path.name if isinstance(path, Path) else "passwd" not in documents(server)
        assert "README.md" not in documents(server)
        assert "root:x:0:0" not in json.dumps(data)
    # A file another session uploaded is not this session's to ingest.
    boss = admin(server)
    theirs = upload(boss, "boss_only.csv", b"id,question,answer\nb,Boss?,Boss answer.\n")
    event, data = call(ann, "/admin", "upload_files", [file_data(theirs)])
    assert "boss_only.csv" not in documents(server)
    assert "not uploaded in your session" in json.dumps(data), (event, data)
    # The session's own upload goes in.
    mine = upload(ann, "ann_faq.csv", b"id,question,answer\na,Ann?,Ann answer.\n")
    event, data = call(ann, "/admin", "upload_files", [file_data(mine)])
    assert event == "complete", data
    assert "ann_faq.csv" in documents(server)
    assert_responsive(server)


def test_the_upload_folder_is_private_to_the_server_process(server: Server) -> None:
    ann = agent(server)
    path = Path(upload(ann, "private.csv", b"id,question,answer\np,P?,P.\n"))
    folder = next(p for p in path.parents if p.name.startswith("chatbot-files-"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.parent == server.root / "tmp"
    assert_responsive(server)


def test_the_customer_page_takes_and_serves_no_files(server: Server) -> None:
    c = server.client()
    r = c.post("/gradio_api/upload", files=[("files", ("x.txt", b"hello", "text/plain"))])
    assert r.status_code == 403
    assert "takes no files" in r.json()["detail"]
    assert c.get("/gradio_api/file=/etc/passwd").status_code == 403
    assert c.get("/gradio_api/file=https://example.com/").status_code == 403
    assert_responsive(server)


def latest_conversation(server: Server) -> str:
    with sqlite3.connect(server.data_dir / "chatbot.db") as db:
        row = db.execute("SELECT id FROM conversations ORDER BY created_at DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def restore_index(c: httpx.Client) -> int:
    """The page-load event that brings a saved conversation back (private, unnamed)."""
    cfg = config(c)
    chatbot_id = next(
        comp["id"]
        for comp in cfg["components"]
        if comp.get("props", {}).get("elem_id") == "chatbot"
    )
    for i, dep in enumerate(cfg["dependencies"]):
        triggers = [t[1] for t in dep.get("targets", [])]
        if "load" in triggers and chatbot_id in dep.get("outputs", []):
            return int(dep.get("id", i))
    raise AssertionError("no page-load event fills the chat")


def test_a_conversation_id_alone_does_not_open_the_conversation(server: Server) -> None:
    victim = server.client()
    n = chat_inputs(victim)
    text = "My order number is 99881 and I want a refund"
    event, data = call(victim, "", "chat", text, *[None] * (n - 1))
    assert event == "complete", data
    conversation_id = latest_conversation(server)
    attacker = server.client()
    index = restore_index(attacker)
    for saved in (conversation_id, f"{conversation_id}.forged", {"id": conversation_id}):
        messages = queue_join(attacker, "", index, [saved])
        assert "99881" not in json.dumps(messages), saved
    # The signing key never leaves the server.
    key = (server.data_dir / "secret.key").read_bytes()
    assert key.hex() not in json.dumps(config(attacker))
    assert stat.S_IMODE((server.data_dir / "secret.key").stat().st_mode) == 0o600
    assert_responsive(server)
