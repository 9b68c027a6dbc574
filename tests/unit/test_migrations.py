"""Alembic migrations build exactly the schema the models describe, and run both ways."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import chatbot.storage.models  # noqa: F401  (registers the conversation tables on Base)
from chatbot.storage import db
from knowledge_base.tables import Base

TABLES = {
    "api_keys",
    "audit_log",
    "conversation_notes",
    "conversations",
    "documents",
    "kb_state",
    "message_sources",
    "messages",
    "passages",
    "staff_users",
    "webhook_deliveries",
    "webhooks",
}


@pytest.fixture
def url(new_database_url: Callable[[], str]) -> str:
    """A blank database of the backend under test (CHATBOT_TEST_DATABASE, see conftest)."""
    return new_database_url()


def schema_diff(url: str) -> list[object]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_head_on_a_blank_database_matches_the_models(url: str) -> None:
    db.upgrade(url)
    assert table_names(url) == TABLES
    assert set(Base.metadata.tables) == TABLES
    head = ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()
    assert current_revision(url) == head
    assert schema_diff(url) == []


def test_upgrade_is_idempotent(url: str) -> None:
    db.upgrade(url)
    db.upgrade(url)
    assert schema_diff(url) == []


def test_downgrade_to_base_and_upgrade_again(url: str) -> None:
    db.upgrade(url)
    command.downgrade(db.alembic_config(url), "base")
    assert table_names(url) == set()
    assert current_revision(url) is None
    db.upgrade(url)
    assert table_names(url) == TABLES
    assert schema_diff(url) == []


def test_the_migrated_schema_enforces_cascades(url: str) -> None:
    """Foreign keys are on (the engine's pragma) and the migration declared the cascades."""
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        when = datetime(2024, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            # Bound parameters keep the statements portable (booleans, blobs, timestamps).
            conn.execute(
                sa.text(
                    "INSERT INTO documents (id, name, source_type, content_hash, size_bytes, "
                    "created_at) VALUES (1, 'a.csv', 'csv', 'h', 1, :when)"
                ),
                {"when": when},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO passages (id, document_id, position, entry_id, kind, title, "
                    "text, answer, embedding, embedder) "
                    "VALUES (7, 1, 0, 'e', 'question', 't', 'x', 'y', :blob, 'hash')"
                ),
                {"blob": b"\x00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, title, needs_human, created_at, "
                    "updated_at) VALUES ('c', 'web', '', :no, :when, :when)"
                ),
                {"no": False, "when": when},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO messages (id, conversation_id, role, content, status, "
                    "created_at) VALUES (1, 'c', 'assistant', 'hi', 'complete', :when)"
                ),
                {"when": when},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO message_sources (message_id, passage_id, entry_id, title, "
                    "snippet, score, rank) VALUES (1, 7, 'e', 't', 's', 0.9, 1)"
                )
            )
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM documents"))
            assert conn.scalar(sa.text("SELECT count(*) FROM passages")) == 0
            # The transcript keeps its source, unlinked from the deleted passage.
            assert conn.execute(
                sa.text("SELECT passage_id, entry_id FROM message_sources")
            ).all() == [(None, "e")]
            conn.execute(sa.text("DELETE FROM conversations"))
            assert conn.scalar(sa.text("SELECT count(*) FROM messages")) == 0
            assert conn.scalar(sa.text("SELECT count(*) FROM message_sources")) == 0
    finally:
        engine.dispose()


def columns(url: str, table: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_language_columns_are_added_to_stored_conversations_and_removed_again(
    url: str,
) -> None:
    """0007 adds the (empty) language columns to a database that has conversations, and its
    downgrade takes them out without losing a message."""
    db.upgrade(url, "0006")
    assert "language" not in columns(url, "messages")
    when = datetime(2024, 1, 1, tzinfo=UTC)
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, title, needs_human, created_at, "
                    "updated_at) VALUES ('c', 'web', '退货要多久', :no, :when, :when)"
                ),
                {"no": False, "when": when},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO messages (id, conversation_id, role, content, status, "
                    "created_at) VALUES (1, 'c', 'user', '退货要多久', 'complete', :when)"
                ),
                {"when": when},
            )
        db.upgrade(url)
        assert "language" in columns(url, "messages")
        assert "language" in columns(url, "conversations")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT language FROM messages")).all() == [(None,)]
            conn.execute(sa.text("UPDATE messages SET language = 'zh'"))
            conn.execute(sa.text("UPDATE conversations SET language = 'zh'"))
            assert conn.execute(
                sa.text("SELECT id FROM conversations WHERE language = 'zh'")
            ).all() == [("c",)]
        assert schema_diff(url) == []
        command.downgrade(db.alembic_config(url), "0006")
        assert "language" not in columns(url, "messages")
        assert "language" not in columns(url, "conversations")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT content FROM messages")).all() == [("退货要多久",)]
        assert current_revision(url) == "0006"
    finally:
        engine.dispose()
