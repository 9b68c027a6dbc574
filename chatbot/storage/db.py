"""Engine and session factory, built by the entry point from settings.

The engine is built so that a database that was read-only, locked or unreachable for a while
works again as soon as it is back, without a restart:

- SQLite files get no connection pool: each session opens the file afresh (about 0.3 ms). A
  pooled SQLite connection keeps the state it was opened in: one opened while the file was
  read-only stays read-only after the file is writable again.
- Other databases keep a pool with a liveness check on checkout, and an error that means
  "this connection cannot write" (e.g. PostgreSQL's read-only transaction after a fail-over)
  discards the pool, so the next session connects anew.
- A locked SQLite database is waited for `busy_timeout_s` seconds, then the write fails with
  "database is locked" (see `StorageUnavailable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

# An installed package carries the migrations here (pyproject.toml maps the top-level alembic/
# folder onto chatbot/storage/migrations); a source checkout has them only at the top.
PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CHECKOUT = Path(__file__).resolve().parents[2]
DEFAULT_BUSY_TIMEOUT_S = 5.0
# PostgreSQL SQLSTATE "read_only_sql_transaction" (a standby, or default_transaction_read_only).
PG_READ_ONLY = "25006"
# Short reasons, safe to show anyone (the health endpoint): no paths, no SQL.
LOCKED, READ_ONLY, UNREACHABLE, FAILED = "locked", "read-only", "unreachable", "error"
DESCRIPTIONS = {
    LOCKED: "the database is locked by another writer",
    READ_ONLY: "the database is read-only",
    UNREACHABLE: "the database cannot be opened or reached",
    FAILED: "the database reported an error",
}
SQLITE_UNREACHABLE = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_NOTADB")
PG_LOCKED = ("55P03", "40P01")  # lock not available, deadlock detected


class StorageUnavailable(RuntimeError):
    """The database refused a read or write for now (locked, read-only, unreachable).

    `reason` is one of the short reasons above."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def make_engine(url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Gradio serves each request on its own thread.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_s}
        if is_sqlite_file(url):
            kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_pre_ping"] = True
    # Error messages and logs name the statement but not its values (customer text).
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_s))
    event.listen(engine, "handle_error", _discard_connections_that_cannot_write)
    return engine


def _sqlite_pragmas(busy_timeout_s: float, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys make cascading deletes work; WAL lets readers run beside one writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cursor.close()


def _discard_connections_that_cannot_write(context: ExceptionContext) -> None:
    """Treat "read-only" like a lost connection: SQLAlchemy then replaces the pool's
    connections instead of handing out the same read-only ones again."""
    if reason(context.original_exception) == READ_ONLY:
        context.is_disconnect = True


def reason(exc: BaseException) -> str:
    """The short reason a database error stands for: locked, read-only, unreachable, error."""
    orig = getattr(exc, "orig", None) or exc
    name = str(getattr(orig, "sqlite_errorname", ""))
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or sqlstate in PG_LOCKED:
        return LOCKED
    if name.startswith("SQLITE_READONLY") or sqlstate == PG_READ_ONLY:
        return READ_ONLY
    if name.startswith(SQLITE_UNREACHABLE) or sqlstate.startswith("08"):
        return UNREACHABLE
    if name or sqlstate:  # the database answered: some other error
        return FAILED
    # No code at all: the driver could not talk to the server.
    if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
        return UNREACHABLE
    return FAILED


@contextmanager
def unavailable_as_error(
    doing: str, error: type[StorageUnavailable] = StorageUnavailable
) -> Iterator[None]:
    """Raise `error` ("could not {doing}: the database is locked ...") for any database error
    inside, the commit at the end of an inner `sessions.begin()` included."""
    try:
        yield
    except SQLAlchemyError as exc:
        why = reason(exc)
        raise error(f"could not {doing}: {DESCRIPTIONS[why]}", why) from exc


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrations_dir() -> Path:
    """The Alembic scripts: the installed copy, else the checkout's alembic/ folder."""
    if (PACKAGED_MIGRATIONS / "env.py").is_file():
        return PACKAGED_MIGRATIONS
    if (CHECKOUT / "alembic.ini").is_file():  # beside alembic/ only in a source checkout
        return CHECKOUT / "alembic"
    raise RuntimeError(f"the database migrations are missing from {PACKAGED_MIGRATIONS}")


def alembic_config(url: str) -> Any:
    """The configuration `chatbot db upgrade` runs with, built here rather than read from
    alembic.ini (which an installed package does not have; it serves the `alembic` command in a
    checkout)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema to `revision` (Alembic)."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
