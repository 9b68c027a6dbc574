"""Staff accounts, the audit log and `chatbot users ...` (no web server here)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.routing import Mount
from typer.testing import CliRunner

from chatbot import container
from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from chatbot.staff.audit import AuditLog
from chatbot.staff.auth import AccountError, StaffAccounts
from chatbot.staff.sessions import SignIn, StaffSessions
from chatbot.storage import db
from chatbot.storage.models import StaffUser
from knowledge_base.embedders import HashEmbedder

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(services: Services) -> StaffAccounts:
    return services.accounts


def test_add_verify_and_roles(accounts: StaffAccounts) -> None:
    assert not accounts.any_users()
    info = accounts.add("alice", PASSWORD, "admin")
    accounts.add("bob.smith_2-x", "another good one", "agent")
    assert (info.name, info.role) == ("alice", "admin")
    assert accounts.any_users()
    assert accounts.verify("alice", PASSWORD) == "admin"
    assert accounts.verify("bob.smith_2-x", "another good one") == "agent"
    assert accounts.verify("alice", "wrong password!") is None
    assert accounts.verify("alice", "") is None
    assert accounts.verify("nobody", PASSWORD) is None
    assert accounts.verify("ALICE", PASSWORD) is None  # names are exact
    assert accounts.role_of("alice") == "admin"
    assert accounts.role_of("nobody") is None
    assert accounts.role_of(None) is None
    assert [(u.name, u.role) for u in accounts.list()] == [
        ("alice", "admin"),
        ("bob.smith_2-x", "agent"),
    ]


def test_only_an_argon2_hash_is_stored(services: Services, accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "admin")
    with services.sessions() as s:
        stored = s.scalar(select(StaffUser.password_hash).where(StaffUser.name == "alice"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("", PASSWORD, "agent", "invalid user name"),
        ("x" * 65, PASSWORD, "agent", "1-64 characters"),
        ("has space", PASSWORD, "agent", "invalid user name"),
        ("émile", PASSWORD, "agent", "invalid user name"),
        ("alice", "short", "agent", "too short (5 characters): use at least 10"),
        ("alice", "x" * 1025, "agent", "too long"),
        ("alice", PASSWORD, "owner", "invalid role 'owner': use one of admin, agent"),
    ],
)
def test_add_refuses_bad_input_with_a_clear_message(
    accounts: StaffAccounts, name: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        accounts.add(name, password, role)
    assert not accounts.any_users()


def test_duplicate_name_is_refused(accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "admin")
    with pytest.raises(AccountError, match=r"already exists.*chatbot users passwd alice"):
        accounts.add("alice", "another good one", "agent")
    assert accounts.role_of("alice") == "admin"


def test_set_password(accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "agent")
    accounts.set_password("alice", "a brand new secret")
    assert accounts.verify("alice", PASSWORD) is None
    assert accounts.verify("alice", "a brand new secret") == "agent"
    with pytest.raises(AccountError, match="too short"):
        accounts.set_password("alice", "tiny")
    with pytest.raises(AccountError, match="no staff user 'carol'"):
        accounts.set_password("carol", PASSWORD)


@pytest.mark.production_password_hashing
def test_weaker_hashes_are_upgraded_at_login(services: Services) -> None:
    weak = StaffAccounts(services.sessions, PasswordHasher(time_cost=1, memory_cost=8192))
    weak.add("alice", PASSWORD, "admin")
    with services.sessions() as s:
        old = s.scalar(select(StaffUser.password_hash))
    assert services.accounts.verify("alice", PASSWORD) == "admin"
    with services.sessions() as s:
        new = s.scalar(select(StaffUser.password_hash))
    assert old != new and new is not None and "m=65536" in new
    assert services.accounts.verify("alice", PASSWORD) == "admin"


def test_first_admin_gets_a_generated_password_once(accounts: StaffAccounts) -> None:
    password = accounts.ensure_first_admin()
    assert password is not None and len(password) >= 20
    assert accounts.verify("admin", password) == "admin"
    assert accounts.ensure_first_admin() is None
    assert [u.name for u in accounts.list()] == ["admin"]


def test_no_first_admin_when_users_exist(accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "agent")
    assert accounts.ensure_first_admin() is None
    assert accounts.role_of("admin") is None


def test_two_first_starts_make_one_admin(services: Services) -> None:
    other = StaffAccounts(services.sessions)
    first = services.accounts.ensure_first_admin()
    assert first is not None
    assert other.ensure_first_admin() is None
    assert services.accounts.verify("admin", first) == "admin"


def test_audit_log_records_and_lists_newest_first(services: Services) -> None:
    audit: AuditLog = services.audit
    assert audit.recent() == []
    audit.record("alice", "kb.upload", "faq.csv", "added, 4 passages")
    audit.record("bob", "kb.delete_document", "faq.csv")
    audit.record("x" * 100, "y" * 100)
    entries = audit.recent()
    assert [(e.actor, e.action, e.target, e.details) for e in entries[1:]] == [
        ("bob", "kb.delete_document", "faq.csv", ""),
        ("alice", "kb.upload", "faq.csv", "added, 4 passages"),
    ]
    assert len(entries[0].actor) == 64 and len(entries[0].action) == 64
    assert [e.actor for e in audit.recent(1)] == [entries[0].actor]


def test_audit_entry_survives_a_failed_caller_transaction(services: Services) -> None:
    with pytest.raises(RuntimeError), services.sessions.begin():
        services.audit.record("alice", "kb.delete_document", "faq.csv")
        raise RuntimeError("the caller's own work failed")
    assert [e.action for e in services.audit.recent()] == ["kb.delete_document"]


# ---- chatbot users ... ----------------------------------------------------------------------
@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli_accounts(tmp_path: Path) -> Iterator[StaffAccounts]:
    """The accounts in the database the CLI uses (CHATBOT_DATA_DIR from conftest)."""
    settings = Settings()
    db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url)
    yield StaffAccounts(db.make_sessions(engine))
    engine.dispose()


def cli_audit() -> list[tuple[str, str, str]]:
    settings = Settings()
    engine = db.make_engine(settings.db_url)
    try:
        return [(e.actor, e.action, e.target) for e in AuditLog(db.make_sessions(engine)).recent()]
    finally:
        engine.dispose()


def test_users_add_passwd_list(runner: CliRunner, cli_accounts: StaffAccounts) -> None:
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "No staff users yet" in listed.stdout

    added = runner.invoke(
        app, ["users", "add", "alice", "--role", "admin", "--password-stdin"], input=PASSWORD
    )
    assert added.exit_code == 0, added.output
    assert "created admin alice" in added.stdout
    added = runner.invoke(
        app, ["users", "add", "bob", "--password-stdin"], input="agent pass 123\n"
    )
    assert added.exit_code == 0, added.output
    assert "created agent bob" in added.stdout  # agent is the default role
    assert cli_accounts.verify("alice", PASSWORD) == "admin"
    assert cli_accounts.verify("bob", "agent pass 123") == "agent"

    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["name", "role", "created"]
    assert [line.split()[:2] for line in lines[1:]] == [["alice", "admin"], ["bob", "agent"]]

    changed = runner.invoke(
        app, ["users", "passwd", "bob", "--password-stdin"], input="the new bob secret\n"
    )
    assert changed.exit_code == 0, changed.output
    assert "password changed for bob" in changed.stdout
    assert cli_accounts.verify("bob", "the new bob secret") == "agent"
    assert cli_accounts.verify("bob", "agent pass 123") is None

    assert cli_audit() == [
        ("cli", "staff.passwd", "bob"),
        ("cli", "staff.add", "bob"),
        ("cli", "staff.add", "alice"),
    ]


def test_users_add_prompts_twice_with_hidden_input(
    runner: CliRunner, cli_accounts: StaffAccounts
) -> None:
    # A short one is refused at the prompt, then a mismatch, then a good pair.
    typed = "short\n" + f"{PASSWORD}\nsomething else\n" + f"{PASSWORD}\n{PASSWORD}\n"
    result = runner.invoke(app, ["users", "add", "alice"], input=typed)
    assert result.exit_code == 0, result.output
    assert "too short (5 characters)" in result.output
    assert "do not match" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert cli_accounts.verify("alice", PASSWORD) == "agent"

    result = runner.invoke(app, ["users", "passwd", "alice"], input="another secret\n" * 2)
    assert result.exit_code == 0, result.output
    assert cli_accounts.verify("alice", "another secret") == "agent"


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["users", "add", "bad name", "--password-stdin"], PASSWORD, 1, "invalid user name"),
        (["users", "add", "carol", "--password-stdin"], "short\n", 1, "too short"),
        (["users", "add", "carol", "--password-stdin"], "", 1, "no password on stdin"),
        (["users", "add", "alice", "--password-stdin"], PASSWORD, 1, "already exists"),
        (["users", "add", "carol", "--role", "owner"], "", 2, "owner"),
        (["users", "passwd", "carol", "--password-stdin"], PASSWORD, 1, "no staff user 'carol'"),
        (["users", "passwd", "alice", "--password-stdin"], "tiny\n", 1, "too short"),
    ],
)
def test_users_errors_exit_non_zero(
    runner: CliRunner,
    cli_accounts: StaffAccounts,
    args: list[str],
    stdin: str,
    code: int,
    message: str,
) -> None:
    cli_accounts.add("alice", PASSWORD, "admin")
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert [u.name for u in cli_accounts.list()] == ["alice"]
    assert cli_accounts.verify("alice", PASSWORD) == "admin"


def test_cli_ingest_and_kb_delete_are_audited(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = container.build

    def build_with_doubles(settings: Settings, **kwargs: Any) -> Services:
        return real_build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())

    monkeypatch.setattr(container, "build", build_with_doubles)
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nWhen are you open?,9 to 5.\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nWhen?,\n", encoding="utf-8")

    ingested = runner.invoke(app, ["ingest", str(faq), str(bad), "--no-progress"])
    assert ingested.exit_code == 1, ingested.output
    deleted = runner.invoke(app, ["kb", "delete", "faq.csv"])
    assert deleted.exit_code == 0, deleted.output
    missing = runner.invoke(app, ["kb", "delete", "faq.csv"])
    assert missing.exit_code == 1

    assert cli_audit() == [
        ("cli", "kb.delete_document", "faq.csv"),
        ("cli", "kb.upload", "bad.csv"),
        ("cli", "kb.upload", "faq.csv"),
    ]


# ---- password changes and removal end console sessions -------------------------------------
def test_a_password_change_replaces_the_credentials_version(accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "admin")
    accounts.add("bob", PASSWORD, "agent")
    before = accounts.credentials_versions()
    assert before["alice"] != before["bob"] and len(before["alice"]) == 32
    accounts.set_password("alice", "a brand new secret")
    after = accounts.credentials_versions()
    assert after["alice"] != before["alice"] and after["bob"] == before["bob"]
    assert accounts.credentials_version("alice") == after["alice"]
    assert accounts.credentials_version("nobody") is None


def test_a_hash_upgrade_at_login_keeps_sessions(services: Services) -> None:
    weak = StaffAccounts(services.sessions, PasswordHasher(time_cost=1, memory_cost=8192))
    weak.add("alice", PASSWORD, "admin")
    version = services.accounts.credentials_version("alice")
    assert services.accounts.verify("alice", PASSWORD) == "admin"  # rehashed
    assert services.accounts.credentials_version("alice") == version


def test_remove_a_user_but_never_the_last_admin(accounts: StaffAccounts) -> None:
    accounts.add("alice", PASSWORD, "admin")
    accounts.add("bob", PASSWORD, "agent")
    with pytest.raises(AccountError, match=r"'alice' is the last admin: add another admin"):
        accounts.remove("alice")
    with pytest.raises(AccountError, match="no staff user 'carol'"):
        accounts.remove("carol")
    removed = accounts.remove("bob")
    assert (removed.name, removed.role) == ("bob", "agent")
    assert accounts.verify("bob", PASSWORD) is None
    accounts.add("carol", PASSWORD, "admin")
    accounts.remove("alice")  # another admin is left
    assert [u.name for u in accounts.list()] == ["carol"]


def test_users_remove_asks_and_is_audited(runner: CliRunner, cli_accounts: StaffAccounts) -> None:
    cli_accounts.add("alice", PASSWORD, "admin")
    cli_accounts.add("bob", PASSWORD, "agent")
    declined = runner.invoke(app, ["users", "remove", "bob"], input="n\n")
    assert declined.exit_code == 1, declined.output
    assert "Remove agent bob? Their open console sessions end at once." in declined.output
    assert "bob was not removed (confirm, or pass --yes)" in declined.output
    assert cli_accounts.role_of("bob") == "agent"

    confirmed = runner.invoke(app, ["users", "remove", "bob"], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "removed agent bob; their open console sessions have ended" in confirmed.stdout
    assert cli_accounts.role_of("bob") is None

    last = runner.invoke(app, ["users", "remove", "alice", "--yes"])
    assert last.exit_code == 1
    assert "'alice' is the last admin" in last.output
    missing = runner.invoke(app, ["users", "remove", "bob", "--yes"])
    assert missing.exit_code == 1
    assert "no staff user 'bob'" in missing.output
    assert cli_accounts.role_of("alice") == "admin"
    assert cli_audit() == [("cli", "staff.remove", "bob")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def always(username: str, password: str) -> bool:
    return True


def sign_in(sessions: StaffSessions, name: str, token: str, check: SignIn = always) -> bool:
    """What Gradio's /login does: the auth callable, then the token stored for the name."""
    # In a thread of its own: another test's event loop (the browser tests') may be running.
    with ThreadPoolExecutor(1) as pool:
        ok = pool.submit(asyncio.run, sessions.guard(check)(name, "any password")).result()
    if ok:
        sessions[token] = name
    return ok


