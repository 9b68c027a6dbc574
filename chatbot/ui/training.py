"""The "Train" tab: fine-tune retrieval on the knowledge base (`chatbot train retrieval`) in
the background, follow it on a progress bar, cancel it; the figures before and after and
whether it was adopted; the trained versions and a rollback (`chatbot train rollback`).

Admins only: the runner (chatbot.training.runner) refuses everyone else and this tab shows
the refusal. What the tab shows comes from the runner in the server's process, so reopening
or reloading the console finds the running training; a timer asks for its progress.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.actor import Forbidden
from chatbot.training.runner import RESTART, TrainingState
from chatbot.training.versions import BASE, TrainingBusy, VersionError
from chatbot.ui.events import bind
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready

POLL_SECONDS = 2
FIGURE_HEADERS = ["measured", "in-scope acc", "OOS recall", "MCC", "recall@1"]
FIGURE_WIDTHS = [40, 14, 14, 14, 14]
VERSION_HEADERS = ["version", "created", "adopted", "in-scope acc", "OOS recall", "MCC", "why"]
VERSION_WIDTHS = [10, 14, 8, 12, 12, 12, 30]
NO_TRAINING = "No training has run since the server started."

Row = list[Any]
# What the page last drew of the training (the timer redraws only when it changes).
Seen = tuple[Any, ...] | None


def _left(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"about {minutes} min {secs} s left" if minutes else f"about {secs} s left"


def progress_html(state: TrainingState | None) -> str:
    """The progress bar: phase, steps done of the total, loss, time left."""
    if state is None:
        return f'<div id="train-progress-text">{NO_TRAINING}</div>'
    p = state.progress
    if state.running:
        parts = [p.phase]
        if p.total:
            parts.append(f"{p.step} of {p.total} {'steps' if p.phase == 'training' else 'texts'}")
        if p.loss is not None:
            parts.append(f"loss {p.loss:.3f}")
        if p.seconds_left is not None:
            parts.append(_left(p.seconds_left))
        if state.cancel_requested:
            parts.append("cancelling after the current step")
        text = f"Training (started by {state.started_by}): " + " · ".join(parts)
        bar = (
            f'<progress id="train-bar" value="{p.step}" max="{p.total}"></progress>'
            if p.total
            else '<progress id="train-bar"></progress>'  # a phase without steps: busy
        )
    else:
        text = "The last training was adopted or measured: see below."
        if state.result is None:
            text = f"The last training ended without a result: {state.error}"
        bar = ""
    return f'<div id="train-progress-text">{html.escape(text)}</div>{bar}'


def outcome_md(services: Services, state: TrainingState | None) -> str:
    """Whether the last training was adopted and why (or why not), as `chatbot train` says."""
    if state is None or state.running:
        return ""
    result = state.result
    if result is None:
        return f"**Training ended without a result:** {state.error}"
    c = result.counts
    lines = [
        f"{result.version.name}: trained {plural(c['trained_entries'], 'entry', 'entries')} "
        f"({plural(c['pairs'], 'pair')}, {plural(result.fit.steps, 'step')}) in "
        f"{result.fit.seconds:.0f} s; the whole run {result.seconds:.0f} s. Held out: "
        f"{c['held_out_in_scope']} in-scope and {c['held_out_out_of_scope']} out-of-scope "
        "questions.",
        "",
    ]
    if result.adopted:
        lines.append(
            f"**Adopted:** {result.version.name} is active ({result.reason}); the search index "
            f"was rebuilt with it ({plural(result.reindexed, 'passage')}). **{RESTART}**"
        )
    else:
        lines.append(f"**Not adopted:** {result.reason}. The model in use stays active.")
    min_score = services.settings.retrieval.min_score
    if min_score is not None:
        lines.append(
            f"\nNote: CHATBOT_RETRIEVAL__MIN_SCORE={min_score} overrides the decline threshold "
            "while set."
        )
    return "\n".join(lines)


def figure_rows(state: TrainingState | None) -> list[Row]:
    """The figures before and after, one row each, as `chatbot train retrieval` prints them."""
    if state is None or state.result is None:
        return []
    r = state.result
    rows = [
        ("before (model and threshold in use)", r.before),
        ("before, threshold chosen on held-out", r.before_recalibrated),
        ("after (trained, its threshold)", r.after),
    ]
    return [
        [
            label,
            f"{f.in_scope_accuracy:.3f}",
            f"{f.oos_recall:.3f}",
            f"{f.mcc:.3f}",
            f"{f.recall_at_1:.3f}",
        ]
        for label, f in rows
    ]


def _stamp(state: TrainingState | None) -> Seen:
    if state is None:
        return None
    return (state.started_at, state.running, state.progress, state.cancel_requested, state.error)


def training_view(
    services: Services, request: gr.Request | None = None
) -> tuple[Seen, Seen, str, str, list[Row]]:
    """(what is drawn, which run and whether it runs, progress bar, outcome, figure rows);
    a refusal for agents. The second changes only when a training starts or ends: the
    versions table is redrawn then."""
    try:
        actor = current_actor(services, request)
        services.training.versions(actor)  # the role check (cheap: reads the manifests)
    except Forbidden as exc:
        return None, None, "", refusal(exc), []
    state = services.training.state()
    run = None if state is None else (state.started_at, state.running)
    return (
        _stamp(state),
        run,
        progress_html(state),
        outcome_md(services, state),
        figure_rows(state),
    )


def poll_training(services: Services, seen: Seen, request: gr.Request | None = None) -> Any:
    """For the timer: the view when the training moved on since the page drew it."""
    state = services.training.state()
    if _stamp(state) == seen:
        return tuple(gr.skip() for _ in range(5))
    return training_view(services, request)


def versions_view(
    services: Services, request: gr.Request | None = None, zone: str | None = None
) -> tuple[str, list[Row]]:
    """(caption naming the active model, version rows oldest first)."""
    try:
        active, found = services.training.versions(current_actor(services, request))
    except Forbidden as exc:
        return refusal(exc), []
    model = services.settings.models.embedder
    name = f"{BASE} ({model})" if active == BASE else f"{active} (trained from {model})"
    rows: list[Row] = []
    for v in found:
        m = v.manifest.get("metrics", {})
        before, after = m.get("before", {}), m.get("after", {})

        def change(key: str, before: dict[str, Any] = before, after: dict[str, Any] = after) -> str:
            return f"{before.get(key, 0):.3f} → {after.get(key, 0):.3f}"

        state = "yes" if v.adopted else "no"
        if v.adopted and not v.usable:
            state = "yes (model removed)"
        rows.append(
            [
                ("* " if v.name == active else "") + v.name,
                _created(v.manifest.get("created"), zone),
                state,
                change("in_scope_accuracy"),
                change("oos_recall"),
                change("mcc"),
                str(v.manifest.get("reason", "")),
            ]
        )
    return f"Active: **{name}** (marked *). {plural(len(rows), 'trained version')}.", rows


def _created(iso: Any, zone: str | None) -> str:
    try:
        return fmt_time(datetime.fromisoformat(str(iso)), zone)
    except ValueError:
        return str(iso or "")


def start_training(
    services: Services, epochs: float | None, request: gr.Request | None = None
) -> str:
    """Start a training with the configured settings (`epochs` instead, when given)."""
    from chatbot.training import config
    from chatbot.training.data import TrainingDataError

    runner = services.training
    try:
        cfg = runner.settings.training
        if epochs:
            cfg = config.merge(cfg, {"epochs": int(epochs)}, "the Epochs box")
        runner.start(current_actor(services, request), cfg)
    except Forbidden as exc:
        return refusal(exc)
    except (TrainingBusy, TrainingDataError, config.ConfigError) as exc:
        return f"❌ {exc}"
    return (
        f"Training started: {cfg.epochs} epoch(s), at most {cfg.max_pairs} pairs. Customers "
        "are served meanwhile; this page (also after a reload) shows how it goes."
    )


def cancel_training(services: Services, request: gr.Request | None = None) -> str:
    try:
        cancelled = services.training.cancel(current_actor(services, request))
    except Forbidden as exc:
        return refusal(exc)
    if not cancelled:
        return "No training is running."
    return "Cancelling after the current step; nothing of this training is kept."


def roll_back(services: Services, version: str | None, request: gr.Request | None = None) -> str:
    """Make `version` (empty: the one adopted before the active one) the active embedder."""
    try:
        done = services.training.rollback(current_actor(services, request), version or None)
    except Forbidden as exc:
        return refusal(exc)
    except (VersionError, TrainingBusy) as exc:
        return f"❌ {exc}"
    model = services.settings.models.embedder
    name = model if done.active == BASE else f"{done.active} of {model}"
    return (
        f"Active: {done.active}. The search index was rebuilt with {name} "
        f"({plural(done.reindexed, 'passage')}). **{RESTART}**"
    )


def build_training_tab(services: Services, demo: gr.Blocks, zone: gr.State | None = None) -> gr.Tab:
    ready = page_ready(demo, zone)
    with gr.Tab("Train", id="train") as tab:
        zone = zone if zone is not None else gr.State(None)
        gr.Markdown(
            "Fine-tune retrieval on the current knowledge base. The trained model is adopted "
            "only if it measures better on questions held out of the training. One training "
            "at a time; customers are served meanwhile."
        )
        with gr.Row():
            epochs = gr.Number(
                services.settings.training.epochs,
                label="Epochs",
                precision=0,
                minimum=1,
                elem_id="train-epochs",
                scale=1,
            )
            start = gr.Button("Start training", variant="primary", elem_id="train-start", scale=1)
            cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel", scale=1)
        message = gr.Markdown(elem_id="train-message")
        seen, run = gr.State(None), gr.State(None)
        bar = gr.HTML(elem_id="train-progress")
        outcome = gr.Markdown(elem_id="train-outcome")
        figures = console_table(
            FIGURE_HEADERS, FIGURE_WIDTHS, elem_id="train-figures", label="Before and after"
        )
        with gr.Row():
            caption = gr.Markdown(elem_id="train-active")
            reload = gr.Button("Refresh", elem_id="train-refresh", size="sm", scale=0)
        versions = console_table(
            VERSION_HEADERS, VERSION_WIDTHS, elem_id="train-versions", label="Trained versions"
        )
        with gr.Row():
            target = gr.Textbox(
                label="Version (v3, 3 or base; empty: the one adopted before the active one)",
                elem_id="train-version",
                scale=3,
            )
            rollback = gr.Button("Roll back", variant="stop", elem_id="train-rollback", scale=1)

        view = bind(training_view, services)
        listing = bind(versions_view, services)
        drawn = [seen, run, bar, outcome, figures]
        listed = [caption, versions]

        def both(event: Any) -> None:
            event(view, outputs=drawn, api_visibility="private").then(
                listing, inputs=[zone], outputs=listed, api_visibility="private"
            )

        for event in (tab.select, ready, reload.click):
            both(event)
        start.click(
            bind(start_training, services),
            inputs=[epochs],
            outputs=[message],
            api_visibility="private",
        ).then(view, outputs=drawn, api_visibility="private")
        cancel.click(
            bind(cancel_training, services), outputs=[message], api_visibility="private"
        ).then(view, outputs=drawn, api_visibility="private")
        rollback.click(
            bind(roll_back, services), inputs=[target], outputs=[message], api_visibility="private"
        ).then(listing, inputs=[zone], outputs=listed, api_visibility="private")
        timer = gr.Timer(POLL_SECONDS)
        timer.tick(
            bind(poll_training, services),
            inputs=[seen],
            outputs=drawn,
            api_visibility="private",
            show_progress="hidden",
        )
        # A training that ends (adopted or not) also changes the versions table.
        run.change(listing, inputs=[zone], outputs=listed, api_visibility="private")
    return tab
