"""Trained embedder versions in the data dir: numbering, manifests, the active pointer,
rollback, the lock, what the container loads, and the thresholds that come with a version."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.container import Services, build, build_embedder
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import FAST_EMBEDDER, Settings
from chatbot.training.versions import (
    BASE,
    TrainingBusy,
    VersionError,
    VersionStore,
    active_for,
    normalise_name,
)
from knowledge_base.calibration import LABELLED, Calibration
from knowledge_base.embedders import HashEmbedder
from knowledge_base.multilingual import LanguageRoutedEmbedder
from knowledge_base.threshold import ThresholdCalibrator

BASE_MODEL = FAST_EMBEDDER
THRESHOLDS = {"en": {"threshold": 0.61, "method": "kb-held-out", "in_scope": 30, "off_topic": 20}}


def add_version(store: VersionStore, adopted: bool, base: str = BASE_MODEL) -> str:
    """A version as a training leaves it: an adopted one keeps its model folder."""
    folder = store.new_folder()
    if adopted:
        (folder / "model").mkdir()
        (folder / "model" / "config.json").write_text("{}")
    manifest = {
        "version": folder.name,
        "created": "2026-12-01T10:00:00+00:00",
        "base_model": base,
        "adopted": adopted,
        "reason": "MCC 0.500 -> 0.700" if adopted else "MCC is not higher",
        "metrics": {"before": {"mcc": 0.5}, "after": {"mcc": 0.7 if adopted else 0.4}},
        "thresholds": THRESHOLDS,
    }
    store.write_manifest(folder, manifest)
    return folder.name


def test_versions_are_numbered_in_order_and_read_back(tmp_path: Path) -> None:
    store = VersionStore(tmp_path)
    assert store.versions() == []
    assert store.active_name() == BASE
    names = [add_version(store, True), add_version(store, False), add_version(store, True)]
    assert names == ["v1", "v2", "v3"]
    found = store.versions()
    assert [v.name for v in found] == names
    assert [v.usable for v in found] == [True, False, True]
    assert found[0].thresholds() == {"en": Calibration(0.61, "kb-held-out", 30, 20)}
    assert (tmp_path / "models" / "embedder" / "v2" / "manifest.json").is_file()
    # A folder a crashed training left without a manifest is skipped, its number not reused.
    (tmp_path / "models" / "embedder" / "v4").mkdir()
    assert [v.name for v in store.versions()] == names
    assert store.new_folder().name == "v5"


def test_rollback_goes_to_the_version_adopted_before_or_the_base(tmp_path: Path) -> None:
    store = VersionStore(tmp_path)
    add_version(store, True)
    add_version(store, False)
    add_version(store, True)
    with pytest.raises(VersionError, match="the base model is already active"):
        store.rollback_target(None)
    store.set_active("v3")
    assert store.active_name() == "v3"
    assert store.rollback_target(None) == "v1"  # v2 was not adopted
    store.set_active("1")
    assert store.rollback_target(None) == BASE
    assert store.rollback_target("base") == BASE
    assert store.rollback_target("3") == "v3"
    with pytest.raises(VersionError, match=r"version v2 cannot be used.*v1, v3, base"):
        store.rollback_target("v2")
    with pytest.raises(VersionError, match="there is no version 'v9'"):
        store.rollback_target("v9")
    with pytest.raises(VersionError, match="not a version"):
        normalise_name("latest")
    with pytest.raises(VersionError, match="was not adopted"):
        store.set_active("v2")


def test_a_version_whose_model_is_gone_or_of_another_base_is_not_loaded(tmp_path: Path) -> None:
    store = VersionStore(tmp_path)
    add_version(store, True)
    add_version(store, True, base="package:another_model")
    store.set_active("v1")
    assert active_for(tmp_path, BASE_MODEL) is not None
    assert active_for(tmp_path, "split-package:all-mpnet-base-v2") is None
    store.set_active("v2")
    assert active_for(tmp_path, BASE_MODEL) is None
    store.set_active("v1")
    store.discard_model(tmp_path / "models" / "embedder" / "v1")
    assert store.active() is None
    assert active_for(tmp_path, BASE_MODEL) is None


def test_one_training_at_a_time(tmp_path: Path) -> None:
    store = VersionStore(tmp_path)
    assert not store.busy()
    with store.lock():
        assert store.busy()
        with (
            pytest.raises(TrainingBusy, match="another training or rollback is running"),
            VersionStore(tmp_path).lock(),
        ):
            pass
    assert not store.busy()


def test_the_container_loads_the_active_version_with_its_thresholds(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", load_sample_kb=False)
    settings.models.embedder = BASE_MODEL
    store = VersionStore(settings.data_dir)
    add_version(store, True)
    model = (settings.data_dir / "models" / "embedder" / "v1" / "model").resolve()

    plain = build_embedder(settings)  # nothing is loaded until it is used
    assert isinstance(plain, LanguageRoutedEmbedder)
    assert plain.english.name == BASE_MODEL

    store.set_active("v1")
    trained = build_embedder(settings)
    assert isinstance(trained, LanguageRoutedEmbedder)
    assert trained.english.name == str(model)
    services = build(settings, generator=ScriptedGenerator())
    try:
        assert services.kb.embedder.name == trained.name
        assert services.dialogue.thresholds.preset == {
            "en": Calibration(0.61, "kb-held-out", 30, 20)
        }
    finally:
        services.engine.dispose()

    store.set_active(BASE)
    assert build_embedder(settings).name == plain.name


FAQ = b"""id,question,answer
returns,How do I return an item?,Start a return from the Order History page.
returns,Can I send something back?,Start a return from the Order History page.
returns,Is there a way to get a refund?,Start a return from the Order History page.
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.
shipping,When will my parcel arrive?,Standard shipping takes 3-5 business days.
password,How do I reset my password?,Click Forgot Password on the sign-in page.
"""


class Renamed(HashEmbedder):
    """The same vectors under another model's name."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def test_a_preset_threshold_is_used_unless_staff_calibrated_from_labels(
    services: Services,
) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ)
    preset = {"en": Calibration(0.77, "kb-held-out", 10, 10)}
    calibrator = ThresholdCalibrator(kb, services.sessions, preset)
    assert calibrator.current("en") == preset["en"]
    rows = [("How do I return an item?", "returns"), ("What is the weather?", "")] * 10
    labelled = calibrator.calibrate_labelled(rows)["en"]
    assert labelled.method == LABELLED
    assert calibrator.current("en") == labelled


def test_calibrations_of_another_embedder_are_not_reused(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ)
    first = ThresholdCalibrator(kb, services.sessions)
    rows = [("How do I return an item?", "returns"), ("What is the weather?", "")] * 10
    assert first.calibrate_labelled(rows)["en"].method == LABELLED
    # The same knowledge base, now searched with another model (a trained one, or after a
    # rollback): the labelled threshold was the other model's and is not used.
    kb.embedder = Renamed("hash-trained")
    kb.reindex()
    other = ThresholdCalibrator(kb, services.sessions)
    assert other.current("en").method != LABELLED
    kb.embedder = HashEmbedder()
    kb.reindex()
    again = ThresholdCalibrator(kb, services.sessions)
    # What the other model stored replaced it; the first model calibrates afresh.
    assert again.current("en").method != LABELLED
