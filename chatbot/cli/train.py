"""`chatbot train ...`: fine-tune retrieval or the generator on the knowledge base, list
versions, roll back."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chatbot.core.wording import plural
from chatbot.settings import Settings, TrainingSettings

if TYPE_CHECKING:
    from chatbot.training.evaluation import Figures
    from chatbot.training.finetune import StepProgress
    from chatbot.training.generator import GeneratorTrainingResult
    from chatbot.training.job import JobProgress, TrainingResult

train_app = typer.Typer(
    help="Fine-tune retrieval or the generator on the knowledge base; show trained versions; "
    "roll back.",
    no_args_is_help=True,
)

FIGURE_HEADERS = ("", "in-scope acc", "OOS recall", "MCC", "recall@1")


def _config(settings: Settings, path: Path | None, epochs: int | None) -> TrainingSettings:
    from chatbot.training import config

    found = settings.training
    try:
        if path is not None:
            found = config.load(path, found)
        if epochs is not None:
            found = config.merge(found, {"epochs": epochs}, "--epochs")
    except config.ConfigError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(2) from None
    return found


@train_app.command("retrieval")
def retrieval(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Training settings (TOML or YAML: epochs, learning_rate, batch_size, "
            "max_length, ...); default: CHATBOT_TRAINING__* and the built-in values.",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Passes over the training pairs.")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar (step, loss, time left). Default: when stderr is a terminal.",
        ),
    ] = None,
) -> None:
    """Fine-tune the embedder on the knowledge base; adopt it only if it measures better."""
    from tqdm import tqdm

    from chatbot.container import build
    from chatbot.training.data import TrainingDataError
    from chatbot.training.finetune import TrainingCancelled
    from chatbot.training.job import TRAINING, TrainingJob
    from chatbot.training.versions import TrainingBusy

    settings: Settings = ctx.obj
    cfg = _config(settings, config_file, epochs)
    services = build(settings)
    if services.kb.is_empty():
        typer.echo("ERROR the knowledge base is empty; run `chatbot ingest FILE` first", err=True)
        raise typer.Exit(2)
    job = TrainingJob(services.kb, services.sessions, settings, cfg, services.dialogue.thresholds)
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=0, file=sys.stderr, disable=not show_bar, leave=False, unit="step")
    phase = [""]

    def update(p: JobProgress) -> None:
        if p.phase != phase[0]:
            phase[0] = p.phase
            bar.reset(total=p.total or 0)
            bar.set_description_str(p.phase)
            bar.unit = "step" if p.phase == TRAINING else "text"
        if p.total:
            bar.total = p.total
            bar.update(p.step - bar.n)
        if p.loss is not None:
            bar.set_postfix_str(f"loss {p.loss:.3f}", refresh=False)
        bar.refresh()

    typer.echo(
        f"Training {settings.models.embedder}: {cfg.epochs} epoch(s), batch {cfg.batch_size}, "
        f"learning rate {cfg.learning_rate:g}, at most {cfg.max_pairs} pairs",
        err=True,
    )
    job.start(update)
    try:
        result = _wait(job)
    except KeyboardInterrupt:
        typer.echo("\nCancelling (after the current step)...", err=True)
        job.cancel()
        with contextlib.suppress(TrainingCancelled, KeyboardInterrupt):
            _wait(job)
        bar.close()
        typer.echo("Training cancelled; nothing was changed.", err=True)
        raise typer.Exit(130) from None
    except (TrainingDataError, TrainingBusy) as exc:
        bar.close()
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(1) from None
    bar.close()
    assert result is not None
    _print_result(result, settings)


def _wait(job: Any) -> TrainingResult:
    while True:
        result = job.wait(0.2)
        if result is not None:
            return result  # type: ignore[no-any-return]


def _print_result(result: TrainingResult, settings: Settings) -> None:
    c = result.counts
    typer.echo(
        f"{result.version.name}: trained {plural(c['trained_entries'], 'entry', 'entries')} "
        f"({plural(c['pairs'], 'pair')}, {plural(result.fit.steps, 'step')}, layers "
        f"{result.fit.trained_layers}) in {result.fit.seconds:.0f} s; the whole run "
        f"{result.seconds:.0f} s, peak memory {result.peak_memory_mb:.0f} MB."
    )
    variants = c["held_out_in_scope_variants"]
    note = f", {variants} of them rule-based variants" if variants else ""
    typer.echo(
        f"Held out: {c['held_out_in_scope']} in-scope questions{note}; "
        f"{c['held_out_out_of_scope']} questions of "
        f"{plural(c['held_out_entries'], 'entry', 'entries')} removed from the index "
        "(near-domain, out of scope)."
    )
    typer.echo("")
    rows = [
        ("before (model and threshold in use)", result.before),
        ("before, threshold chosen on held-out", result.before_recalibrated),
        ("after (trained, its threshold)", result.after),
    ]
    typer.echo(_figures_table(rows))
    for key, c_ in result.thresholds.items():
        typer.echo(f"decline threshold for {key}: {c_.threshold:.3f} (chosen on held-out)")
    typer.echo("")
    if result.adopted:
        typer.echo(
            f"Adopted: {result.version.name} is active ({result.reason}); the search index "
            f"was rebuilt with it ({plural(result.reindexed, 'passage')}). Restart "
            "`chatbot serve` to use it."
        )
    else:
        typer.echo(f"Not adopted: {result.reason}. The model in use stays active.")
    if settings.retrieval.min_score is not None:
        typer.echo(
            f"note: CHATBOT_RETRIEVAL__MIN_SCORE={settings.retrieval.min_score} overrides the "
            "decline threshold while set",
            err=True,
        )


def _figures_table(rows: list[tuple[str, Figures]]) -> str:
    from chatbot.cli.kb import format_table

    cells: list[tuple[str, ...]] = [(label, *f.cells()) for label, f in rows]
    return format_table(FIGURE_HEADERS, cells)


@train_app.command("generator")
def generator(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Training settings (TOML or YAML: generator_epochs, generator_learning_rate, "
            "generator_batch_size, generator_max_length, ...); default: CHATBOT_TRAINING__* "
            "and the built-in values.",
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Stop after this many steps (0: no cap, all epochs)."),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show progress (step, loss, time left): a bar on a terminal, else a line a "
            "step. Default: on.",
        ),
    ] = None,
) -> None:
    """Fine-tune the generator on the FAQ answers: a LoRA adapter (llama.cpp or transformers)."""
    from chatbot.container import configure_runtime, open_database
    from chatbot.storage.scrub import engine_of
    from chatbot.training import config
    from chatbot.training.data import TrainingDataError
    from chatbot.training.finetune import TrainingCancelled
    from chatbot.training.generator import base_model_spec, train_generator_lora
    from chatbot.training.generator_data import build_examples, read_entries
    from chatbot.training.versions import TrainingBusy

    settings: Settings = ctx.obj
    cfg = _config(settings, config_file, None)
    if max_steps is not None:
        try:
            cfg = config.merge(cfg, {"generator_max_steps": max_steps}, "--max-steps")
        except config.ConfigError as exc:
            typer.echo(f"ERROR {exc}", err=True)
            raise typer.Exit(2) from None
    configure_runtime(settings)
    sessions = open_database(settings)
    try:
        entries = read_entries(sessions)
    finally:
        engine_of(sessions).dispose()
    if not entries:
        typer.echo("ERROR the knowledge base is empty; run `chatbot ingest FILE` first", err=True)
        raise typer.Exit(2)
    try:
        data = build_examples(entries, cfg.holdout_entries, cfg.seed)
    except TrainingDataError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(1) from None
    base = base_model_spec(settings)
    typer.echo(
        f"Training a LoRA adapter for {base} on "
        f"{plural(len(data.train), 'example')} of "
        f"{plural(len(data.train_entries), 'FAQ entry', 'FAQ entries')} "
        f"({plural(len(data.eval_entries), 'entry', 'entries')} held out): "
        f"{cfg.generator_epochs} epoch(s)"
        + (
            f", at most {plural(cfg.generator_max_steps, 'step')}"
            if cfg.generator_max_steps
            else ""
        )
        + f", batch {cfg.generator_batch_size}, learning rate {cfg.generator_learning_rate:g}, "
        f"rank {cfg.generator_lora_rank}, max length {cfg.generator_max_length}",
        err=True,
    )
    cancelled = threading.Event()
    show = _step_printer(progress)
    outcome: list[GeneratorTrainingResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(
                train_generator_lora(settings, data, cfg, on_step=show, cancelled=cancelled)
            )
        except BaseException as exc:
            errors.append(exc)

    # A worker thread, so Ctrl-C reaches this one and cancels between steps.
    worker = threading.Thread(target=run, name="training", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        typer.echo("\nCancelling (after the current step)...", err=True)
        cancelled.set()
        with contextlib.suppress(KeyboardInterrupt):
            worker.join()
    show(None)
    if errors:
        if isinstance(errors[0], TrainingCancelled):
            typer.echo("Training cancelled; nothing was saved.", err=True)
            raise typer.Exit(130)
        if isinstance(errors[0], (TrainingDataError, TrainingBusy)):
            typer.echo(f"ERROR {errors[0]}", err=True)
            raise typer.Exit(1)
        raise errors[0]
    _print_generator_result(outcome[0])


def _step_printer(progress: bool | None) -> Any:
    """A progress function for training steps (None closes it): nothing with `--no-progress`,
    else a tqdm bar on a terminal (or with `--progress`) and a line a step otherwise."""
    from tqdm import tqdm

    if progress is False:
        return lambda p: None
    bar = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    meter = tqdm(total=0, file=sys.stderr, disable=not bar, leave=False, unit="step")

    def show(p: StepProgress | None) -> None:
        if p is None:
            meter.close()
            return
        loss = f"loss {p.loss:.3f}" if p.loss is not None else "loss -"
        left = f"about {_duration(p.seconds_left)} left" if p.seconds_left is not None else ""
        if bar:
            meter.total = p.total
            meter.update(p.step - meter.n)
            meter.set_postfix_str(f"{loss}, {left}" if left else loss)
        elif p.step:
            elapsed = _duration(time.monotonic() - started)
            parts = (f"step {p.step}/{p.total}", loss, f"{elapsed} so far", left)
            typer.echo(", ".join(part for part in parts if part), err=True)

    return show


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _print_generator_result(result: GeneratorTrainingResult) -> None:
    per_step = result.seconds_per_step
    loss = f"{result.final_loss:.3f}" if result.final_loss is not None else "-"
    typer.echo(
        f"{result.folder.name}: trained on {plural(result.train_examples, 'example')}, "
        f"{plural(result.steps, 'step')} in {result.seconds:.0f} s"
        + (f" ({per_step:.1f} s a step)" if per_step is not None else "")
        + f", final loss {loss}."
    )
    if result.too_long:
        typer.echo(
            f"Left out: {plural(result.too_long, 'example')} longer than generator_max_length."
        )
    if result.eval_loss_before is not None and result.eval_loss_after is not None:
        typer.echo(
            f"Held-out loss ({plural(result.eval_examples, 'example')} of entries never "
            f"trained on): {result.eval_loss_before:.3f} -> {result.eval_loss_after:.3f}"
        )
    typer.echo(f"Adapter: {result.folder.resolve()}")
    typer.echo(
        "To serve it with the default backend (llama.cpp; it converts the adapter once), set:"
    )
    typer.echo("CHATBOT_MODELS__GENERATOR_BACKEND=llamacpp")
    typer.echo(f"CHATBOT_MODELS__GENERATOR={result.base_model}")
    typer.echo(f"CHATBOT_MODELS__GENERATOR_ADAPTER={result.folder.resolve()}")
    typer.echo("and restart `chatbot serve`. The transformers backend serves it too, with")
    typer.echo("CHATBOT_MODELS__GENERATOR_BACKEND=transformers")


@train_app.command("status")
def status(ctx: typer.Context) -> None:
    """Trained versions (figures before -> after, adopted or why not) and the active one."""
    from chatbot.cli.kb import format_table
    from chatbot.training.versions import BASE, VersionStore

    settings: Settings = ctx.obj
    store = VersionStore(settings.data_dir)
    active = store.active()
    if active is None:
        typer.echo(f"Active: {BASE} ({settings.models.embedder})")
    else:
        typer.echo(f"Active: {active.name} (trained from {active.base_model})")
    if store.busy():
        typer.echo("A training or rollback is running now.")
    found = store.versions()
    if not found:
        typer.echo("No trained versions yet; train one with `chatbot train retrieval`.")
        return
    rows: list[tuple[str, ...]] = []
    for v in found:
        m = v.manifest.get("metrics", {})
        before, after = m.get("before", {}), m.get("after", {})

        def change(
            name: str, before: dict[str, Any] = before, after: dict[str, Any] = after
        ) -> str:
            return f"{before.get(name, 0):.3f} -> {after.get(name, 0):.3f}"

        state = "yes" if v.adopted else "no"
        if v.adopted and not v.usable:
            state = "yes (model removed)"
        rows.append(
            (
                ("* " if active is not None and v.name == active.name else "  ") + v.name,
                _when(str(v.manifest.get("created", ""))),
                state,
                change("in_scope_accuracy"),
                change("oos_recall"),
                change("mcc"),
                str(v.manifest.get("reason", "")),
            )
        )
    headers = ("version", "created", "adopted", "in-scope acc", "OOS recall", "MCC", "why")
    typer.echo(format_table(headers, rows))


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


@train_app.command("rollback")
def rollback(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Argument(
            help="A version (v3 or 3) or `base` (the packaged model); default: the version "
            "adopted before the active one."
        ),
    ] = None,
) -> None:
    """Make an earlier trained version, or the packaged base model, the active embedder."""
    from chatbot.container import build
    from chatbot.training.versions import BASE, TrainingBusy, VersionError, VersionStore

    settings: Settings = ctx.obj
    store = VersionStore(settings.data_dir)
    try:
        with store.lock():
            target = store.rollback_target(version)
            store.set_active(target)
            typer.echo(f"Active: {target}. Re-embedding the knowledge base with it...")
            services = build(settings)
            count = services.kb.reindex()
    except (VersionError, TrainingBusy) as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(1) from None
    model = (
        settings.models.embedder if target == BASE else f"{target} of {settings.models.embedder}"
    )
    typer.echo(
        f"The search index was rebuilt with {model} ({plural(count, 'passage')}). Restart "
        "`chatbot serve` to use it."
    )
