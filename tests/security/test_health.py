"""The database's state over HTTP: `/healthz` tells the truth, the server recovers without a
restart, and a customer whose message cannot be stored is told so and keeps it.

A read-only SQLite database is made by setting the file format's write version (byte 18 of the
header) to 3, which SQLite documents as "treat the file as read-only". It is the same state a
read-only file gives (SQLITE_READONLY, kept by a connection opened meanwhile), but it binds
every user: `chmod` does not stop root, and tests may run as root. Setting the byte back to 2
makes the file writable again. A locked database is another writer holding SQLite's write
lock (`BEGIN IMMEDIATE` from the test).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatbot.dialogue.manager import NOT_SENT_TEXT
from tests.security.conftest import (
    ADMIN,
    Server,
    assert_responsive,
    call,
    start_server,
    stop_server,
)
from tests.served import chatbot_command, server_env

WRITE_VERSION_OFFSET = 18
QUESTION = "When are you open?"


def set_write_version(path: Path, version: int) -> None:
    """2 = writable (WAL), 3 = read-only for every connection opened from now on."""
    if version > 2:
        conn = sqlite3.connect(path)  # empty the WAL, so the file's header is the current one
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    with path.open("r+b") as f:
        f.seek(WRITE_VERSION_OFFSET)
        f.write(bytes([version]))


def writes(path: Path) -> bool:
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE alembic_version SET version_num = version_num")
        conn.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def stored_messages(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT role, content FROM messages ORDER BY id"))
    finally:
        conn.close()


def health(c: httpx.Client) -> tuple[int, Any]:
    r = c.get("/healthz")
    return r.status_code, r.json()


def health_becomes(c: httpx.Client, status: int, within_s: float = 5) -> tuple[int, Any]:
    """Results are reused for a second: wait for the next check."""
    deadline = time.monotonic() + within_s
    while True:
        code, body = health(c)
        if code == status or time.monotonic() > deadline:
            return code, body
        time.sleep(0.2)


def turn(c: httpx.Client, text: str) -> tuple[str, str, float]:
    """(the last chat bubble, the text box after the turn, seconds taken)."""
    started = time.monotonic()
    event, data = call(c, "", "chat", text, timeout=90)
    took = time.monotonic() - started
    assert event == "complete", data
    # The outputs: the chat, the text box, and server-side states (sent as null). A turn that
    # took its message leaves the box alone at the end (an update with no value): the box
    # holds what its first update set, "".
    chat, box = data[0], next((x for x in data[1:] if isinstance(x, str)), "")
    content = chat[-1]["content"]  # a string, or a list of {"type": "text", "text": ...}
    if isinstance(content, list):
        content = "".join(str(part.get("text", "")) for part in content)
    return str(content), box, took


@pytest.fixture
def fresh(tmp_path: Path) -> Any:
    """A data dir with its users and an empty knowledge base, not served yet, on SQLite
    (these tests are about SQLite's file states, whatever database the suite uses)."""
    dbfile = tmp_path / "data" / "chatbot.db"
    extra = {"CHATBOT_LOAD_SAMPLE_KB": "false", "CHATBOT_DATABASE_URL": f"sqlite:///{dbfile}"}
    added = subprocess.run(
        [*chatbot_command(), "users", "add", ADMIN[0], "--role", "admin", "--password-stdin"],
        input=f"{ADMIN[1]}\n",
        env=server_env(tmp_path, extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return tmp_path, extra, dbfile


def test_healthz_on_the_shared_server_is_ok_and_says_nothing_else(server: Server) -> None:
    with server.client() as c:  # no sign-in
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}
    assert_responsive(server)


def test_read_only_then_locked_database_is_reported_survived_and_loses_nothing(
    fresh: Any,
) -> None:
    root, extra, dbfile = fresh
    set_write_version(dbfile, 3)
    assert not writes(dbfile), "the database could not be made read-only for the test"
    server = start_server(root, extra, users=False)
    try:
        with server.client() as c:
            # Read-only at start: the page looks fine, the health check does not.
            assert c.get("/").status_code == 200
            assert health(c) == (503, {"status": "unavailable", "database": "read-only"})
            shown, box, _ = turn(c, QUESTION)
            assert NOT_SENT_TEXT in shown
            assert box == QUESTION  # the customer still has the message to send again
            assert stored_messages(dbfile) == []

            # Writable again: no restart, the very next turn is answered and stored.
            set_write_version(dbfile, 2)
            assert writes(dbfile)
            assert health_becomes(c, 200) == (200, {"status": "ok", "database": "ok"})
            shown, box, _ = turn(c, QUESTION)
            assert NOT_SENT_TEXT not in shown and shown.strip()
            assert box == ""
            assert [role for role, _ in stored_messages(dbfile)] == ["user", "assistant"]

            # Locked by another writer: reported within seconds, the customer waits the
            # busy timeout (5 s), not 30, and is told the message was not sent.
            lock = sqlite3.connect(dbfile, isolation_level=None, timeout=0)
            lock.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                code, body = health_becomes(c, 503)
                assert (code, body) == (503, {"status": "unavailable", "database": "locked"})
                assert time.monotonic() - started < 4
                shown, box, took = turn(c, "Do you deliver on Sundays?")
                assert NOT_SENT_TEXT in shown
                assert box == "Do you deliver on Sundays?"
                assert took < 15, f"a locked database held the customer for {took:.1f} s"
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert health_becomes(c, 200)[0] == 200
            shown, _, _ = turn(c, "Do you deliver on Sundays?")
            assert NOT_SENT_TEXT not in shown
            assert len(stored_messages(dbfile)) == 4
        assert_responsive(server)
    finally:
        stop_server(server)
