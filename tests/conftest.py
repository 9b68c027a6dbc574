"""Shared fixtures. Nothing here downloads: the hub is switched off before any import."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.container import Services, build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import RetrievalSettings, Settings
from knowledge_base.embedders import HashEmbedder

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SAMPLE_DATA = REPO_ROOT / "chatbot" / "sample_data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test gets its own data dir; no CHATBOT_* variable from the shell leaks in."""
    for key in list(os.environ):
        if key.startswith("CHATBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A fixed threshold keeps dialogue tests independent of calibration (tested on its own).
    return Settings(
        data_dir=tmp_path / "data",
        load_sample_kb=False,
        retrieval=RetrievalSettings(min_score=0.5),
    )


@pytest.fixture
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture
def services(settings: Settings, generator: ScriptedGenerator) -> Iterator[Services]:
    """Real SQLite database and FAISS index; hash embedder and scripted generator."""
    svc = build(settings, embedder=HashEmbedder(), generator=generator)
    yield svc
    svc.engine.dispose()
