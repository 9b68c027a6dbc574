"""The database health check, recovery from a read-only database without a restart, and a
customer message that cannot be stored (no web server here).

A read-only SQLite database is made by setting the file format's write version (byte 18 of the
header) above 2, which SQLite documents as "treat the file as read-only": it works the same
for every user, root included, where `chmod` does not stop root. A connection opened meanwhile
keeps refusing writes after the byte is restored, as one opened on a read-only file does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import QueuePool
from typer.testing import CliRunner

from chatbot import container
from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.dialogue.manager import NOT_SENT_TEXT, MessageNotSent
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from chatbot.storage import db
from chatbot.web import health
from knowledge_base.embedders import HashEmbedder
from tests.conftest import ON_POSTGRES

WRITE_VERSION_OFFSET = 18


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def set_write_version(path: Path, version: int) -> None:
    """2 = writable (WAL), 3 = read-only for every connection opened from now on."""
    if version > 2:
        # Empty the WAL first, so the header read from the file is the current one.
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    with path.open("r+b") as f:
        f.seek(WRITE_VERSION_OFFSET)
        f.write(bytes([version]))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file of its own (also under the PostgreSQL switch: these tests are
    about SQLite's own states)."""
    url = f"sqlite:///{tmp_path / 'own' / 'chatbot.db'}"
    db.upgrade(url)
    return url


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = db.make_engine(sqlite_url)
    yield engine
    engine.dispose()


def write(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (actor, action, target, details, created_at) "
                "VALUES ('t', 'test.write', '', '', :when)"
            ),
            {"when": "2024-01-01 00:00:00"},
        )


@pytest.fixture
def holding_write_lock(sqlite_url: str) -> Iterator[sqlite3.Connection]:
    """Another process's writer: holds SQLite's write lock until the test ends."""
    conn = sqlite3.connect(sqlite_path(sqlite_url), isolation_level=None, timeout=0)
    conn.execute("BEGIN EXCLUSIVE")
    yield conn
    conn.execute("ROLLBACK")
    conn.close()


# ---- health ---------------------------------------------------------------------------------
def test_a_working_database_is_ok(services: Services) -> None:
    assert health.database_status(services.engine) == health.OK


def test_a_read_only_database_is_reported(services: Services) -> None:
    """On the backend under test: SQLite's header, PostgreSQL's read-only sessions."""
    url = services.settings.db_url
    if ON_POSTGRES:
        engine = sa.create_engine(
            url, connect_args={"options": "-c default_transaction_read_only=on"}
        )
        try:
            assert health.database_status(engine) == db.READ_ONLY
        finally:
            engine.dispose()
        return
    services.engine.dispose()
    set_write_version(sqlite_path(url), 3)
    try:
        assert health.database_status(services.engine) == db.READ_ONLY
    finally:
        set_write_version(sqlite_path(url), 2)
    assert health.database_status(services.engine) == health.OK


def test_a_locked_database_is_reported_within_about_a_second(
    sqlite_engine: Engine, holding_write_lock: sqlite3.Connection
) -> None:
    checks = health.check_engine(sqlite_engine)
    try:
        started = time.monotonic()
        assert health.database_status(checks) == db.LOCKED
        assert time.monotonic() - started < 3
    finally:
        checks.dispose()


def test_a_missing_or_unmigrated_database_is_reported(tmp_path: Path) -> None:
    missing = db.make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    assert health.database_status(missing) == db.UNREACHABLE
    blank = db.make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    assert health.database_status(blank) == db.FAILED  # no schema: "error"


def test_the_check_runs_at_most_once_a_second(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Engine] = []
    monkeypatch.setattr(health, "database_status", lambda e: calls.append(e) or db.LOCKED)
    now = [100.0]
    check = health.HealthCheck(sqlite_engine, clock=lambda: now[0])
    assert [check.status() for _ in range(50)] == [db.LOCKED] * 50
    assert len(calls) == 1
    now[0] += 1.0
    check.status()
    assert len(calls) == 2


