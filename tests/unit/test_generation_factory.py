"""Backend choice from settings, each backend's default model, and commands that must not
load torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.container import build
from chatbot.generation.factory import build_generator
from chatbot.generation.llamacpp_backend import LlamaCppGenerator, gguf_file
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.generation.transformers_backend import TransformersGenerator
from chatbot.settings import LLAMACPP_GENERATOR, TRANSFORMERS_GENERATOR, ModelSettings, Settings
from knowledge_base.embedders import HashEmbedder

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_each_backend_has_its_own_default_model() -> None:
    assert Settings().models.generator_backend == "llamacpp"
    assert Settings().models.generator == LLAMACPP_GENERATOR
    assert ModelSettings(generator_backend="transformers").generator == TRANSFORMERS_GENERATOR


def test_the_environment_picks_the_backend_and_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATBOT_MODELS__GENERATOR_BACKEND", "transformers")
    assert Settings().models.generator == TRANSFORMERS_GENERATOR
    monkeypatch.setenv("CHATBOT_MODELS__GENERATOR", "/models/mine.gguf")
    monkeypatch.setenv("CHATBOT_MODELS__GENERATOR_THREADS", "2")
    monkeypatch.setenv("CHATBOT_MODELS__GENERATOR_CONTEXT_TOKENS", "4096")
    models = Settings().models
    assert (models.generator_backend, models.generator) == ("transformers", "/models/mine.gguf")
    assert (models.generator_threads, models.generator_context_tokens) == (2, 4096)


def test_the_factory_builds_the_named_backend_without_loading_it(tmp_path: Path) -> None:
    def settings(backend: str) -> Settings:
        return Settings(data_dir=tmp_path, models={"generator_backend": backend})

    llama = build_generator(settings("llamacpp"))
    assert isinstance(llama, LlamaCppGenerator)
    assert llama.name == LLAMACPP_GENERATOR and llama.context_tokens() == 2048
    transformers = build_generator(settings("transformers"))
    assert isinstance(transformers, TransformersGenerator)
    assert transformers.name == TRANSFORMERS_GENERATOR
    assert isinstance(build_generator(settings("scripted")), ScriptedGenerator)


def test_the_llamacpp_backend_finds_the_gguf_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    assert gguf_file(str(tmp_path)) == tmp_path / "model.gguf"
    assert gguf_file(str(tmp_path / "model.gguf")) == tmp_path / "model.gguf"
    (tmp_path / "model.gguf").unlink()
    with pytest.raises(RuntimeError, match=r"no \.gguf file"):
        gguf_file(str(tmp_path))
    with pytest.raises(RuntimeError, match="generator_backend=transformers"):
        gguf_file("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_kb_list_does_not_import_torch_or_llama_cpp(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    faq = tmp_path / "store.csv"
    faq.write_text("question,answer\nWhen are you open?,9 to 5 on weekdays.\n", encoding="utf-8")
    settings = Settings(data_dir=data_dir, load_sample_kb=False)
    services = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    assert [r.status for r in services.kb.ingest_paths([faq])] == ["added"]
    services.engine.dispose()

    script = (
        "import sys\n"
        "from chatbot.cli.main import app\n"
        "try:\n"
        "    app(['kb', 'list'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted({'torch', 'xllamacpp', 'sentence_transformers'} & set(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env["CHATBOT_DATA_DIR"] = str(data_dir)
    # The suite's database (SQLite in the data dir, or the PostgreSQL pass's own database).
    env["CHATBOT_DATABASE_URL"] = settings.db_url
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "store.csv" in result.stdout
    assert result.stdout.strip().endswith("[]"), result.stdout
