"""Deleted personal data leaves no copy in SQLite's files.

A deleted row's bytes stay in SQLite's files: in the database file's freed space until it
is reused, and in the write-ahead log (`chatbot.db-wal`), which holds an image of every page
written since the last checkpoint, so a message stored, rated and handed off has several
copies there. After a purge, `scrub` makes the deletions stick on disk:

- deletes run with `PRAGMA secure_delete=ON` (`secure_delete`), so the freed space is
  overwritten with zeros;
- `VACUUM` rebuilds the database file from its live rows, so no page or cell written before
  (a row moved when a page split, an old title) keeps deleted text;
- `PRAGMA wal_checkpoint(TRUNCATE)` copies the log into the database and empties it.

Other databases keep their own history (PostgreSQL: dead tuples until its VACUUM, and its
WAL archive); there these functions do nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


def secure_delete(session: Session) -> None:
    """Make this session's deletes overwrite what they delete (SQLite; elsewhere nothing)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))


def scrub(engine: Engine, *, vacuum: bool = True) -> bool:
    """Rebuild the SQLite database file (unless `vacuum` is False) and empty its write-ahead
    log, so rows deleted before leave no bytes behind. Returns False when the log could not
    be emptied because another connection was reading at that moment (a busy server): its
    copies stay until the next scrub. Other databases: nothing to do, True."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM builds the new file in a temporary database: kept in memory, not in a file.
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
        if vacuum:
            conn.exec_driver_sql("VACUUM")
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    busy = bool(row[0])
    if busy:
        log.warning("the database's write-ahead log is in use and was not emptied")
    return not busy
