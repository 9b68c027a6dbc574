"""The `chatbot` command. Builds settings, then services, then does one thing."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from chatbot.settings import Settings

app = typer.Typer(
    help="Offline customer-service chatbot that answers from your FAQ documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="CHATBOT_DATA_DIR",
            help="Folder for the database, index and converted models.",
        ),
    ] = None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings(data_dir=data_dir) if data_dir else Settings()


def _services(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from chatbot.container import build

    return build(ctx.obj)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
) -> None:
    """Serve the web app (chat, knowledge base, conversations)."""
    import threading

    from chatbot.container import load_sample_if_empty
    from chatbot.ui import build_app

    services = _services(ctx)
    load_sample_if_empty(services)
    services.kb.refresh()
    # Load the generator in the background so the page is up at once; the first answer waits.
    warm = getattr(services.dialogue.generator, "warm_up", None)
    if warm is not None:
        threading.Thread(target=warm, name="generator-warm-up", daemon=True).start()
    build_app(services).queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, show_error=True
    )


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
) -> None:
    """Add FAQ files (CSV, Markdown) to the knowledge base."""
    services = _services(ctx)
    failed = 0

    def show(result) -> None:  # type: ignore[no-untyped-def]
        nonlocal failed
        if result.ok:
            typer.echo(f"{result.name}: {result.status}, {result.passages} passages")
        else:
            failed += 1
            typer.echo(f"{result.name}: ERROR {result.message}", err=True)

    missing = [p for p in paths if not p.exists()]
    for p in missing:
        failed += 1
        typer.echo(f"{p}: ERROR no such file or folder", err=True)
    results = services.kb.ingest_paths([p for p in paths if p.exists()], on_result=show)
    if not results and not missing:
        typer.echo("No supported files found (supported: .csv, .md, .markdown).", err=True)
        raise typer.Exit(1)
    raise typer.Exit(1 if failed else 0)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The customer's question.")],
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue this conversation id.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ask one question; the turn is stored like a browser turn."""
    from chatbot.container import load_sample_if_empty
    from chatbot.dialogue import EmptyMessageError

    services = _services(ctx)
    load_sample_if_empty(services)
    started = time.perf_counter()
    first_token: float | None = None
    try:
        reply = services.dialogue.respond(question, conversation_id=conversation, channel="cli")
    except EmptyMessageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for piece in reply:
        first_token = first_token or time.perf_counter() - started
        if not as_json:
            sys.stdout.write(piece)
            sys.stdout.flush()
    total = time.perf_counter() - started
    if as_json:
        payload = {
            "conversation_id": reply.conversation_id,
            "answer": reply.text,
            "decision": reply.decision,
            "sources": [
                {"id": s.entry_id, "title": s.title, "score": round(s.score, 4)}
                for s in reply.sources
            ],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    typer.echo("")
    for i, s in enumerate(reply.sources, start=1):
        typer.echo(f"[{i}] {s.title} ({s.entry_id}, score {s.score:.2f})")
    typer.echo(
        f"-- {reply.decision}; conversation {reply.conversation_id}; "
        f"first token {first_token or 0:.2f}s, full answer {total:.2f}s",
        err=True,
    )


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    queries: Annotated[Path, typer.Option("--queries", help="CSV: query,expected_id.")],
    output: Annotated[
        Path | None, typer.Option("--output", help="Write per-query predictions here (CSV).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
) -> None:
    """Measure retrieval and the answer/decline decision on labelled queries (no generation)."""
    from chatbot import evaluation

    try:
        rows = evaluation.read_queries(queries)
    except evaluation.QueriesFileError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(2) from None
    services = _services(ctx)
    if services.kb.is_empty():
        typer.echo("ERROR the knowledge base is empty; run `chatbot ingest FILE` first", err=True)
        raise typer.Exit(2)
    results = evaluation.evaluate(services.dialogue, rows)
    m = evaluation.metrics(results)
    if output:
        evaluation.write_predictions(output, results)
    if as_json:
        typer.echo(json.dumps(asdict(m)))
        return
    for key, value in asdict(m).items():
        typer.echo(f"{key:>18}: {value:.4f}" if isinstance(value, float) else f"{key:>18}: {value}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations up to the latest version."""
    from chatbot.storage import db

    settings: Settings = ctx.obj
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.upgrade(settings.db_url)
    typer.echo("database is up to date")


def main() -> None:
    app()
