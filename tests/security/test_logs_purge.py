"""Personal data stays out of the server's log, a purge leaves no copy of what it deleted in
SQLite's files, and a console export is a private file that is deleted soon.

One server of its own, on SQLite whatever database the suite uses (what is checked is
SQLite's files), with a short export lifetime and a short wait for a locked database.
"""

from __future__ import annotations

import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import (
    Server,
    admin,
    assert_responsive,
    call,
    completed_output,
    start_server,
    stop_server,
)
from tests.security.test_export_csv import download
from tests.security.test_privacy_limits import chat

EXPORT_KEEP_S = 4
EMAIL = "jane.doe.zq@example.com"
CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("logs-purge")
    env = {
        "CHATBOT_DATABASE_URL": f"sqlite:///{root / 'data' / 'chatbot.db'}",
        "CHATBOT_PRIVACY__EXPORT_KEEP_SECONDS": str(EXPORT_KEEP_S),
        "CHATBOT_DATABASE_BUSY_TIMEOUT_SECONDS": "1",
    }
    s = start_server(root, env)
    try:
        yield s
    finally:
        stop_server(s)


def turn(server: Server, text: str) -> str:
    with server.client(timeout=180) as c:
        return str(completed_output(chat(c, text, timeout=180)))


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another writer holds SQLite's write lock."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.rollback()
        conn.close()


def sqlite_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_the_log_has_ids_not_personal_data(own: Server) -> None:
    # The model, asked to quote a card number, writes it into an answer the grounding check
    # rejects: the rejected answer was logged whole.
    turn(
        own, f"Where is my refund for card {CARD}? Please quote my card number {CARD} in the reply."
    )
    turn(own, f"How do I track my order? My e-mail is {EMAIL}, write it in your answer.")
    with locked(own.data_dir / "chatbot.db"):  # the message cannot be stored
        turn(own, f"Call me on +44 20 7946 0958 or write to {EMAIL}, card {CARD}")
    log = own.log_text()
    for personal in (EMAIL, "jane.doe.zq", CARD, CARD.replace(" ", ""), "7946 0958"):
        assert personal not in log, f"{personal!r} is in the server's log"
    assert_responsive(own)


def test_purge_leaves_no_copy_in_the_database_or_its_log(own: Server) -> None:
    db = own.data_dir / "chatbot.db"
    marker = f"zebra-quartz-{uuid.uuid4().hex[:12]}"
    turn(own, f"How do I cancel my order? {marker}")
    turn(own, f"Do you ship to Mars? {marker}")
    kept = f"kept-{uuid.uuid4().hex[:12]}"
    turn(own, f"How do I return an item? {kept}")
    assert marker.encode() in sqlite_bytes(db)
    # The marked conversations last spoke long ago. This connection stays open, idle, as a
    # backup or a second server would: SQLite then keeps the write-ahead log when the purge's
    # connections close, instead of folding it into the file. (Reading the file from this
    # process would drop the connection's locks: the bytes are read after the purge only.)
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute(
            "UPDATE conversations SET updated_at = '2000-01-01 00:00:00.000000' WHERE id IN "
            "(SELECT conversation_id FROM messages WHERE instr(content, ?) > 0)",
            (marker,),
        )
        purged = own.cli("purge", "--older-than", "1", "--yes")  # while the server runs
        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert "deleted 2 conversations" in purged.stdout
        assert "write-ahead log was in use" not in purged.stderr
        raw = sqlite_bytes(db)
    finally:
        other.close()
    assert marker.encode() not in raw, "a purged message is still in chatbot.db or its log"
    assert kept.encode() in raw
    turn(own, "How do I track my order?")  # the server goes on after the purge
    assert_responsive(own)


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_an_export_is_private_and_deleted_soon(own: Server) -> None:
    marker = f"export-{uuid.uuid4().hex[:12]}"
    turn(own, f"How do I cancel my order? {marker}")
    c = admin(own)
    try:
        event, data = call(c, "/admin", "export_conversations", "csv", None, None, "any", "all")
        assert event == "complete", data
        file: dict[str, Any] = data[0]
        path = Path(file["path"])
        assert marker in download(c, file)
        # Only the server's user may read it, or list or open its folders.
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        # The one copy: Gradio serves this file, it keeps none of its own.
        assert files_containing(own.root / "tmp", marker.encode()) == [path]

        time.sleep(EXPORT_KEEP_S + 2)
        assert not path.exists() and not path.parent.exists()
        assert files_containing(own.root / "tmp", marker.encode()) == []
        url = file.get("url") or f"/admin/gradio_api/file={file['path']}"
        assert c.get(url).status_code in (403, 404)
    finally:
        c.close()
    assert_responsive(own)