@pytest.fixture
def staff(accounts: StaffAccounts) -> tuple[StaffSessions, Clock]:
    accounts.add("alice", PASSWORD, "admin")
    accounts.add("bob", PASSWORD, "agent")
    clock = Clock()
    return StaffSessions(accounts, check_every_s=1.0, clock=clock), clock


def test_sessions_end_after_a_password_change(
    accounts: StaffAccounts, staff: tuple[StaffSessions, Clock]
) -> None:
    sessions, clock = staff
    assert sign_in(sessions, "bob", "t1") and sign_in(sessions, "bob", "t2")
    assert sign_in(sessions, "alice", "t3")
    assert sessions.get("t1") == "bob" and "t2" in sessions
    accounts.set_password("bob", "a brand new secret")
    clock.now += 1.0  # the next check reads the accounts again
    assert sessions.get("t1") is None
    assert "t2" not in sessions
    assert sessions.get("t3") == "alice"  # other users keep theirs
    assert list(sessions) == ["t3"] and len(sessions) == 1
    assert sign_in(sessions, "bob", "t4")  # signing in again works
    assert sessions.get("t4") == "bob"


def test_sessions_end_when_the_user_is_removed(
    accounts: StaffAccounts, staff: tuple[StaffSessions, Clock]
) -> None:
    sessions, clock = staff
    assert sign_in(sessions, "bob", "t1")
    accounts.remove("bob")
    clock.now += 1.0
    assert sessions.get("t1") is None
    accounts.add("bob", PASSWORD, "agent")  # the same name again is another account
    clock.now += 1.0
    assert sessions.get("t1") is None


