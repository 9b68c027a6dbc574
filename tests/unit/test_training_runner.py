"""The console's Train tab through its Gradio handlers, on the small packaged English embedder
trained for a few steps on the sample FAQ: start in the background while customers are
answered, one training at a time, progress from the server (what a reloaded page sees), the
figures and the adoption, the versions and a rollback, cancel, admins only, the audit log.

The generator's training goes through the same runner with a stand-in for
`train_generator_lora` that steps when the test says so (a real one takes minutes a step)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from chatbot.container import Services, build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import FAST_EMBEDDER, Settings, TrainingSettings
from chatbot.staff.actor import LOCAL, Forbidden
from chatbot.training import generator as generator_module
from chatbot.training import job as job_module
from chatbot.training.data import read_passages
from chatbot.training.finetune import StepProgress, TrainingCancelled
from chatbot.training.generator import GeneratorTrainingResult, base_model_spec
from chatbot.training.generator_data import GeneratorData
from chatbot.training.generator_versions import AdapterStore, adapters_dir
from chatbot.training.job import TRAINING
from chatbot.training.runner import (
    GENERATOR,
    GENERATOR_FINISHING,
    RESTART,
    TRAIN_CANCEL,
    TRAIN_END,
    TRAIN_ROLLBACK,
    TRAIN_START,
)
from chatbot.training.versions import BASE, TrainingBusy, VersionStore
from chatbot.ui import build_console
from chatbot.ui.staff import current_actor
from chatbot.ui.training import (
    cancel_training,
    figure_rows,
    generator_versions_view,
    poll_training,
    progress_html,
    roll_back,
    roll_back_generator,
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


def training_audit(services: Services) -> list[tuple[str, str, str]]:
    """(action, target, details) of the training entries, oldest first."""
    entries = reversed(services.audit.recent())
    return [(e.action, e.target, e.details) for e in entries if e.action.startswith("training.")]


class FakeGeneratorTraining:
    """Stands in for `train_generator_lora`: takes the data dir's lock as it does, reports
    step 0 and then one step each time the test calls `step()`, stops with TrainingCancelled
    at the next step once cancelled (as the real one, between steps), and saves an adapter
    folder with its training.json (adopted when `adopt`)."""

    TOTAL = 3

    def __init__(self, adopt: bool = True) -> None:
        self.adopt = adopt
        self._steps = threading.Semaphore(0)
        self.data: GeneratorData | None = None

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._steps.release()

    def __call__(
        self,
        settings: Settings,
        data: GeneratorData,
        config: TrainingSettings | None = None,
        *,
        on_step: Any = None,
        cancelled: threading.Event | None = None,
        evaluate: bool = True,
    ) -> GeneratorTrainingResult:
        assert on_step is not None and cancelled is not None
        self.data = data
        with VersionStore(settings.data_dir).lock():
            on_step(StepProgress(0, self.TOTAL, None, None))
            for step in range(1, self.TOTAL + 1):
                # The test's go-ahead (none comes when it failed: the thread ends anyway).
                self._steps.acquire(timeout=30)
                if cancelled.is_set():
                    raise TrainingCancelled("the training was cancelled")
                on_step(StepProgress(step, self.TOTAL, 1.0 / step, 60.0 * (self.TOTAL - step)))
            folder = adapters_dir(settings.data_dir) / "v1"
            folder.mkdir(parents=True)
            (folder / "adapter_config.json").write_text("{}")
            reason = "the held-out loss fell from 2.000 to 1.500"
            meta = {
                "base_model": base_model_spec(settings),
                "created": "2025-01-02T03:04:05+00:00",
                "steps": self.TOTAL,
                "total_steps": self.TOTAL,
                "eval_loss_before": 2.0,
                "eval_loss_after": 1.5,
                "adopted": self.adopt,
                "reason": reason,
            }
            (folder / "training.json").write_text(json.dumps(meta))
            if self.adopt:
                AdapterStore(settings.data_dir).set_active("v1")
        return GeneratorTrainingResult(
            folder=folder,
            base_model=base_model_spec(settings),
            steps=self.TOTAL,
            total_steps=self.TOTAL,
            final_loss=1.0 / self.TOTAL,
            eval_loss_before=2.0,
            eval_loss_after=1.5,
            seconds=12.0,
            train_examples=len(data.train),
            eval_examples=len(data.eval),
            too_long=0,
            adopted=self.adopt,
            reason=reason,
        )


@pytest.fixture
def fake_generator(monkeypatch: pytest.MonkeyPatch) -> FakeGeneratorTraining:
    fake = FakeGeneratorTraining()
    monkeypatch.setattr(generator_module, "train_generator_lora", fake)
    return fake


def until_generator_step(services: Services, step: int, timeout: float = 30) -> str:
    """The progress bar once the generator's training reported `step`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = services.training.state()
        assert state is not None and state.running and state.kind == GENERATOR, state
        if state.progress.step == step and state.progress.phase in (TRAINING, GENERATOR_FINISHING):
            return progress_html(state)
        time.sleep(0.01)
    raise AssertionError(f"step {step} not reported")


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
        start_training(shop, 1, request=AGENT),
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
    # One training at a time, of either kind; nor a rollback of the generator meanwhile.
    assert "a training started by local is running" in start_training(shop, 1, GENERATOR)
    with pytest.raises(TrainingBusy):
        shop.training.rollback_generator(LOCAL, "base")
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
    ids = {getattr(b, "elem_id", None) for b in console.blocks.values()}
    assert {
        "train-start",
        "train-kind",
        "train-generator-versions",
        "train-generator-rollback-version",
        "train-generator-rollback",
    } <= ids


