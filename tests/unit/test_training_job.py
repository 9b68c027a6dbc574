"""The training job end to end on a real database with the hash embedder, the fine-tuning
itself replaced by a double: cancel, adopt, not adopt; and the real trainer's callback and
batch sampler."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from chatbot.container import Services
from chatbot.settings import TrainingSettings
from chatbot.training import job as job_module
from chatbot.training.data import read_passages
from chatbot.training.finetune import FitStats, StepProgress, TrainingCancelled, _Progress
from chatbot.training.job import TRAINING, JobProgress, TrainingJob
from chatbot.training.versions import BASE, VersionStore
from knowledge_base.embedders import HashEmbedder

TOPICS = ["returns", "shipping", "password", "giftcards", "warranty", "stores", "orders", "pay"]


def faq_csv() -> bytes:
    rows = ["id,question,answer"]
    for topic in TOPICS:
        for n, opening in enumerate(["How do I", "Can I", "Where do I", "When can I", "Why"]):
            rows.append(f"{topic},{opening} ask about {topic} number {n}?,All about {topic}.")
    return ("\n".join(rows) + "\n").encode()


class Renamed(HashEmbedder):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


STEPS = 5


def fake_fine_tune(
    base: str,
    pairs: list,  # type: ignore[type-arg]
    config: TrainingSettings,
    out_dir: Path,
    on_step=None,  # type: ignore[no-untyped-def]
    cancelled: threading.Event | None = None,
) -> FitStats:
    """Writes a model folder and reports steps; stops between steps once cancelled."""
    assert pairs
    for step in range(1, STEPS + 1):
        if cancelled is not None and cancelled.is_set():
            raise TrainingCancelled("cancelled")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")
        on_step(StepProgress(step, STEPS, 1.0 / step, float(STEPS - step)))
    return FitStats(STEPS, 0.1, 0.2, "all")


@pytest.fixture
def shop(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    services.settings.models.embedder = "a-local-base-model"
    services.kb.ingest_bytes("faq.csv", faq_csv())
    monkeypatch.setattr(job_module, "fine_tune", fake_fine_tune)
    monkeypatch.setattr(job_module, "trained_model", lambda folder, cache: Renamed("hash-trained"))
    return services


def new_job(services: Services) -> TrainingJob:
    cfg = TrainingSettings(max_pairs=200)
    return TrainingJob(
        services.kb, services.sessions, services.settings, cfg, services.dialogue.thresholds
    )


def test_a_cancelled_training_stops_between_steps_and_keeps_nothing(shop: Services) -> None:
    job = new_job(shop)
    seen: list[JobProgress] = []

    def listen(p: JobProgress) -> None:
        seen.append(p)
        if p.phase == TRAINING and p.step == 2:
            job.cancel()

    job.start(listen)
    with pytest.raises(TrainingCancelled):
        while job.wait(0.1) is None:
            pass
    steps = [p.step for p in seen if p.phase == TRAINING]
    assert steps == [1, 2]  # no step after the cancel
    store = VersionStore(shop.settings.data_dir)
    assert store.versions() == []
    assert not list(store.root.glob("v*"))
    assert store.active_name() == BASE
    assert not store.busy()
    assert shop.kb.embedder.name == HashEmbedder().name


def test_an_adopted_model_becomes_active_with_its_index(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "gate", lambda before, after: (True, "better"))
    result = new_job(shop).run()
    assert result.adopted
    store = VersionStore(shop.settings.data_dir)
    assert store.active_name() == "v1"
    manifest = store.get("v1").manifest
    assert manifest["adopted"] is True
    assert manifest["base_model"] == "a-local-base-model"
    assert manifest["config"]["max_pairs"] == 200
    assert set(manifest["metrics"]) == {"before", "before_recalibrated", "after"}
    assert manifest["data"]["held_out_entries"] == 2
    assert manifest["data"]["held_out_out_of_scope"] == 10
    assert manifest["data"]["held_out_in_scope"] == 6
    assert manifest["thresholds"].keys() == result.thresholds.keys()
    # The knowledge base now searches with the trained model, its vectors stored and indexed.
    assert shop.kb.embedder.name == "hash-trained"
    passages = read_passages(shop.sessions, "hash-trained")
    assert result.reindexed == len(passages) == len(TOPICS) * 6
    assert all(p.vector is not None for p in passages)
    assert shop.kb.search("How do I ask about returns number 0?")[0].entry_id == "returns"


def test_a_model_that_is_not_better_is_not_adopted(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "gate", lambda before, after: (False, "MCC is not higher"))
    result = new_job(shop).run()
    assert not result.adopted
    store = VersionStore(shop.settings.data_dir)
    (version,) = store.versions()
    assert version.manifest["adopted"] is False
    assert version.manifest["reason"] == "MCC is not higher"
    assert not version.model_dir.exists()
    assert store.active_name() == BASE
    assert shop.kb.embedder.name == HashEmbedder().name
    assert result.before.in_scope == result.after.in_scope == 6


def test_the_trainer_callback_stops_training_once_cancelled() -> None:
    cancelled = threading.Event()
    seen: list[StepProgress] = []
    hooks = _Progress(seen.append, cancelled)
    state = SimpleNamespace(global_step=0, max_steps=4)
    control = SimpleNamespace(should_training_stop=False)
    hooks.on_train_begin(None, state, control)
    state.global_step = 1
    hooks.on_log(None, state, control, logs={"loss": 0.5})
    hooks.on_step_end(None, state, control)
    assert not control.should_training_stop
    assert seen[-1].step == 1 and seen[-1].total == 4 and seen[-1].loss == 0.5
    assert seen[-1].seconds_left is not None
    cancelled.set()
    state.global_step = 2
    hooks.on_step_end(None, state, control)
    assert control.should_training_stop


def test_no_batch_holds_two_pairs_of_one_entry() -> None:
    from datasets import Dataset

    from chatbot.training.sampler import LABEL, OneEntryPerBatchSampler

    labels = [0] * 10 + [1] * 7 + [2] * 3 + [3] * 1
    dataset = Dataset.from_dict({"anchor": [str(i) for i in range(21)], LABEL: labels})
    sampler = OneEntryPerBatchSampler(dataset, batch_size=3, drop_last=False, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert 2 <= len(batch) <= 3
        assert len({labels[i] for i in batch}) == len(batch)
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used))
    sampler.set_epoch(1)
    assert list(sampler) != batches  # another order each epoch
