"""`chatbot keys ...`: keys for the HTTP API at /api/v1 (create, list, revoke).

A key is shown once, when it is created; only its hash is stored (chatbot.staff.api_keys).
A revoked key is refused from the next request on, also by a server that is running."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from chatbot.staff.actions import KeyActions

keys_app = typer.Typer(
    help="Keys for the HTTP API (/api/v1): create, list, revoke.", no_args_is_help=True
)


class KeyRole(StrEnum):
    admin = "admin"
    agent = "agent"
    customer = "customer"


def _open(ctx: typer.Context) -> KeyActions:
    """Only the database: no models are loaded for key management."""
    from chatbot.container import key_actions

    return key_actions(ctx.obj)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"ERROR {message}", err=True)
    return typer.Exit(1)


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="What the key is for: letters, digits, '.', '_', '-'.")
    ],
    role: Annotated[
        KeyRole,
        typer.Option(
            help="customer: the chat endpoints only (the website widget's public key); "
            "agent / admin: also the staff endpoints, as in the console."
        ),
    ] = KeyRole.customer,
    rate: Annotated[int, typer.Option(help="Requests per minute this key may make.")] = 60,
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    from chatbot.staff.actor import CLI
    from chatbot.staff.api_keys import ApiKeyError

    try:
        new = _open(ctx).create(CLI, name, role.value, rate)
    except ApiKeyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"created {new.info.role} key {new.info.id} ({name}), {rate} requests/min:")
    typer.echo(new.key)
    typer.echo("Store it now: it is not shown again.", err=True)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List keys: id, name, prefix, role, rate, created, last used, revoked (never the key)."""
    from chatbot.cli.kb import format_table
    from chatbot.staff.actor import CLI

    keys = _open(ctx).list(CLI)
    if not keys:
        typer.echo("No API keys yet: create one with `chatbot keys create NAME --role customer`.")
        return

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"

    rows: list[tuple[str, ...]] = [
        (
            str(k.id),
            k.name,
            f"{k.prefix}…",
            k.role,
            f"{k.rate_per_minute}/min",
            when(k.created_at),
            when(k.last_used_at),
            when(k.revoked_at),
        )
        for k in keys
    ]
    headers = ("id", "name", "prefix", "role", "rate", "created", "last used", "revoked")
    typer.echo(format_table(headers, rows))


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[
        int, typer.Argument(metavar="ID", help="The key's id, as `keys list` shows it.")
    ],
) -> None:
    """Revoke a key: it is refused from the next request on."""
    from chatbot.staff.actor import CLI
    from chatbot.staff.api_keys import ApiKeyError

    try:
        revoked = _open(ctx).revoke(CLI, key_id)
    except ApiKeyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"revoked key {revoked.id} ({revoked.name})")