def test_a_generator_training_runs_in_the_background_then_its_adapter_is_rolled_back(
    shop: Services, fake_generator: FakeGeneratorTraining
) -> None:
    base = base_model_spec(shop.settings)
    target = f"generator: {base}"
    assert generator_versions_view(shop)[0].startswith(f"Active generator adapter: **{BASE} (")
    assert generator_versions_view(shop)[1] == []

    started = start_training(shop, None, GENERATOR, 0)
    assert started.startswith(f"Training the generator started: a LoRA adapter for {base}, 1 ")
    assert "a step takes minutes" in started
    bar = until_generator_step(shop, 0)
    assert "Training the generator (started by local): training · 0 of 3 steps" in bar
    # One training at a time, of either kind; no rollback of either meanwhile.
    assert "a training started by local is running" in start_training(shop, 1)
    assert "a training started by local is running" in start_training(shop, 1, GENERATOR)
    with pytest.raises(TrainingBusy):
        shop.training.rollback(LOCAL)
    busy = roll_back_generator(shop, "base")
    assert busy.startswith("❌ ") and "running" in busy

    fake_generator.step()
    bar = until_generator_step(shop, 1)
    assert "training · 1 of 3 steps · loss 1.000 · about 2 min 0 s left" in bar
    assert '<progress id="train-bar" value="1" max="3">' in bar
    # A reloaded page asks the server and sees the same training.
    _, _, reloaded, outcome, figures = training_view(shop)
    assert reloaded == bar and outcome == "" and figures == []
    fake_generator.step(2)
    state = shop.training.wait(30)
    assert state is not None and not state.running and state.error is None, state
    assert state.kind == GENERATOR and state.result is None
    assert state.generator_result is not None and state.generator_result.adopted
    # The data the runner built: whole FAQ entries held out, the rest trained on.
    data = fake_generator.data
    assert data is not None and data.train and data.eval
    assert not data.train_entries & set(data.eval_entries)

    _, _, bar, outcome, figures = training_view(shop)
    assert "The last training was adopted or measured" in bar and figures == []
    assert "v1 (generator adapter): trained on" in outcome and "3 steps in 12 s" in outcome
    assert "Held-out loss" in outcome and "**2.000 → 1.500**" in outcome
    assert "**Adopted:** v1 is the active generator adapter" in outcome and RESTART in outcome
    caption, rows = generator_versions_view(shop)
    assert caption.startswith(f"Active generator adapter: **v1 (trained from {base})**")
    assert rows == [
        [
            "* v1",
            rows[0][1],
            "yes",
            "2.000 → 1.500",
            "3/3",
            base,
            "the held-out loss fell from 2.000 to 1.500",
        ]
    ]
    # The retrieval model is untouched.
    assert versions_view(shop)[0].startswith(f"Active: **{BASE} (")

    rolled = roll_back_generator(shop, "")
    assert rolled.startswith(f"Active generator adapter: {BASE} (no adapter)") and RESTART in rolled
    assert AdapterStore(shop.settings.data_dir).active_name() == BASE
    assert "the base generator is already active" in roll_back_generator(shop, "")
    assert roll_back_generator(shop, "1").startswith("Active generator adapter: v1,")
    assert AdapterStore(shop.settings.data_dir).active_name() == "v1"
    assert training_audit(shop) == [
        (
            TRAIN_START,
            target,
            "1 epoch(s), batch 4, learning rate 0.0002, rank 16, max length 768",
        ),
        (TRAIN_END, target, "v1 adopted: the held-out loss fell from 2.000 to 1.500"),
        (TRAIN_ROLLBACK, BASE, "generator adapter, from v1"),
        (TRAIN_ROLLBACK, "v1", f"generator adapter, from {BASE}"),
    ]


def test_a_cancelled_generator_training_keeps_nothing_and_agents_are_refused(
    shop: Services, fake_generator: FakeGeneratorTraining
) -> None:
    for refused in (
        start_training(shop, 1, GENERATOR, request=AGENT),
        roll_back_generator(shop, "base", AGENT),
        generator_versions_view(shop, AGENT)[0],
    ):
        assert refused.startswith("⛔ Only an admin can"), refused
    with pytest.raises(Forbidden):
        shop.training.generator_versions(current_actor(shop, AGENT))
    assert shop.training.state() is None

    assert start_training(shop, 2, GENERATOR, 5).startswith("Training the generator started")
    until_generator_step(shop, 0)
    fake_generator.step()
    until_generator_step(shop, 1)
    with pytest.raises(Forbidden):
        shop.training.cancel(current_actor(shop, AGENT))
    assert cancel_training(shop).startswith("Cancelling after the current step")
    state = shop.training.state()
    assert state is not None and state.cancel_requested
    assert "cancelling after the current step" in progress_html(state)
    fake_generator.step()  # the next step finds it cancelled
    state = shop.training.wait(30)
    assert state is not None and not state.running and state.kind == GENERATOR
    assert state.generator_result is None and state.error == "cancelled; nothing was kept"
    assert "**Training ended without a result:** cancelled" in training_view(shop)[3]
    assert AdapterStore(shop.settings.data_dir).versions() == []
    assert AdapterStore(shop.settings.data_dir).active_name() == BASE
    target = f"generator: {base_model_spec(shop.settings)}"
    assert training_audit(shop) == [
        (
            TRAIN_START,
            target,
            "2 epoch(s), at most 5 steps, batch 4, learning rate 0.0002, rank 16, max length 768",
        ),
        (TRAIN_CANCEL, target, ""),
        (TRAIN_END, target, "ended without a result: cancelled; nothing was kept"),
    ]
