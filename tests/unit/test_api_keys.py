"""API keys: stored hashed, shown once, revoked; the `chatbot keys` commands; the rate
limiter; the migration that adds the table."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import gradio as gr
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.settings import Settings
from chatbot.staff.actor import CLI, Actor, Forbidden
from chatbot.staff.api_keys import ApiKeyError
from chatbot.staff.audit import AuditLog
from chatbot.staff.rate_limit import RateLimiter
from chatbot.storage import db
from chatbot.storage.models import ApiKey


def test_a_key_is_stored_as_its_sha256_and_verified_until_revoked(services: Services) -> None:
    new = services.staff.keys.create(CLI, "widget", "customer", 30)
    assert new.key.startswith("cb_pub_") and len(new.key) > 40
    assert services.staff.keys.create(CLI, "ops", "admin", 30).key.startswith("cb_live_")
    with services.sessions() as s:
        row = s.scalars(sa.select(ApiKey).where(ApiKey.name == "widget")).one()
        assert row.key_hash == hashlib.sha256(new.key.encode()).hexdigest()
        assert new.key not in (row.prefix, row.key_hash) and new.key.startswith(row.prefix)
    found = services.staff.keys.authenticate(new.key)
    assert found is not None and (found.role, found.rate_per_minute) == ("customer", 30)
    assert services.staff.keys.authenticate(new.key + "x") is None
    used = {k.name: k.last_used_at for k in services.staff.keys.list(CLI)}
    assert used["widget"] is not None and used["ops"] is None
    services.staff.keys.revoke(CLI, new.info.id)
    assert services.staff.keys.authenticate(new.key) is None
    with pytest.raises(ApiKeyError, match="already revoked"):
        services.staff.keys.revoke(CLI, new.info.id)
    actions = [(e.action, e.target) for e in services.staff.audit_log(CLI)]
    assert ("api_key.create", "widget") in actions and ("api_key.revoke", "widget") in actions


def test_only_admins_manage_keys_and_bad_input_is_refused(services: Services) -> None:
    agent = Actor("bob", "agent")
    with pytest.raises(Forbidden):
        services.staff.keys.create(agent, "k", "customer", 10)
    with pytest.raises(Forbidden):
        services.staff.keys.list(agent)
    with pytest.raises(ApiKeyError, match="role"):
        services.staff.keys.create(CLI, "k", "owner", 10)
    with pytest.raises(ApiKeyError, match="rate"):
        services.staff.keys.create(CLI, "k", "customer", 0)
    with pytest.raises(ApiKeyError, match="key name"):
        services.staff.keys.create(CLI, "bad name", "customer", 10)
    assert services.staff.keys.list(CLI) == []


def test_the_rate_limiter_slides_its_window_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.hit(1, 2) for _ in range(2)] == [0, 0]
    assert limiter.hit(1, 2) == 60
    assert limiter.hit(2, 2) == 0  # another key counts on its own
    now[0] = 59.5
    assert limiter.hit(1, 2) == 1
    now[0] = 60.0
    assert limiter.hit(1, 2) == 0


def test_keys_create_list_and_revoke_on_the_command_line() -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "widget", "--role", "customer", "--rate", "60"])
    assert created.exit_code == 0, created.output
    key = next(line for line in created.stdout.splitlines() if line.startswith("cb_pub_"))
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert "widget" in listed.stdout and "60/min" in listed.stdout
    assert key not in listed.stdout and key[:12] in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", "1"])
    assert revoked.exit_code == 0 and "revoked key 1 (widget)" in revoked.stdout
    again = runner.invoke(app, ["keys", "revoke", "1"])
    assert again.exit_code == 1 and "already revoked" in again.output
    bad = runner.invoke(app, ["keys", "create", "x", "--rate", "0"])
    assert bad.exit_code == 1 and "invalid rate" in bad.output
    settings = Settings()
    engine = db.make_engine(settings.db_url)
    try:
        entries = [(e.actor, e.action) for e in AuditLog(db.make_sessions(engine)).recent()]
    finally:
        engine.dispose()
    assert entries[:2] == [("cli", "api_key.revoke"), ("cli", "api_key.create")]


def test_migration_0010_adds_and_removes_the_key_table(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    db.upgrade(url, "0010")
    engine = db.make_engine(url)
    try:
        assert "api_keys" in sa.inspect(engine).get_table_names()
        command.downgrade(db.alembic_config(url), "0009")
        assert "api_keys" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_console_tab_creates_shows_once_lists_and_revokes(services: Services) -> None:
    from chatbot.ui.api_keys import create_key, keys_table, revoke_key

    message, caption, rows = create_key(services, "widget", "customer", 30)
    key = message.rsplit("`", 2)[-2]
    assert key.startswith("cb_pub_") and "not shown again" in message
    assert services.staff.keys.authenticate(key) is not None
    assert caption.startswith("1 active of 1") and rows[0][1:5] == [
        "widget",
        f"{key[:12]}…",
        "customer",
        30,
    ]
    assert key not in str(keys_table(services))
    message, caption, rows = revoke_key(services, rows[0][0])
    assert message.startswith("Revoked key") and rows[0][-1]
    assert services.staff.keys.authenticate(key) is None
    assert create_key(services, "x", "customer", 0)[0].startswith("❌")
    services.staff.accounts.add(CLI, "bob", "agent pass 123", "agent")
    agent = gr.Request(username="bob")
    assert keys_table(services, agent) == (keys_table(services, agent)[0], [])
    assert keys_table(services, agent)[0].startswith("⛔")
    assert create_key(services, "y", "admin", 5, agent)[0].startswith("⛔")
    assert len(services.staff.keys.list(CLI)) == 1
