"""`chatbot webhooks ...`: the receivers told about handoffs, customers writing in handed-off
conversations and thumbs-down ratings (add, list, remove, test, deliveries). A running
server sends what is queued within seconds; see the README's "Webhooks" section."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from chatbot.staff.actor import CLI

if TYPE_CHECKING:
    from chatbot.staff.webhook_actions import WebhookActions

webhooks_app = typer.Typer(
    help="Webhooks: URLs told about handoffs, customer messages after a handoff, thumbs-down.",
    no_args_is_help=True,
)

WebhookId = Annotated[int, typer.Argument(help="The webhook's id, as `webhooks list` shows it.")]


def _open(ctx: typer.Context) -> WebhookActions:
    """Only the database: no models are loaded."""
    from chatbot.container import webhook_actions

    return webhook_actions(ctx.obj)


@contextmanager
def _webhook_errors() -> Iterator[None]:
    from chatbot.notify.hooks import WebhookError

    try:
        yield
    except WebhookError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(1) from None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST the events (http:// or https://).")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            "-e",
            help="An event to send (repeat for more): handoff.requested, "
            "conversation.customer_message, rating.negative.",
        ),
    ],
) -> None:
    """Register a webhook; prints its signing secret, shown only this once."""
    with _webhook_errors():
        new = _open(ctx).add(CLI, url, event)
    typer.echo(f"created webhook {new.info.id} for {new.info.url} ({', '.join(new.info.events)})")
    typer.echo(f"secret: {new.secret}")
    typer.echo("Keep the secret: it is shown only now; the receiver checks signatures with it.")


@webhooks_app.command("list")
def list_webhooks(ctx: typer.Context) -> None:
    """List webhooks: id, URL, events, active, the last delivery's status."""
    from chatbot.cli.kb import format_table

    hooks = _open(ctx).list(CLI)
    if not hooks:
        typer.echo("No webhooks yet: add one with `chatbot webhooks add URL --event ...`.")
        return
    rows: list[tuple[str, ...]] = [
        (
            str(h.id),
            h.url,
            ",".join(h.events),
            "yes" if h.active else "paused",
            f"{h.last_status} {_when(h.last_at)}" if h.last_status else "none yet",
        )
        for h in hooks
    ]
    typer.echo(format_table(("id", "url", "events", "active", "last delivery"), rows))


@webhooks_app.command("remove")
def remove(ctx: typer.Context, webhook_id: WebhookId) -> None:
    """Delete a webhook and its deliveries."""
    with _webhook_errors():
        gone = _open(ctx).remove(CLI, webhook_id)
    typer.echo(f"removed webhook {gone.id} ({gone.url})")


@webhooks_app.command("test")
def test(ctx: typer.Context, webhook_id: WebhookId) -> None:
    """Queue a webhook.test delivery to the webhook (a running server sends it)."""
    with _webhook_errors():
        _open(ctx).send_test(CLI, webhook_id)
    typer.echo(f"queued a test delivery to webhook {webhook_id}; see `chatbot webhooks deliveries`")


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """The latest deliveries: event, status, attempts, last HTTP status or error."""
    from chatbot.cli.kb import format_table

    found = _open(ctx).deliveries(CLI, failed_only=failed, limit=limit)
    if not found:
        typer.echo("No failed deliveries." if failed else "No deliveries yet.")
        return
    rows: list[tuple[str, ...]] = [
        (
            str(d.id),
            str(d.webhook_id),
            d.event,
            d.status,
            str(d.attempts),
            _when(d.delivered_at if d.delivered_at else d.next_attempt_at),
            str(d.last_status_code or "") or (d.last_error or "")[:60],
        )
        for d in found
    ]
    headers = ("id", "webhook", "event", "status", "attempts", "at / next", "last result")
    typer.echo(format_table(headers, rows))
