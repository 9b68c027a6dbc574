"""`chatbot users ...`: staff accounts for the console at /admin (add, passwd, remove, list).

A new password or a removed user ends that user's open console sessions within about a
second, also in a server that is running (see chatbot.staff.sessions)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from chatbot.staff.actions import AccountActions

users_app = typer.Typer(
    help="Staff accounts for the console at /admin: add, change passwords, remove, list.",
    no_args_is_help=True,
)


class Role(StrEnum):
    admin = "admin"
    agent = "agent"


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin instead of prompting (scripts).",
    ),
]

# A user that exists already (passwd, remove).
StaffUser = Annotated[str, typer.Argument(help="The staff user, as `users list` shows it.")]


def _open(ctx: typer.Context) -> AccountActions:
    """Only the database: no models are loaded for account management."""
    from chatbot.container import account_actions

    return account_actions(ctx.obj)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"ERROR {message}", err=True)
    return typer.Exit(1)


@contextmanager
def _account_errors() -> Iterator[None]:
    """An AccountError (a bad name or password, the last admin, ...) ends the command with its
    message and exit status 1."""
    from chatbot.staff.auth import AccountError

    try:
        yield
    except AccountError as exc:
        raise _fail(str(exc)) from None


def _existing_role(actions: AccountActions, name: str) -> str:
    """The user's role; fails for a name that is no staff user."""
    role = actions.accounts.role_of(name)
    if role is None:
        raise _fail(f"no staff user {name!r}: see `chatbot users list`")
    return role


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise _fail("no password on stdin: pipe it in, e.g. `echo PASSWORD | chatbot ...`")
        return password
    return str(
        typer.prompt(
            "Password",
            hide_input=True,
            confirmation_prompt=True,
            value_proc=_acceptable_password,
        )
    )


def _acceptable_password(value: str) -> str:
    """Ask again at the prompt, with the reason, instead of failing after both entries."""
    from chatbot.staff.auth import AccountError, check_password

    try:
        return check_password(value)
    except AccountError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.BadParameter(str(exc)) from None  # the prompt asks again


@users_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name: letters, digits, '.', '_', '-'.")],
    role: Annotated[
        Role,
        typer.Option(help="admin: everything; agent: review and reply, no deleting."),
    ] = Role.agent,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a staff user; asks for the password twice (at least 10 characters)."""
    from chatbot.staff.actor import CLI
    from chatbot.staff.auth import AccountError, check_name

    actions = _open(ctx)
    with _account_errors():
        check_name(name)
        if actions.accounts.role_of(name) is not None:
            raise AccountError(
                f"staff user {name!r} already exists: change the password with "
                f"`chatbot users passwd {name}`"
            )
        actions.add(CLI, name, _read_password(password_stdin), role.value)
    typer.echo(f"created {role.value} {name}")


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    name: StaffUser,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a staff user's password; asks for the new one twice (at least 10 characters)."""
    from chatbot.staff.actor import CLI

    actions = _open(ctx)
    _existing_role(actions, name)
    with _account_errors():
        actions.set_password(CLI, name, _read_password(password_stdin))
    typer.echo(f"password changed for {name}; their open console sessions have ended")


@users_app.command("remove")
def remove(
    ctx: typer.Context,
    name: StaffUser,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a staff user and end their open console sessions (not the last admin)."""
    from chatbot.staff.actor import CLI

    actions = _open(ctx)
    role = _existing_role(actions, name)
    if not yes and not typer.confirm(
        f"Remove {role} {name}? Their open console sessions end at once.", default=False
    ):
        raise _fail(f"{name} was not removed (confirm, or pass --yes)")
    with _account_errors():
        removed = actions.remove(CLI, name)
    typer.echo(f"removed {removed.role} {name}; their open console sessions have ended")


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List staff users: name, role, created."""
    from chatbot.cli.kb import format_table

    users = _open(ctx).accounts.list()
    if not users:
        typer.echo(
            "No staff users yet: `chatbot serve` creates 'admin' on its first start, or add "
            "one with `chatbot users add NAME --role admin`."
        )
        return
    rows: list[tuple[str, ...]] = [
        (u.name, u.role, u.created_at.strftime("%Y-%m-%d %H:%M")) for u in users
    ]
    typer.echo(format_table(("name", "role", "created"), rows))
