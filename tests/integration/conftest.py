"""Real packaged models, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.container import Services, build, build_embedder
from chatbot.settings import TRANSFORMERS_GENERATOR, Settings
from knowledge_base.embedders import Embedder
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted generator for the whole run (the GGUF conversion takes about a minute)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The product's embedder: the English one joined with the multilingual one."""
    embedder = build_embedder(Settings())
    getattr(embedder, "warm_up", lambda: None)()
    return embedder


@pytest.fixture(scope="session")
def real_generator(models_dir: Path):  # type: ignore[no-untyped-def]
    from chatbot.generation.transformers_backend import TransformersGenerator

    generator = TransformersGenerator(TRANSFORMERS_GENERATOR, models_dir)
    generator.warm_up()
    return generator


@pytest.fixture(scope="session")
def covid_services(
    tmp_path_factory: pytest.TempPathFactory,
    real_embedder: Embedder,
    real_generator,  # type: ignore[no-untyped-def]
) -> Iterator[Services]:
    """The COVID FAQ in a real SQLite database with the real models."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("covid"), load_sample_kb=False)
    services = build(settings, embedder=real_embedder, generator=real_generator)
    results = services.kb.ingest_paths([SHARED_DATA / "covid_faq" / "faq.csv"])
    assert [r.status for r in results] == ["added"]
    yield services
    services.engine.dispose()