def test_a_sign_in_that_races_a_password_change_gets_no_session(
    accounts: StaffAccounts, staff: tuple[StaffSessions, Clock]
) -> None:
    sessions, clock = staff

    async def checked_against_the_old_password(username: str, password: str) -> bool:
        accounts.set_password(username, "changed meanwhile")  # another process, meanwhile
        return True

    assert sign_in(sessions, "bob", "t1", checked_against_the_old_password)
    clock.now += 1.0
    assert sessions.get("t1") is None


def test_refused_and_unrecorded_sign_ins_give_no_session(
    staff: tuple[StaffSessions, Clock],
) -> None:
    sessions, _ = staff

    async def never(username: str, password: str) -> bool:
        return False

    assert not sign_in(sessions, "bob", "t1", never)
    sessions["t2"] = "bob"  # a token stored without a sign-in through the guard
    assert sessions.get("t2") is None


def test_sessions_are_refused_but_kept_while_the_database_cannot_be_read(
    accounts: StaffAccounts, staff: tuple[StaffSessions, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, clock = staff
    assert sign_in(sessions, "bob", "t1")
    assert sessions.get("t1") == "bob"

    def unreadable() -> dict[str, str]:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(accounts, "credentials_versions", unreadable)
    clock.now += 1.0
    assert sessions.get("t1") is None
    monkeypatch.undo()
    clock.now += 1.0
    assert sessions.get("t1") == "bob"


def test_the_accounts_are_read_at_most_once_a_second(
    accounts: StaffAccounts, staff: tuple[StaffSessions, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, clock = staff
    assert sign_in(sessions, "bob", "t1")
    reads: list[int] = []
    real = accounts.credentials_versions

    def counted() -> dict[str, str]:
        reads.append(1)
        return real()

    monkeypatch.setattr(accounts, "credentials_versions", counted)
    clock.now += 1.0
    for _ in range(100):
        assert sessions.get("t1") == "bob"
    assert len(reads) == 1


def test_install_takes_the_place_of_gradios_session_tokens(
    staff: tuple[StaffSessions, Clock],
) -> None:
    sessions, _ = staff
    web = FastAPI()
    with gr.Blocks() as page:
        gr.Markdown("console")
    gr.mount_gradio_app(web, page, path="/admin", auth=always)
    sessions.install(web, "/admin")
    mounted = [r.app for r in web.routes if isinstance(r, Mount) and r.path == "/admin"]
    assert mounted[0].tokens is sessions  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="no Gradio app with session tokens is mounted"):
        sessions.install(web, "/elsewhere")
