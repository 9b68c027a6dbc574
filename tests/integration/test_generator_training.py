"""Training a LoRA adapter on the packaged small generator (SmolLM2-135M) for a few steps on a
tiny knowledge base, then serving it with the transformers backend; cancelling a training;
and the llama.cpp backend taking an adapter."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot.cli.main import app
from chatbot.container import build
from chatbot.generation.factory import build_generator
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.generation.transformers_backend import TransformersGenerator
from chatbot.settings import TRANSFORMERS_GENERATOR, Settings, TrainingSettings
from chatbot.training.data import TrainingDataError
from chatbot.training.finetune import StepProgress, TrainingCancelled
from chatbot.training.generator import (
    META_FILE,
    _max_steps,
    adapters_dir,
    train_generator_lora,
)
from chatbot.training.generator_data import GeneratorData, build_examples, read_entries
from knowledge_base.embedders import HashEmbedder

pytestmark = pytest.mark.integration

TINY_FAQ = (
    b"id,question,answer\n"
    b"ship,How long does delivery take?,Delivery takes 2-4 business days.\n"
    b"ship,When will my parcel arrive?,Delivery takes 2-4 business days.\n"
    b"pay,Can I pay by cheque?,No. We accept Visa and PayPal.\n"
    b"wrap,Do you gift wrap?,Yes. Gift wrapping costs $2.\n"
    b"open,When are you open?,We are open 9 to 5 on weekdays.\n"
)
# The product's prompt (rules and worked examples) alone is about 530 tokens.
FEW_STEPS = TrainingSettings(
    generator_max_steps=2, generator_batch_size=1, generator_max_length=640, holdout_entries=0.25
)


def settings_in(data_dir: Path, models_dir: Path, adapter: str = "") -> Settings:
    return Settings(
        data_dir=data_dir,
        load_sample_kb=False,
        models={
            "generator_backend": "transformers",
            "cache_dir": models_dir,
            "generator_adapter": adapter,
        },
    )


def tiny_examples(settings: Settings) -> GeneratorData:
    services = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    try:
        services.kb.ingest_bytes("faq.csv", TINY_FAQ)
        return build_examples(read_entries(services.sessions), 0.25, seed=0)
    finally:
        services.engine.dispose()


def test_a_trained_adapter_is_saved_and_served(tmp_path: Path, models_dir: Path) -> None:
    settings = settings_in(tmp_path / "data", models_dir)
    examples = tiny_examples(settings)
    assert len(examples.eval_entries) == 1 and len(examples.train) >= 3
    seen: list[StepProgress] = []
    result = train_generator_lora(settings, examples, FEW_STEPS, on_step=seen.append)

    assert [p.step for p in seen if p.step] == [1, 2]
    assert all(p.total == 2 for p in seen)
    assert result.steps == 2 and result.base_model == TRANSFORMERS_GENERATOR
    assert result.final_loss is not None and math.isfinite(result.final_loss)
    assert result.eval_loss_before is not None and math.isfinite(result.eval_loss_before)
    assert result.eval_loss_after is not None and math.isfinite(result.eval_loss_after)
    assert result.folder == adapters_dir(settings.data_dir) / "v1"
    assert (result.folder / "adapter_config.json").is_file()
    assert (result.folder / "adapter_model.safetensors").is_file()
    meta = json.loads((result.folder / META_FILE).read_text())
    assert meta["base_model"] == TRANSFORMERS_GENERATOR and meta["steps"] == 2
    assert meta["eval_entries"] == list(examples.eval_entries)
    print(f"{result.seconds_per_step:.1f} s a training step")

    served = build_generator(settings_in(tmp_path / "data", models_dir, str(result.folder)))
    assert isinstance(served, TransformersGenerator) and served.adapter == str(result.folder)
    answer = "".join(served.stream(examples.train[0].prompt, 12))
    assert answer.strip()
    # Merged: the served model has no adapter layers left.
    assert not [n for n, _ in served._model.named_parameters() if "lora" in n]


def test_a_cancelled_training_stops_early_and_keeps_nothing(
    tmp_path: Path, models_dir: Path
) -> None:
    settings = settings_in(tmp_path / "data", models_dir)
    examples = tiny_examples(settings)
    cancelled = threading.Event()
    seen: list[StepProgress] = []

    def on_step(p: StepProgress) -> None:
        seen.append(p)
        if p.step >= 1:
            cancelled.set()

    config = FEW_STEPS.model_copy(update={"generator_max_steps": 0})  # the whole epoch
    with pytest.raises(TrainingCancelled):
        train_generator_lora(
            settings, examples, config, on_step=on_step, cancelled=cancelled, evaluate=False
        )
    assert [p.step for p in seen if p.step] == [1]
    assert seen[-1].total == len(examples.train) > 1  # one example a step
    assert not list(adapters_dir(settings.data_dir).glob("v*"))


def test_examples_longer_than_the_max_length_are_refused_with_what_to_set(
    tmp_path: Path, models_dir: Path
) -> None:
    settings = settings_in(tmp_path / "data", models_dir)
    config = FEW_STEPS.model_copy(update={"generator_max_length": 128})
    # (The shortest: the product's prompt alone is about 530 tokens.)
    with pytest.raises(
        TrainingDataError, match=r"the shortest is 5\d\d\): raise it \(CHATBOT_TRAINING__"
    ):
        train_generator_lora(settings, tiny_examples(settings), config, evaluate=False)
    assert not list(adapters_dir(settings.data_dir).glob("v*"))


def test_the_command_prints_the_adapter_and_the_settings_to_serve_it(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    tiny_examples(settings_in(data_dir, models_dir))
    for name, value in {
        "CHATBOT_DATA_DIR": str(data_dir),
        "CHATBOT_MODELS__CACHE_DIR": str(models_dir),
        "CHATBOT_LOAD_SAMPLE_KB": "false",
        # The smallest model: an adapter is trained on the configured generator.
        "CHATBOT_MODELS__GENERATOR_BACKEND": "transformers",
        "CHATBOT_MODELS__GENERATOR": TRANSFORMERS_GENERATOR,
        "CHATBOT_TRAINING__GENERATOR_BATCH_SIZE": "1",
        "CHATBOT_TRAINING__GENERATOR_MAX_LENGTH": "640",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["train", "generator", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    folder = (data_dir / "models" / "generator" / "v1").resolve()
    assert "step 1/1, loss " in result.stderr
    assert f"Adapter: {folder}" in result.stdout
    assert "CHATBOT_MODELS__GENERATOR_BACKEND=transformers\n" in result.stdout
    assert f"CHATBOT_MODELS__GENERATOR={TRANSFORMERS_GENERATOR}\n" in result.stdout
    assert f"CHATBOT_MODELS__GENERATOR_ADAPTER={folder}\n" in result.stdout


def test_the_step_cap_never_adds_epochs() -> None:
    cfg = TrainingSettings(generator_batch_size=4, generator_epochs=2)
    assert _max_steps(10, cfg) == -1  # no cap: the epochs decide (3 steps each)
    assert _max_steps(10, cfg.model_copy(update={"generator_max_steps": 5})) == 5
    assert _max_steps(10, cfg.model_copy(update={"generator_max_steps": 50})) == 6


def test_the_llamacpp_backend_takes_an_adapter_and_says_when_it_is_not_one(
    tmp_path: Path,
) -> None:
    from chatbot.generation.llamacpp_backend import LlamaCppGenerator

    settings = Settings(
        data_dir=tmp_path,
        models={
            "generator_backend": "llamacpp",
            "generator": TRANSFORMERS_GENERATOR,
            "generator_adapter": str(tmp_path / "v1"),
        },
    )
    served = build_generator(settings)
    assert isinstance(served, LlamaCppGenerator) and served.adapter == str(tmp_path / "v1")
    # (Converted to a GGUF LoRA as the model loads: tests/integration/test_gguf_lora.py.)
    with pytest.raises(RuntimeError, match="neither a GGUF LoRA file nor a folder holding"):
        served.warm_up()
