"""`chatbot export` and `chatbot purge`: conversations out of the database, and old ones gone.

Both need only the database (no models are loaded).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Annotated, TextIO

import typer
from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.dates import NotADay, parse_day
from chatbot.core.wording import plural
from chatbot.settings import Settings


def _sessions(ctx: typer.Context) -> sessionmaker[Session]:
    from chatbot.container import open_database

    settings: Settings = ctx.obj
    return open_database(settings)


def _day(value: str, option: str) -> date:
    try:
        return parse_day(value)
    except NotADay:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help='File to write ("-" for standard output).')],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD, UTC), included.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (YYYY-MM-DD, UTC), included.")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            help="Only conversations with this outcome: answered, "
            "fallback (declined at least once), handoff, none.",
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            help="Only conversations in this language (its latest customer message's), "
            "as a code: en, zh, de, ...",
        ),
    ] = None,
) -> None:
    """Export conversations with their messages, languages, decisions, sources, ratings, notes
    and labels (CSV: one row per message; jsonl: one conversation per line). Streamed: any
    size works."""
    from chatbot.staff import export as exp
    from chatbot.staff import export_formats

    if fmt not in export_formats.FORMATS:
        raise typer.BadParameter(
            f"choose one of {', '.join(export_formats.FORMATS)}", param_hint="--format"
        )
    try:
        flt = exp.ExportFilter(
            since=_day(since, "--since") if since else None,
            until=_day(until, "--until") if until else None,
            outcome=outcome,
            language=language,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    sessions = _sessions(ctx)
    to_stdout = str(out) == "-"
    if not to_stdout:
        out.parent.mkdir(parents=True, exist_ok=True)
    target: TextIO
    with (
        nullcontext(sys.stdout) if to_stdout else out.open("w", encoding="utf-8", newline="")
    ) as target:
        count = export_formats.write_export(sessions, target, fmt, flt)
    where = "standard output" if to_stdout else str(out)
    typer.echo(f"exported {plural(count, 'conversation')} to {where}", err=True)


def purge(
    ctx: typer.Context,
    older_than: Annotated[
        int,
        typer.Option(
            "--older-than", min=1, help="Delete conversations with no activity for DAYS days."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete old conversations and everything attached to them (messages, sources, notes)."""
    from chatbot.privacy import retention as privacy
    from chatbot.storage import scrub

    sessions = _sessions(ctx)
    engine = scrub.engine_of(sessions)
    plan = privacy.count_older_than(sessions, older_than)
    since = plan.cutoff.strftime("%Y-%m-%d %H:%M UTC")
    if plan.conversations == 0:
        typer.echo(f"no conversations without activity since {since}")
        # A purge whose log was in use left copies there: empty it now.
        _report_scrub(scrub.scrub(engine, vacuum=False))
        return
    if not yes:
        typer.confirm(
            f"Delete {plural(plan.conversations, 'conversation')} with no activity since {since}?",
            abort=True,
        )
    deleted = privacy.purge_before(sessions, plan.cutoff, scrub=False)
    typer.echo(f"deleted {plural(deleted, 'conversation')} with no activity since {since}")
    _report_scrub(scrub.scrub(engine))


def _report_scrub(complete: bool) -> None:
    if not complete:
        typer.echo(
            "warning: the database's write-ahead log was in use, so copies of deleted "
            "messages may remain in it; run `chatbot purge` again when the server is idle.",
            err=True,
        )


def register(app: typer.Typer) -> None:
    """Add `export` and `purge` to the `chatbot` command."""
    app.command()(export)
    app.command()(purge)
