"""Trained embedder versions, kept in the data dir:

    DATA_DIR/models/embedder/
        active              "v3", or "base" (no file: base): the version the app loads
        v1/manifest.json    when, from which model, the training settings, figures before and
        v1/model/           after, adopted or not and why, the thresholds; the model itself
        v2/manifest.json    (a version that was not adopted keeps its manifest only)
    DATA_DIR/training.lock  held while a training or a rollback runs

Reading the active version (`active_version`) needs no model and no database: the container
calls it on every start. Version numbers are never reused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge_base.calibration import Calibration

log = logging.getLogger(__name__)

BASE = "base"
ACTIVE_FILE = "active"
MANIFEST = "manifest.json"
MODEL_DIR = "model"
LOCK_FILE = "training.lock"
_VERSION = re.compile(r"v(\d+)")


class VersionError(ValueError):
    """A version that does not exist or cannot be used; the message says which exist."""


class TrainingBusy(RuntimeError):
    """Another training or rollback holds the lock."""


@dataclass(frozen=True)
class Version:
    name: str  # "v3"
    folder: Path
    manifest: dict[str, Any]

    @property
    def number(self) -> int:
        return int(self.name[1:])

    @property
    def adopted(self) -> bool:
        return bool(self.manifest.get("adopted"))

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    @property
    def usable(self) -> bool:
        """Adopted, and its model is still there."""
        return self.adopted and (self.model_dir / "config.json").is_file()

    @property
    def base_model(self) -> str:
        return str(self.manifest.get("base_model", ""))

    def thresholds(self) -> dict[str, Calibration]:
        return {
            key: Calibration(
                float(v["threshold"]),
                str(v["method"]),
                int(v.get("in_scope", 0)),
                int(v.get("off_topic", 0)),
            )
            for key, v in (self.manifest.get("thresholds") or {}).items()
        }


class VersionStore:
    """The embedder's versions; a subclass names another kind's folder, record file, version
    type and wording (chatbot.training.generator_versions)."""

    kind = "embedder"  # the folder under DATA_DIR/models
    manifest_file = MANIFEST
    version_type: type[Version] = Version
    noun = "version"  # how messages name one
    base_noun = "base model"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "models" / self.kind

    # ---- reading ------------------------------------------------------------------------
    def versions(self) -> list[Version]:
        """Every version with a readable manifest, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if not (folder.is_dir() and _VERSION.fullmatch(folder.name)):
                continue
            try:
                manifest = json.loads((folder / self.manifest_file).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a training that crashed before writing it
            found.append(self.version_type(folder.name, folder, manifest))
        return sorted(found, key=lambda v: v.number)

    def get(self, name: str) -> Version:
        wanted = normalise_name(name)
        for version in self.versions():
            if version.name == wanted:
                return version
        raise VersionError(f"there is no {self.noun} {name!r}; {self.choices()}")

    def active_name(self) -> str:
        try:
            name = (self.root / ACTIVE_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return BASE
        return name or BASE

    def active(self) -> Version | None:
        """The active trained version, or None for the packaged base model (also when the
        pointer names a version whose model is gone: logged)."""
        name = self.active_name()
        if name == BASE:
            return None
        try:
            version = self.get(name)
        except VersionError:
            version = None
        if version is None or not version.usable:
            log.warning("trained %s %s is missing; using the %s", self.kind, name, self.base_noun)
            return None
        return version

    def choices(self) -> str:
        usable = [v.name for v in self.versions() if v.usable]
        return f"{self.noun}s that can be used: " + ", ".join([*usable, BASE])

    # ---- writing (with the lock held) ---------------------------------------------------
    def new_folder(self) -> Path:
        """A folder for the next version number (never one used before)."""
        self.root.mkdir(parents=True, exist_ok=True)
        numbers = [
            int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION.fullmatch(p.name))
        ]
        folder = self.root / f"v{max(numbers, default=0) + 1}"
        folder.mkdir()
        return folder

    def write_manifest(self, folder: Path, manifest: dict[str, Any]) -> Version:
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        _write_atomic(folder / self.manifest_file, text)
        return self.version_type(folder.name, folder, manifest)

    def discard_model(self, folder: Path) -> None:
        shutil.rmtree(folder / MODEL_DIR, ignore_errors=True)

    def set_active(self, name: str) -> None:
        name = normalise_name(name)
        if name != BASE and not self.get(name).usable:
            raise VersionError(f"{self.noun} {name} was not adopted; {self.choices()}")
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.root / ACTIVE_FILE, name + "\n")

    def rollback_target(self, name: str | None) -> str:
        """`name` checked, or without one the version adopted before the active one (else
        the base model)."""
        if name is not None:
            wanted = normalise_name(name)
            if wanted == BASE:
                return BASE
            version = self.get(wanted)
            if not version.usable:
                raise VersionError(
                    f"{self.noun} {version.name} cannot be used (not adopted, or its files "
                    f"were removed); {self.choices()}"
                )
            return version.name
        current = self.active_name()
        if current == BASE:
            raise VersionError(f"the {self.base_noun} is already active; {self.choices()}")
        number = int(current[1:]) if _VERSION.fullmatch(current) else 0
        older = [v for v in self.versions() if v.usable and v.number < number]
        return older[-1].name if older else BASE

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One training or rollback at a time in this data dir (any process)."""
        from filelock import FileLock, Timeout

        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / LOCK_FILE
        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise TrainingBusy(
                f"another training or rollback is running in {self.data_dir} (it holds "
                f"{path}); wait for it to finish, or cancel it"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def busy(self) -> bool:
        """Whether a training or rollback holds the lock now."""
        try:
            with self.lock():
                return False
        except TrainingBusy:
            return True


def active_for(data_dir: Path, base_model: str) -> Version | None:
    """The active trained version of `base_model` in `data_dir`, or None (the base model
    itself); a version trained from another base model than the configured one is not used."""
    version = VersionStore(data_dir).active()
    if version is not None and version.base_model != base_model:
        log.warning(
            "trained embedder %s was trained from %s, not the configured %s; using %s",
            version.name,
            version.base_model,
            base_model,
            base_model,
        )
        return None
    return version


def normalise_name(name: str) -> str:
    """ "3" and "v3" name version v3; "base" the packaged model."""
    name = name.strip().lower()
    if name == BASE:
        return BASE
    if name.isdigit():
        name = f"v{int(name)}"
    if not _VERSION.fullmatch(name):
        raise VersionError(f"{name!r} is not a version: give one like v3 (or 3), or {BASE}")
    return name


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
