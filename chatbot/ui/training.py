"""The "Train" tab: fine-tune retrieval (`chatbot train retrieval`) or the generator (a LoRA
adapter, `chatbot train generator`) on the knowledge base in the background, follow it on a
progress bar, cancel it; the figures before and after (retrieval) or the held-out loss before
and after (the generator) and whether it was adopted; the trained versions of each and a
rollback (`chatbot train rollback` for retrieval; the generator's only moves its pointer).

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
from chatbot.training.generator import GeneratorTrainingResult, base_model_spec
from chatbot.training.job import ENCODING
from chatbot.training.runner import GENERATOR, RESTART, RETRIEVAL, Kind, TrainingState
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
ADAPTER_HEADERS = ["version", "created", "adopted", "held-out loss", "steps", "trained from", "why"]
ADAPTER_WIDTHS = [10, 14, 8, 14, 8, 18, 28]
NO_TRAINING = "No training has run since the server started."
KINDS = [("Retrieval (search and decline)", RETRIEVAL), ("Answers (generator, LoRA)", GENERATOR)]
# The backends that serve a trained adapter (chatbot.generation.factory).
ADAPTER_BACKENDS = ("llamacpp", "transformers")

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
            parts.append(f"{p.step} of {p.total} {'texts' if p.phase == ENCODING else 'steps'}")
        if p.loss is not None:
            parts.append(f"loss {p.loss:.3f}")
        if p.seconds_left is not None:
            parts.append(_left(p.seconds_left))
        if state.cancel_requested:
            parts.append("cancelling after the current step")
        what = "Training the generator" if state.kind == GENERATOR else "Training"
        text = f"{what} (started by {state.started_by}): " + " · ".join(parts)
        bar = (
            f'<progress id="train-bar" value="{p.step}" max="{p.total}"></progress>'
            if p.total
            else '<progress id="train-bar"></progress>'  # a phase without steps: busy
        )
    else:
        text = "The last training was adopted or measured: see below."
        if not state.has_result:
            text = f"The last training ended without a result: {state.error}"
        bar = ""
    return f'<div id="train-progress-text">{html.escape(text)}</div>{bar}'


def outcome_md(services: Services, state: TrainingState | None) -> str:
    """Whether the last training was adopted and why (or why not), as `chatbot train` says."""
    if state is None or state.running:
        return ""
    if state.generator_result is not None:
        return generator_outcome_md(services, state.generator_result)
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


def generator_outcome_md(services: Services, result: GeneratorTrainingResult) -> str:
    """The held-out loss before and after, and whether the adapter was adopted and why, as
    `chatbot train generator` says."""
    per_step = result.seconds_per_step
    lines = [
        f"{result.folder.name} (generator adapter): trained on "
        f"{plural(result.train_examples, 'example')}, {result.steps} of "
        f"{plural(result.total_steps, 'step')} in {result.seconds:.0f} s"
        + (f" ({per_step:.0f} s a step)" if per_step is not None else "")
        + ".",
    ]
    if result.too_long:
        lines.append(
            f"Left out: {plural(result.too_long, 'example')} longer than "
            f"generator_max_length ({services.settings.training.generator_max_length} tokens)."
        )
    before, after = result.eval_loss_before, result.eval_loss_after
    if before is not None and after is not None:
        lines.append(
            f"Held-out loss ({plural(result.eval_examples, 'example')} of entries never "
            f"trained on): **{before:.3f} → {after:.3f}**."
        )
    lines.append("")
    if result.adopted:
        lines.append(
            f"**Adopted:** {result.folder.name} is the active generator adapter "
            f"({result.reason}). It is served from the next start. **{RESTART}**"
        )
    else:
        lines.append(
            f"**Not adopted:** {result.reason}. The active generator adapter stays; this one "
            f"is kept in {result.folder} (CHATBOT_MODELS__GENERATOR_ADAPTER can serve it)."
        )
    m = services.settings.models
    if m.generator_adapter:
        lines.append(
            f"\nNote: CHATBOT_MODELS__GENERATOR_ADAPTER={m.generator_adapter} is served "
            "instead of the active adapter while set."
        )
    elif m.generator_backend not in ADAPTER_BACKENDS:
        lines.append(
            f"\nNote: the {m.generator_backend} generator backend serves no adapter; the "
            "llamacpp and transformers backends do."
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
    return [[label, *f.cells()] for label, f in rows]


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


def generator_versions_view(
    services: Services, request: gr.Request | None = None, zone: str | None = None
) -> tuple[str, list[Row]]:
    """(caption naming the active generator adapter, adapter rows oldest first)."""
    try:
        active, found = services.training.generator_versions(current_actor(services, request))
    except Forbidden as exc:
        return refusal(exc), []
    served = services.settings.models.generator
    rows: list[Row] = []
    trained_from = ""
    for a in found:
        m = a.meta
        before, after = m.get("eval_loss_before"), m.get("eval_loss_after")
        measured = all(isinstance(x, int | float) for x in (before, after))
        loss = f"{before:.3f} → {after:.3f}" if measured else ""
        state = "yes" if a.adopted else "no"
        if a.adopted and not a.usable:
            state = "yes (adapter removed)"
        if a.name == active:
            trained_from = a.base_model
        rows.append(
            [
                ("* " if a.name == active else "") + a.name,
                _created(m.get("created"), zone),
                state,
                loss,
                f"{m.get('steps', '')}/{m.get('total_steps', '')}",
                a.base_model,
                str(m.get("reason", "")),
            ]
        )
    if active == BASE:
        name = f"{BASE} ({served or 'the configured generator'} without an adapter)"
    elif trained_from and trained_from != served:
        # chatbot.generation.factory serves an adapter only on the model it was trained from.
        name = f"{active} (trained from {trained_from}, not {served}: not served)"
    else:
        name = f"{active} (trained from {trained_from})"
    backend = services.settings.models.generator_backend
    note = "" if backend in ADAPTER_BACKENDS else f" The {backend} backend serves no adapter."
    return (
        f"Active generator adapter: **{name}** (marked *), served from the next start. "
        f"{plural(len(rows), 'trained adapter')}.{note}"
    ), rows


def _created(iso: Any, zone: str | None) -> str:
    try:
        return fmt_time(datetime.fromisoformat(str(iso)), zone)
    except ValueError:
        return str(iso or "")


def start_training(
    services: Services,
    epochs: float | None,
    kind: Kind = RETRIEVAL,
    max_steps: float | None = None,
    request: gr.Request | None = None,
) -> str:
    """Start a training of `kind` with the configured settings (`epochs` instead, when given;
    for the generator also `max_steps`, 0: no cap)."""
    from chatbot.training import config
    from chatbot.training.data import TrainingDataError

    runner = services.training
    generator = kind == GENERATOR
    try:
        cfg = runner.settings.training
        values: dict[str, int] = {}
        if epochs:
            values["generator_epochs" if generator else "epochs"] = int(epochs)
        if generator and max_steps is not None:
            values["generator_max_steps"] = int(max_steps)
        if values:
            boxes = "the Epochs or Max steps box" if generator else "the Epochs box"
            cfg = config.merge(cfg, values, boxes)
        runner.start(current_actor(services, request), cfg, GENERATOR if generator else RETRIEVAL)
    except Forbidden as exc:
        return refusal(exc)
    except (TrainingBusy, TrainingDataError, config.ConfigError) as exc:
        return f"❌ {exc}"
    if generator:
        cap = (
            f", at most {plural(cfg.generator_max_steps, 'step')}"
            if cfg.generator_max_steps
            else ""
        )
        return (
            f"Training the generator started: a LoRA adapter for "
            f"{base_model_spec(runner.settings)}, {cfg.generator_epochs} epoch(s){cap}. On a "
            "CPU a step takes minutes with the default model. Customers are served meanwhile "
            "(more slowly); this page (also after a reload) shows how it goes."
        )
    return (
        f"Training started: {cfg.epochs} epoch(s), at most {cfg.max_pairs} pairs. Customers "
        "are served meanwhile; this page (also after a reload) shows how it goes."
    )


def kind_boxes(services: Services, kind: Kind) -> tuple[Any, Any]:
    """The Epochs box with the chosen kind's setting; the Max steps box for the generator."""
    t = services.settings.training
    generator = kind == GENERATOR
    return (
        gr.update(value=t.generator_epochs if generator else t.epochs),
        gr.update(visible=generator, value=t.generator_max_steps),
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


def roll_back_generator(
    services: Services, version: str | None, request: gr.Request | None = None
) -> str:
    """Make `version` (empty: the one adopted before the active one) the active adapter."""
    try:
        active = services.training.rollback_generator(
            current_actor(services, request), version or None
        )
    except Forbidden as exc:
        return refusal(exc)
    except (VersionError, TrainingBusy) as exc:
        return f"❌ {exc}"
    name = f"{BASE} (no adapter)" if active == BASE else active
    return f"Active generator adapter: {name}, served from the next start. **{RESTART}**"


def build_training_tab(services: Services, demo: gr.Blocks, zone: gr.State | None = None) -> gr.Tab:
    ready = page_ready(demo, zone)
    with gr.Tab("Train", id="train") as tab:
        zone = zone if zone is not None else gr.State(None)
        gr.Markdown(
            "Fine-tune retrieval (which passage answers a question, and when to decline) or "
            "the answers (a LoRA adapter of the generator) on the current knowledge base. A "
            "trained model is adopted only if it measures better on questions held out of the "
            "training. One training at a time; customers are served meanwhile.\n\n"
            "Training the answers is slow on a CPU: minutes per step with the default model, "
            "and it slows the answers customers get meanwhile. An adopted adapter is served "
            "after a restart of `chatbot serve`."
        )
        kind = gr.Radio(
            KINDS, value=RETRIEVAL, label="What to train", elem_id="train-kind", scale=0
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
            max_steps = gr.Number(
                services.settings.training.generator_max_steps,
                label="Max steps (0: all the epochs)",
                precision=0,
                minimum=0,
                elem_id="train-max-steps",
                visible=False,
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
        adapter_caption = gr.Markdown(elem_id="train-generator-active")
        adapters = console_table(
            ADAPTER_HEADERS,
            ADAPTER_WIDTHS,
            elem_id="train-generator-versions",
            label="Trained generator adapters",
        )
        with gr.Row():
            adapter_target = gr.Textbox(
                label="Generator version (v3, 3 or base; empty: the one adopted before the "
                "active one)",
                elem_id="train-generator-rollback-version",
                scale=3,
            )
            adapter_rollback = gr.Button(
                "Roll back the generator",
                variant="stop",
                elem_id="train-generator-rollback",
                scale=1,
            )

        view = bind(training_view, services)
        listing = bind(versions_view, services)
        adapter_listing = bind(generator_versions_view, services)
        drawn = [seen, run, bar, outcome, figures]
        listed = [caption, versions]
        adapters_listed = [adapter_caption, adapters]

        def lists(event: Any) -> None:
            """Both versions tables after `event`: a trigger, or an event's `.then`."""
            event(listing, inputs=[zone], outputs=listed, api_visibility="private").then(
                adapter_listing, inputs=[zone], outputs=adapters_listed, api_visibility="private"
            )

        for event in (tab.select, ready, reload.click):
            lists(event(view, outputs=drawn, api_visibility="private").then)
        kind.change(
            bind(kind_boxes, services),
            inputs=[kind],
            outputs=[epochs, max_steps],
            api_visibility="private",
        )
        start.click(
            bind(start_training, services),
            inputs=[epochs, kind, max_steps],
            outputs=[message],
            api_visibility="private",
        ).then(view, outputs=drawn, api_visibility="private")
        cancel.click(
            bind(cancel_training, services), outputs=[message], api_visibility="private"
        ).then(view, outputs=drawn, api_visibility="private")
        rollback.click(
            bind(roll_back, services), inputs=[target], outputs=[message], api_visibility="private"
        ).then(listing, inputs=[zone], outputs=listed, api_visibility="private")
        adapter_rollback.click(
            bind(roll_back_generator, services),
            inputs=[adapter_target],
            outputs=[message],
            api_visibility="private",
        ).then(adapter_listing, inputs=[zone], outputs=adapters_listed, api_visibility="private")
        timer = gr.Timer(POLL_SECONDS)
        timer.tick(
            bind(poll_training, services),
            inputs=[seen],
            outputs=drawn,
            api_visibility="private",
            show_progress="hidden",
        )
        # A training that ends (adopted or not) also changes a versions table.
        lists(run.change)
    return tab
