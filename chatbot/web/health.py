"""`GET /healthz`: whether the served app can use its database right now.

200 `{"status": "ok", "database": "ok"}` when a read and a write check pass; otherwise 503
`{"status": "unavailable", "database": REASON}` with REASON one of locked, read-only,
unreachable, error. No sign-in is needed, so the answer holds nothing but those words.

The write check changes nothing for good (SQLite: `BEGIN IMMEDIATE`, a no-op update, roll
back) or, on PostgreSQL, asks whether the session is read-only (a standby,
`default_transaction_read_only`). Checks use fresh connections of their own that wait at most
a second for a lock, so the answer is the database's state now and comes quickly. At most one
check runs at a time and a result is reused for a second, so polling the endpoint cannot load
the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from chatbot.storage import db

HEALTH_PATH = "/healthz"
OK = "ok"
REUSE_SECONDS = 1.0
LOCK_WAIT_S = 1.0  # a check waits this long for another writer, then says "locked"


def database_status(engine: Engine) -> str:
    """OK, or the short reason the database cannot be used now (see chatbot.storage.db)."""
    try:
        with engine.connect() as conn:
            # A real table, so an unreadable or unmigrated file fails here.
            conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
            if conn.dialect.name == "sqlite":
                _sqlite_write_check(conn)
            elif conn.dialect.name == "postgresql" and _pg_read_only(conn):
                return db.READ_ONLY
    except SQLAlchemyError as exc:
        return db.reason(exc)
    return OK


def _sqlite_write_check(conn: Connection) -> None:
    """Take the write lock and give it back at once (nothing is written)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    # Taking the lock alone does not meet every read-only state (a file whose header forbids
    # writing); a change that is rolled back does.
    conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
    conn.exec_driver_sql("ROLLBACK")


def check_engine(engine: Engine) -> Engine:
    """An engine of its own for the checks, on the same database: fresh connections that
    wait at most LOCK_WAIT_S for a lock or a server, whatever the app's engine waits."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and db.is_sqlite_file(str(url)):
        return db.make_engine(url.render_as_string(hide_password=False), LOCK_WAIT_S)
    if url.get_backend_name() == "postgresql":
        return create_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args={"connect_timeout": max(1, int(LOCK_WAIT_S))},
        )
    return engine  # an in-memory database exists in its own engine only


def _pg_read_only(conn: Connection) -> bool:
    """A standby, or a session made read-only (default_transaction_read_only)."""
    return conn.execute(text("SHOW transaction_read_only")).scalar() == "on"


@dataclass
class HealthCheck:
    """The database status, checked at most once per `reuse_s` seconds whatever the load."""

    engine: Engine
    reuse_s: float = REUSE_SECONDS
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._status = OK

    def status(self) -> str:
        with self._lock:
            if self.clock() - self._checked_at >= self.reuse_s:
                self._status = database_status(self.engine)
                self._checked_at = self.clock()
            return self._status


def add_health_route(app: FastAPI, engine: Engine) -> None:
    """Serve `GET /healthz` (add it before mounting a Gradio app at "/")."""
    check = HealthCheck(check_engine(engine))

    # A plain function: FastAPI runs it on a worker thread, off the event loop.
    @app.get(HEALTH_PATH, include_in_schema=False)
    def healthz() -> JSONResponse:
        database = check.status()
        if database == OK:
            return JSONResponse({"status": "ok", "database": OK})
        return JSONResponse({"status": "unavailable", "database": database}, status_code=503)