# ---- recovery without a restart -------------------------------------------------------------
def test_sqlite_read_only_at_start_writes_as_soon_as_it_is_writable(sqlite_url: str) -> None:
    path = sqlite_path(sqlite_url)
    set_write_version(path, 3)
    engine = db.make_engine(sqlite_url)  # the server starts while the file is read-only
    try:
        with pytest.raises(OperationalError, match="readonly"):
            write(engine)
        assert health.database_status(engine) == db.READ_ONLY
        set_write_version(path, 2)
        write(engine)  # the very next write works: no connection kept the read-only state
        assert health.database_status(engine) == health.OK
    finally:
        engine.dispose()


def test_a_pooled_connection_that_cannot_write_is_replaced(
    services: Services, sqlite_url: str
) -> None:
    """On a pooled backend (PostgreSQL) a connection that turned read-only is discarded at its
    first refused write, not handed out again. SQLite files are not pooled; there the same
    handler is checked on a pooled engine of its own."""
    if ON_POSTGRES:
        engine = services.engine
    else:
        engine = sa.create_engine(sqlite_url, poolclass=QueuePool, pool_size=1, max_overflow=0)
        event.listen(engine, "handle_error", db._discard_connections_that_cannot_write)
    with engine.connect() as conn:
        if ON_POSTGRES:
            conn.execute(sa.text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
        else:
            conn.exec_driver_sql("PRAGMA query_only=ON")
        conn.commit()
    with pytest.raises(SQLAlchemyError) as refused:
        write(engine)
    assert db.reason(refused.value) == db.READ_ONLY
    write(engine)  # a fresh connection


# ---- a customer message that cannot be stored ----------------------------------------------
def test_the_busy_timeout_is_a_setting_of_five_seconds(sqlite_url: str) -> None:
    assert Settings().database_busy_timeout_seconds == 5
    engine = db.make_engine(sqlite_url, busy_timeout_s=2.5)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    finally:
        engine.dispose()


def test_a_locked_database_refuses_the_message_quickly_and_clearly(
    services: Services,
    sqlite_url: str,
    holding_write_lock: sqlite3.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked = db.make_engine(sqlite_url, busy_timeout_s=0.3)
    monkeypatch.setattr(services.dialogue, "_sessions", db.make_sessions(locked))
    started = time.monotonic()
    with pytest.raises(MessageNotSent) as refused:
        services.dialogue.respond("When are you open?")
    assert time.monotonic() - started < 3  # the busy timeout, not 30 s
    assert refused.value.reason == db.LOCKED
    assert "could not store the customer's message: the database is locked" in str(refused.value)
    assert isinstance(refused.value, db.StorageUnavailable)
    locked.dispose()


def test_an_unreachable_database_refuses_the_message(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = db.make_engine(f"sqlite:///{tmp_path / 'gone' / 'x.db'}")
    monkeypatch.setattr(services.dialogue, "_sessions", db.make_sessions(gone))
    with pytest.raises(MessageNotSent) as refused:
        services.dialogue.respond("When are you open?")
    assert refused.value.reason == db.UNREACHABLE
    # Nothing was stored in the real database either.
    assert services.conversations.recent() == []


def test_the_customer_is_told_to_send_it_again() -> None:
    assert "not sent" in NOT_SENT_TEXT and "send it again" in NOT_SENT_TEXT


def test_chatbot_ask_says_the_question_was_not_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_build = container.build

    def build_with_doubles(settings: Settings, **kwargs: Any) -> Services:
        built = real_build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())

        def refuse(*args: Any, **kw: Any) -> None:
            raise MessageNotSent("could not store the customer's message: ...", db.LOCKED)

        monkeypatch.setattr(built.dialogue, "respond", refuse)
        return built

    monkeypatch.setattr(container, "build", build_with_doubles)
    result = CliRunner().invoke(app, ["ask", "When are you open?"])
    assert result.exit_code == 1
    assert "ERROR could not store the customer's message" in result.output
    assert "ask again in a moment" in result.output
