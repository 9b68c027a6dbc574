"""The console's Train tab through its Gradio handlers, on the small packaged English embedder
trained for a few steps on the sample FAQ: start in the background while customers are
answered, one training at a time, progress from the server (what a reloaded page sees), the
figures and the adoption, the versions and a rollback, cancel, admins only, the audit log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from chatbot.container import Services, build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import FAST_EMBEDDER, Settings, TrainingSettings
from chatbot.staff.actor import LOCAL, Forbidden
from chatbot.training import job as job_module
from chatbot.training.data import read_passages
from chatbot.training.job import TRAINING
from chatbot.training.runner import RESTART, TRAIN_CANCEL, TRAIN_END, TRAIN_ROLLBACK, TRAIN_START
from chatbot.training.versions import BASE, TrainingBusy, VersionStore
from chatbot.ui import build_console
from chatbot.ui.staff import current_actor
from chatbot.ui.training import (
    cancel_training,
    figure_rows,
    poll_training,
    progress_html,
    roll_back,
    start_training,
    training_view,
    versions_view,
)
from tests.conftest import SAMPLE_DATA

FEW_STEPS = TrainingSettings(epochs=1, batch_size=8, max_pairs=40)  # 5 steps
AGENT = gr.Request(username="bob")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Services]:
    settings = Settings(data_dir=tmp_path / "data", load_sample_kb=False, training=FEW_STEPS)
    settings.models.embedder = FAST_EMBEDDER
    settings.models.multilingual_embedder = ""  # the English model alone: the smallest
    services = build(settings, generator=ScriptedGenerator())
    services.kb.ingest_paths([SAMPLE_DATA / "shop_faq.csv"])
    services.accounts.add("bob", "a-long-password", "agent")
    yield services
    services.training.wait(120)
    services.engine.dispose()


def until_training_steps(services: Services, timeout: float = 120) -> str:
    """The progress bar once the training reports a step with its loss."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = services.training.state()
        assert state is not None and state.running, state
        p = state.progress
        if p.phase == TRAINING and p.step and p.loss is not None:
            return progress_html(state)
        time.sleep(0.05)
    raise AssertionError("no training step reported")


def audit_actions(services: Services) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.details) for e in reversed(services.audit.recent())]


def test_a_training_runs_in_the_background_and_is_adopted_then_rolled_back(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whether 5 steps measure better is up to chance (the gate has its own tests).
    monkeypatch.setattr(job_module, "gate", lambda before, after: (True, "adopted for the test"))
    live_embedder = shop.kb.embedder
    assert versions_view(shop)[0].startswith(f"Active: **{BASE} ({FAST_EMBEDDER})**")

    assert "Training started: 1 epoch(s), at most 40 pairs" in start_training(shop, 1)
    assert "a training started by local is running" in start_training(shop, 1)
    with pytest.raises(TrainingBusy):
        shop.training.rollback(LOCAL)
    bar = until_training_steps(shop)
    assert "Training (started by local): training" in bar
    assert "of 5 steps" in bar and "loss " in bar and "left" in bar
    assert '<progress id="train-bar" value="' in bar and 'max="5"' in bar
    # A page opened now (a reload) asks the server and sees the same training.
    _, _, reloaded, outcome, figures = training_view(shop)
    assert "Training (started by local)" in reloaded and outcome == "" and figures == []
    # Customers are answered meanwhile, by the model in use.
    reply = shop.dialogue.respond("How do I cancel my order?", channel="cli")
    "".join(reply)
    assert reply.decision == "answer" and reply.sources[0].entry_id == "orders-cancel"

    state = shop.training.wait(300)
    assert state is not None and not state.running and state.error is None, state
    seen, _, bar, outcome, figures = training_view(shop)
    assert "adopted" in bar
    # The timer redraws nothing while nothing changes.
    assert poll_training(shop, seen) == tuple(gr.skip() for _ in range(5))
    assert "**Adopted:** v1 is active (adopted for the test)" in outcome and RESTART in outcome
    assert [row[0] for row in figures] == [
        "before (model and threshold in use)",
        "before, threshold chosen on held-out",
        "after (trained, its threshold)",
    ]
    assert state.result is not None
    assert figures == figure_rows(state)
    assert figures[2][3] == f"{state.result.after.mcc:.3f}"
    # The serving knowledge base was not switched halfway: its model is the one it started
    # with; the stored embeddings are the trained model's, for the next start.
    assert shop.kb.embedder is live_embedder
    trained = VersionStore(shop.settings.data_dir).get("v1")
    assert trained.usable
    stored = read_passages(shop.sessions, str(trained.model_dir.resolve()))
    assert stored and all(p.vector is not None for p in stored)
    caption, rows = versions_view(shop)
    assert caption.startswith("Active: **v1 (trained from")
    assert rows[0][0] == "* v1" and rows[0][2] == "yes" and rows[0][6] == "adopted for the test"

    rolled = roll_back(shop, "base")
    assert (
        rolled.startswith("Active: base. The search index was rebuilt with") and RESTART in rolled
    )
    assert VersionStore(shop.settings.data_dir).active_name() == BASE
    again = read_passages(shop.sessions, live_embedder.name)
    assert again and all(p.vector is not None for p in again)
    assert "the base model is already active" in roll_back(shop, "")
    actions = [(actor, action) for actor, action, _ in audit_actions(shop)]
    assert [a for a in actions if a[1].startswith("training.")] == [
        ("local", TRAIN_START),
        ("local", TRAIN_END),
        ("local", TRAIN_ROLLBACK),
    ]
    end = [d for _, action, d in audit_actions(shop) if action == TRAIN_END]
    assert end == ["v1 adopted: adopted for the test"]


def test_a_cancelled_training_keeps_nothing_and_agents_are_refused(shop: Services) -> None:
    for refused in (
        start_training(shop, 1, AGENT),
        cancel_training(shop, AGENT),
        roll_back(shop, "base", AGENT),
        training_view(shop, AGENT)[3],
        versions_view(shop, AGENT)[0],
    ):
        assert refused.startswith("⛔ Only an admin can"), refused
    assert shop.training.state() is None
    assert cancel_training(shop) == "No training is running."
    assert start_training(shop, None).startswith("Training started")
    until_training_steps(shop)
    with pytest.raises(Forbidden):
        shop.training.cancel(current_actor(shop, AGENT))
    assert cancel_training(shop).startswith("Cancelling after the current step")
    state = shop.training.wait(120)
    assert state is not None and not state.running
    assert state.result is None and state.error == "cancelled; nothing was kept"
    assert "**Training ended without a result:** cancelled" in training_view(shop)[3]
    assert VersionStore(shop.settings.data_dir).versions() == []
    assert VersionStore(shop.settings.data_dir).active_name() == BASE
    assert [(a, d) for _, a, d in audit_actions(shop) if a.startswith("training.")] == [
        (TRAIN_START, "1 epoch(s), batch 8, learning rate 3e-05, at most 40 pairs"),
        (TRAIN_CANCEL, ""),
        (TRAIN_END, "ended without a result: cancelled; nothing was kept"),
    ]
    # The tab is in the console.
    console = build_console(shop)
    assert any(getattr(b, "elem_id", None) == "train-start" for b in console.blocks.values())
