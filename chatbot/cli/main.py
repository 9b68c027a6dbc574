"""The `chatbot` command. Builds settings, then services, then does one thing."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from chatbot.cli import data as cli_data
from chatbot.cli.kb import kb_app
from chatbot.cli.keys import keys_app
from chatbot.cli.train import train_app
from chatbot.cli.users import users_app
from chatbot.cli.webhooks import webhooks_app
from chatbot.core.log_format import configure_logging
from chatbot.core.wording import plural
from chatbot.settings import Settings

app = typer.Typer(
    help="Offline customer-service chatbot that answers from your FAQ documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(users_app, name="users")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(keys_app, name="keys")
app.add_typer(train_app, name="train")


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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also log progress details (database migrations, model loading, calibration); "
            "warnings and errors are always shown.",
        ),
    ] = False,
) -> None:
    configure_logging(verbose)
    try:
        ctx.obj = Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as exc:
        raise SystemExit(f"Error: invalid settings:\n{settings_problems(exc)}") from None


def settings_problems(exc: ValidationError) -> str:
    """Each wrong setting as its CHATBOT_* variable and what is wrong with it, one a line."""
    lines = []
    for error in exc.errors(include_url=False):
        name = "CHATBOT_" + "__".join(str(part) for part in error["loc"]).upper()
        lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def _services(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from chatbot.container import build

    return build(ctx.obj)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
) -> None:
    """Serve the web app: the customer chat at /, the staff console at /admin (login)."""

    import uvicorn

    from chatbot.container import start_server
    from chatbot.web.app import create_app
    from chatbot.web.files import use_private_upload_folder

    # Before any Gradio object exists: its upload folder and cache are private to this process.
    use_private_upload_folder()
    # Ready when it says so: the models are loaded (and run once) before the address is
    # printed, so the first customer does not wait for them.
    services = start_server(ctx.obj, typer.echo)
    web = create_app(services)
    typer.echo(f"Customer chat: http://{host}:{port}/  Staff console: http://{host}:{port}/admin")
    # uvicorn would believe X-Forwarded-* from any local client; the app believes them only
    # from CHATBOT_SERVER__TRUSTED_PROXIES (chatbot.web.security).
    uvicorn.run(web, host=host, port=port, log_level="warning", proxy_headers=False)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files or folders (searched recursively; hidden files and folders are left "
            "out, files of unsupported types are listed as skipped)."
        ),
    ],
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar (files, passages, rate). Default: when stderr is a terminal.",
        ),
    ] = None,
) -> None:
    """Add FAQ files and documents to the knowledge base."""
    from tqdm import tqdm

    from chatbot.staff.actor import CLI
    from knowledge_base.loaders import LOADERS
    from knowledge_base.records import IngestProgress, IngestResult

    services = _services(ctx)
    failed = 0
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(
        total=0, unit="passage", desc="ingest", file=sys.stderr, disable=not show_bar, leave=True
    )

    def say(line: str, err: bool = False) -> None:
        if show_bar:  # printed above the bar, which stays at the bottom
            tqdm.write(line, file=sys.stderr if err else sys.stdout)
        else:
            typer.echo(line, err=err)

    def show(result: IngestResult) -> None:
        nonlocal failed
        if result.status == "skipped":
            say(f"{result.name}: skipped, {result.message}")
            return
        if result.ok:
            say(f"{result.name}: {result.status}, {plural(result.passages, 'passage')}")
        else:
            failed += 1
            say(f"{result.name}: ERROR {result.message}", err=True)

    def advance(p: IngestProgress) -> None:
        bar.total = p.passages_total
        bar.set_postfix_str(f"files {p.files_done}/{p.files_total}", refresh=False)
        bar.update(p.passages_done - bar.n)

    missing = [p for p in paths if not p.exists()]
    for p in missing:
        failed += 1
        say(f"{p}: ERROR no such file or folder", err=True)
    try:
        results = services.staff.knowledge.ingest_paths(
            CLI, [p for p in paths if p.exists()], on_result=show, progress=advance
        )
    finally:
        bar.close()
    if all(r.status == "skipped" for r in results) and not missing:
        supported = ", ".join(sorted(LOADERS))
        typer.echo(f"No supported files found (supported: {supported}).", err=True)
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
    from chatbot.dialogue.manager import EmptyMessageError, MessageNotSent

    services = _services(ctx)
    load_sample_if_empty(services)
    # Load the models first so the timings below are the turn's, not the process start-up's.
    for component in (services.kb.embedder, services.dialogue.generator):
        warm = getattr(component, "warm_up", None)
        if warm is not None:
            warm()
    started = time.perf_counter()
    first_token: float | None = None
    try:
        reply = services.dialogue.respond(question, conversation_id=conversation, channel="cli")
    except EmptyMessageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except MessageNotSent as exc:  # nothing was stored or answered
        typer.echo(f"ERROR {exc}; ask again in a moment", err=True)
        raise typer.Exit(1) from None
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
            "answer_mode": reply.answer_mode,
            "withheld_draft": reply.draft,
            "draft_rejection": reply.draft_rejection,
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
    from chatbot.dialogue import evaluation

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
    typer.echo(f"decline threshold: {_thresholds_line(services)}", err=True)
    m = evaluation.metrics(results)
    if output:
        evaluation.write_predictions(output, results)
    if as_json:
        typer.echo(json.dumps(asdict(m)))
        return
    for key, value in asdict(m).items():
        typer.echo(f"{key:>18}: {value:.4f}" if isinstance(value, float) else f"{key:>18}: {value}")


@app.command()
def calibrate(
    ctx: typer.Context,
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="Labelled queries (query,expected_id) to calibrate from."),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Drop a labelled calibration; calibrate from the KB.")
    ] = False,
) -> None:
    """Show or set the decline threshold (calibrated from the knowledge base by default)."""
    from chatbot.dialogue import evaluation

    services = _services(ctx)
    if services.kb.is_empty():
        typer.echo("ERROR the knowledge base is empty; run `chatbot ingest FILE` first", err=True)
        raise typer.Exit(2)
    thresholds = services.dialogue.thresholds
    if reset:
        thresholds.reset()
    if queries is not None:
        try:
            rows = evaluation.read_queries(queries)
        except evaluation.QueriesFileError as exc:
            typer.echo(f"ERROR {exc}", err=True)
            raise typer.Exit(2) from None
        results = thresholds.calibrate_labelled(rows)
    else:
        results = thresholds.all()
    for key, result in results.items():
        typer.echo(f"decline {result.describe()} for {_language_label(key)}")
    if services.settings.retrieval.min_score is not None:
        typer.echo(
            f"note: CHATBOT_RETRIEVAL__MIN_SCORE={services.settings.retrieval.min_score} "
            "overrides it while set",
            err=True,
        )


def _language_label(key: str) -> str:
    from knowledge_base.threshold import OTHER

    return "other languages" if key == OTHER else f"questions in {key}"


def _thresholds_line(services: Any) -> str:
    """ "0.282" for one threshold; "en 0.282, zh 0.201, other 0.190" for several."""
    from knowledge_base.threshold import OTHER

    dialogue = services.dialogue
    if dialogue.min_score is not None:
        return f"{dialogue.min_score:.3f}"
    found = dialogue.thresholds.all()
    if len(found) == 1:
        return f"{next(iter(found.values())).threshold:.3f}"
    return ", ".join(f"{'other' if k == OTHER else k} {c.threshold:.3f}" for k, c in found.items())


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations up to the latest version."""
    from chatbot.container import open_database

    open_database(ctx.obj)
    typer.echo("database is up to date")


cli_data.register(app)


def main() -> None:
    app()
