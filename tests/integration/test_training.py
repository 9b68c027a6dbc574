"""Training the real packaged embedder (the small English one, joined with the multilingual
one as the product joins them) for a few steps on the sample FAQ, then serving from it; and
the `chatbot train` commands as a user runs them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from chatbot.cli.main import app
from chatbot.container import build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import FAST_EMBEDDER, Settings, TrainingSettings
from chatbot.training import job as job_module
from chatbot.training.data import read_passages
from chatbot.training.job import TRAINING, JobProgress, TrainingJob
from chatbot.training.versions import VersionStore
from knowledge_base.multilingual import LanguageRoutedEmbedder
from tests.conftest import SAMPLE_DATA

pytestmark = pytest.mark.integration

CHATBOT = Path(sys.executable).parent / "chatbot"
FEW_STEPS = TrainingSettings(epochs=1, batch_size=8, max_pairs=40)  # 5 steps


def settings_in(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir, load_sample_kb=False)
    settings.models.embedder = FAST_EMBEDDER
    return settings


def test_a_trained_embedder_is_served_with_its_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in(tmp_path / "data")
    services = build(settings, generator=ScriptedGenerator())
    services.kb.ingest_paths([SAMPLE_DATA / "shop_faq.csv"])
    # Whether a few steps measure better is up to chance: the gate has its own tests; here the
    # trained model is adopted to see it served.
    monkeypatch.setattr(job_module, "gate", lambda before, after: (True, "adopted for the test"))
    seen: list[JobProgress] = []
    job = TrainingJob(
        services.kb, services.sessions, settings, FEW_STEPS, services.dialogue.thresholds
    )
    result = job.run(seen.append)
    services.engine.dispose()

    steps = [p for p in seen if p.phase == TRAINING and p.step]
    assert [p.step for p in steps] == [1, 2, 3, 4, 5]
    assert all(p.total == 5 for p in steps)
    assert steps[-1].loss is not None and math.isfinite(steps[-1].loss)
    assert result.fit.trained_layers == "top 4 of 6"
    assert result.before.in_scope == result.after.in_scope >= 5
    assert result.before.out_of_scope >= 5
    version = VersionStore(settings.data_dir).get("v1")
    assert version.usable
    assert (version.model_dir / "model.safetensors").is_file()
    assert version.manifest["metrics"]["after"]["mcc"] == result.after.mcc

    served = build(settings, generator=ScriptedGenerator())
    try:
        embedder = served.kb.embedder
        assert isinstance(embedder, LanguageRoutedEmbedder)
        assert embedder.english.name == str(version.model_dir.resolve())
        assert served.dialogue.thresholds.preset == result.thresholds
        # The training rebuilt the index with the new model: nothing is stale at start.
        passages = read_passages(served.sessions, embedder.name)
        assert passages and all(p.vector is not None for p in passages)
        reply = served.dialogue.respond("How do I cancel my order?", channel="cli")
        "".join(reply)
        assert reply.decision == "answer"
        assert reply.sources[0].entry_id == "orders-cancel"
        assert embedder.english._model is not None  # the turn ran the trained model
    finally:
        served.engine.dispose()


def test_the_train_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run in this process (Typer's runner) on the real models; the console
    script is run once to show the command is there."""
    data_dir = tmp_path / "data"
    env = {
        "CHATBOT_DATA_DIR": str(data_dir),
        "CHATBOT_MODELS__EMBEDDER": FAST_EMBEDDER,
        # The English model alone (the test above trains it joined with the multilingual one).
        "CHATBOT_MODELS__MULTILINGUAL_EMBEDDER": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    services = build(Settings(load_sample_kb=False), generator=ScriptedGenerator())
    services.kb.ingest_paths([SAMPLE_DATA / "shop_faq.csv"])
    services.engine.dispose()
    script = subprocess.run(
        [str(CHATBOT), "train", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert script.returncode == 0, script.stderr
    assert f"Active: base ({FAST_EMBEDDER})" in script.stdout
    assert "No trained versions yet" in script.stdout

    runner = CliRunner()

    def chatbot(*args: str) -> Result:
        return runner.invoke(app, list(args))

    config = tmp_path / "train.toml"
    config.write_text("[training]\nbatch_size = 8\nmax_pairs = 40\nepochs = 3\n")
    trained = chatbot(
        "train", "retrieval", "--config", str(config), "--epochs", "1", "--no-progress"
    )
    assert trained.exit_code == 0, trained.output
    assert "1 epoch(s), batch 8" in trained.stderr
    assert "v1: trained" in trained.stdout
    assert "5 steps" in trained.stdout
    for row in ("before (model and threshold in use)", "after (trained, its threshold)"):
        assert row in trained.stdout
    adopted = "Adopted: v1 is active" in trained.stdout
    assert adopted or "Not adopted: " in trained.stdout

    status = chatbot("train", "status")
    assert status.exit_code == 0
    assert ("Active: v1" if adopted else "Active: base") in status.stdout
    assert "v1" in status.stdout and ("yes" if adopted else "no") in status.stdout

    rollback = chatbot("train", "rollback", "base")
    assert rollback.exit_code == 0, rollback.output
    assert "Active: base." in rollback.stdout
    assert "The search index was rebuilt" in rollback.stdout
    assert VersionStore(data_dir).active_name() == "base"
    again = chatbot("train", "rollback")
    assert again.exit_code == 1
    assert "the base model is already active" in again.stderr
    bad = chatbot("train", "rollback", "v7")
    assert bad.exit_code == 1
    assert "there is no version 'v7'" in bad.stderr
    wrong = chatbot("train", "retrieval", "--epochs", "0")
    assert wrong.exit_code == 2
    assert "epochs: Input should be greater than or equal to 1" in wrong.stderr
