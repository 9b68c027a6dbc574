"""Shared fixtures. Nothing here downloads: the hub is switched off before any import.

CHATBOT_TEST_DATABASE picks the database backend of the whole suite: `sqlite` (default, a
file per test, copied from one migrated at the start of the run) or `postgresql` (the server
at CHATBOT_TEST_POSTGRES_URL, by default the local one). With PostgreSQL the session creates
its own uniquely named database, migrates it once, empties every table after each test and
drops the database at the end. Blank databases for the migration tests (`new_database_url`)
are always migrated from scratch.

Staff passwords are hashed with cheap argon2 parameters (see `_cheap_password_hashing`);
a test marked `production_password_hashing` gets the product's own.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

import chatbot.storage.models  # noqa: F401  (registers the conversation tables on Base)
from chatbot.container import Services, build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import RetrievalSettings, Settings
from chatbot.staff import auth
from chatbot.storage import db
from knowledge_base.embedders import HashEmbedder
from knowledge_base.tables import Base

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SAMPLE_DATA = REPO_ROOT / "chatbot" / "sample_data"

# Read at import: the autouse fixture below removes every CHATBOT_* variable from each test.
TEST_DATABASE = os.environ.get("CHATBOT_TEST_DATABASE", "").strip().lower() or "sqlite"
POSTGRES_ADMIN_URL = os.environ.get(
    "CHATBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
if TEST_DATABASE not in {"sqlite", "postgresql"}:
    raise pytest.UsageError(
        f"CHATBOT_TEST_DATABASE={TEST_DATABASE!r}: use 'sqlite' (default) or 'postgresql'"
    )
ON_POSTGRES = TEST_DATABASE == "postgresql"
PRODUCTION_HASHING = "production_password_hashing"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{PRODUCTION_HASHING}: staff passwords hashed with the product's argon2 parameters",
    )


def _admin_engine() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _pg_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _create_database(admin: sa.Engine, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return name


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under the PostgreSQL switch the run stops at once, and says why, without the server."""
    if not ON_POSTGRES:
        return
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        pytest.exit(
            f"CHATBOT_TEST_DATABASE=postgresql but PostgreSQL is not reachable at {shown} "
            f"(start the server or set CHATBOT_TEST_POSTGRES_URL): {exc.orig or exc}",
            returncode=3,
        )
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[sa.Engine]:
    """The server's maintenance database (AUTOCOMMIT: CREATE/DROP DATABASE)."""
    admin = _admin_engine()
    yield admin
    admin.dispose()


@pytest.fixture(scope="session")
def _postgres_database(_postgres_admin: sa.Engine) -> Iterator[str]:
    """One migrated database for the whole run; dropped at the end."""
    name = _create_database(_postgres_admin, "chatbot_test")
    try:
        url = _pg_url(name)
        db.upgrade(url)
        yield url
    finally:
        _drop_database(_postgres_admin, name)


@pytest.fixture(scope="session")
def _postgres_cleaner(_postgres_database: str) -> Iterator[Callable[[], None]]:
    """Empties the run's database after a test (a few ms when the test wrote nothing).

    Deleting rows and restarting the id sequences is much faster than TRUNCATE on tables
    this small, and leaves the database as a fresh migration would.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    any_rows = " OR ".join(f'EXISTS (SELECT 1 FROM "{t}")' for t in tables)
    engine = sa.create_engine(_postgres_database, pool_size=1)

    def clean() -> None:
        with engine.begin() as conn:
            # Connections a test left open must not hold the clean-up up.
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            used = conn.execute(
                sa.text(
                    "SELECT sequencename FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            ).scalars()
            sequences = list(used)
            if not sequences and not conn.scalar(sa.text(f"SELECT {any_rows}")):
                return
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            for table in tables:
                conn.execute(sa.text(f'DELETE FROM "{table}"'))
            for sequence in sequences:
                conn.execute(sa.text(f'ALTER SEQUENCE "{sequence}" RESTART'))

    yield clean
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per run; `services` starts from a copy of it.

    Migrating takes most of a second, copying the file about a millisecond. Alembic leaves
    the file in rollback-journal mode with no side files, so the main file is all there is.
    """
    path = tmp_path_factory.mktemp("migrated") / "chatbot.db"
    db.upgrade(f"sqlite:///{path}")
    return path


def _start_from_migrated(settings: Settings, request: pytest.FixtureRequest) -> bool:
    """Put a database already at head where `settings` points; False when there is none to
    give (a URL of the test's own, or a file that exists already): `build` migrates then."""
    if ON_POSTGRES:
        return settings.db_url == request.getfixturevalue("_postgres_database")
    if not db.is_sqlite_file(settings.db_url):
        return False
    target = Path(str(make_url(settings.db_url).database))
    if target.exists():
        return False
    template: Path = request.getfixturevalue("_sqlite_template")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return True


@pytest.fixture
def _database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The per-test database URL: None for SQLite (a file in the test's data dir)."""
    if not ON_POSTGRES:
        yield None
        return
    url: str = request.getfixturevalue("_postgres_database")
    clean: Callable[[], None] = request.getfixturevalue("_postgres_cleaner")
    yield url
    clean()


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _database_url: str | None
) -> None:
    """Every test gets its own data dir; no CHATBOT_* variable from the shell leaks in."""
    for key in list(os.environ):
        if key.startswith("CHATBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    if _database_url is not None:
        monkeypatch.setenv("CHATBOT_DATABASE_URL", _database_url)


def cheap_hasher() -> PasswordHasher:
    """argon2id at the lowest cost argon2 takes. The product's parameters (64 MiB, 3 passes,
    4 lanes) cost about half a second per hash or check on a busy test machine, and the
    suite makes about a hundred."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff accounts made without a hasher of their own (the container's, the CLI's) hash
    with `cheap_hasher`; tests marked `production_password_hashing` are left the product's
    defaults. A hasher a test passes in is used as it is."""
    if request.node.get_closest_marker(PRODUCTION_HASHING) is None:
        monkeypatch.setattr(auth, "PasswordHasher", cheap_hasher)


@pytest.fixture
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes blank, unmigrated databases (for the migration tests); they are dropped after."""
    created: list[str] = []

    def make() -> str:
        if not ON_POSTGRES:
            # A new file each call; its parent folder does not exist yet.
            return f"sqlite:///{tmp_path / secrets.token_hex(4) / 'chatbot.db'}"
        admin: sa.Engine = request.getfixturevalue("_postgres_admin")
        name = _create_database(admin, "chatbot_test_blank")
        created.append(name)
        return _pg_url(name)

    yield make
    if created:
        admin = request.getfixturevalue("_postgres_admin")
        for name in created:
            _drop_database(admin, name)


@pytest.fixture
def settings(tmp_path: Path, _database_url: str | None) -> Settings:
    # A fixed threshold keeps dialogue tests independent of calibration (tested on its own).
    return Settings(
        data_dir=tmp_path / "data",
        database_url=_database_url,
        load_sample_kb=False,
        retrieval=RetrievalSettings(min_score=0.5),
    )


@pytest.fixture
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture
def services(
    settings: Settings, generator: ScriptedGenerator, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """Real database (SQLite, or PostgreSQL under the switch) and FAISS index; hash embedder
    and scripted generator. The database starts migrated (see `_start_from_migrated`)."""
    migrated = _start_from_migrated(settings, request)
    svc = build(settings, embedder=HashEmbedder(), generator=generator, migrate=not migrated)
    yield svc
    svc.engine.dispose()
