"""The shared fixtures' shortcuts (tests/conftest.py) give each test what the product would.

Each `services` database starts as a copy of one migrated per run (or the run's PostgreSQL
database), and staff passwords are hashed cheaply unless a test asks for the product's
parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from chatbot.container import Services
from chatbot.storage import db
from chatbot.storage.models import StaffUser
from knowledge_base.tables import Base

PASSWORD = "correct horse battery"


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stored_hash(services: Services) -> str:
    with services.sessions() as s:
        stored = s.scalar(select(StaffUser.password_hash).where(StaffUser.name == "alice"))
    assert stored is not None
    return stored


def test_a_test_database_is_at_head_with_every_table_and_no_rows(services: Services) -> None:
    head = ScriptDirectory.from_config(db.alembic_config(services.settings.db_url))
    assert _revision(services.engine) == head.get_current_head()
    tables = set(sa.inspect(services.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            assert conn.scalar(select(sa.func.count()).select_from(table)) == 0, table.name


def test_writes_go_to_the_tests_own_copy(services: Services, _sqlite_template: Path) -> None:
    services.accounts.add("alice", PASSWORD, "admin")
    template = db.make_engine(f"sqlite:///{_sqlite_template}")
    try:
        with template.connect() as conn:
            assert conn.scalar(select(sa.func.count()).select_from(StaffUser)) == 0
    finally:
        template.dispose()
    assert services.accounts.verify("alice", PASSWORD) == "admin"


def test_tests_hash_passwords_with_cheap_parameters(services: Services) -> None:
    services.accounts.add("alice", PASSWORD, "admin")
    assert _stored_hash(services).startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert services.accounts.verify("alice", PASSWORD) == "admin"


@pytest.mark.production_password_hashing
def test_the_marker_leaves_the_products_parameters(services: Services) -> None:
    services.accounts.add("alice", PASSWORD, "admin")
    # argon2-cffi's defaults: RFC 9106's low-memory profile (64 MiB, 3 passes, 4 lanes).
    assert _stored_hash(services).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
