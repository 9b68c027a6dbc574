"""Trained generator adapters, kept in the data dir next to the embedder's versions:

    DATA_DIR/models/generator/
        active              "v2", or "base" (no file: base): the adapter the app serves
        v1/training.json    base model, steps, held-out loss before and after, adopted or not
        v1/adapter_*        the LoRA adapter (kept also when not adopted: staff may still try
                            it with CHATBOT_MODELS__GENERATOR_ADAPTER)

A training is adopted only when it lowered the loss on the held-out entries' answers by at
least MIN_GAIN (chatbot.training.generator decides, this module records). Reading the active
adapter needs no model: the generator factory calls it on every start. The pointer and
version names follow chatbot.training.versions ("v3", "3", "base").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.training.versions import (
    _VERSION,
    ACTIVE_FILE,
    BASE,
    VersionError,
    _write_atomic,
    normalise_name,
)

log = logging.getLogger(__name__)

META_FILE = "training.json"
ADAPTER_CONFIG = "adapter_config.json"
# The held-out loss must fall by this share for a training to be adopted: smaller changes are
# within what a different seed or a few more steps move it.
MIN_GAIN = 0.02


def adapters_dir(data_dir: Path) -> Path:
    return data_dir / "models" / "generator"


@dataclass(frozen=True)
class Adapter:
    name: str  # "v2"
    folder: Path
    meta: dict[str, Any]

    @property
    def number(self) -> int:
        return int(self.name[1:])

    @property
    def adopted(self) -> bool:
        return bool(self.meta.get("adopted"))

    @property
    def usable(self) -> bool:
        """Adopted, and its adapter files are still there."""
        return self.adopted and (self.folder / ADAPTER_CONFIG).is_file()

    @property
    def base_model(self) -> str:
        return str(self.meta.get("base_model", ""))


def adoption(before: float | None, after: float | None) -> tuple[bool, str]:
    """Whether a training with these held-out losses is adopted, and why (or why not)."""
    if before is None or after is None:
        return False, "there were no held-out examples to measure it on"
    if after <= before * (1 - MIN_GAIN):
        return True, f"the held-out loss fell from {before:.3f} to {after:.3f}"
    return False, (
        f"the held-out loss went from {before:.3f} to {after:.3f}, not at least "
        f"{MIN_GAIN:.0%} lower"
    )


class AdapterStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = adapters_dir(data_dir)

    def versions(self) -> list[Adapter]:
        """Every adapter with a readable training.json, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if not (folder.is_dir() and _VERSION.fullmatch(folder.name)):
                continue
            try:
                meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.append(Adapter(folder.name, folder, meta))
        return sorted(found, key=lambda a: a.number)

    def get(self, name: str) -> Adapter:
        wanted = normalise_name(name)
        for adapter in self.versions():
            if adapter.name == wanted:
                return adapter
        raise VersionError(f"there is no generator version {name!r}; {self.choices()}")

    def choices(self) -> str:
        usable = [a.name for a in self.versions() if a.usable]
        return "generator versions that can be used: " + ", ".join([*usable, BASE])

    def active_name(self) -> str:
        try:
            name = (self.root / ACTIVE_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return BASE
        return name or BASE

    def active(self) -> Adapter | None:
        """The active adapter, or None for the base model (also when the pointer names an
        adapter whose files are gone: logged)."""
        name = self.active_name()
        if name == BASE:
            return None
        try:
            adapter = self.get(name)
        except VersionError:
            adapter = None
        if adapter is None or not adapter.usable:
            log.warning("trained generator adapter %s is missing; using the base model", name)
            return None
        return adapter

    def set_active(self, name: str) -> None:
        name = normalise_name(name)
        if name != BASE and not self.get(name).usable:
            raise VersionError(f"generator version {name} was not adopted; {self.choices()}")
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.root / ACTIVE_FILE, name + "\n")

    def rollback_target(self, name: str | None) -> str:
        """`name` checked, or without one the adapter adopted before the active one (else the
        base model)."""
        if name is not None:
            wanted = normalise_name(name)
            if wanted != BASE and not self.get(wanted).usable:
                raise VersionError(
                    f"generator version {wanted} cannot be used (not adopted, or its files "
                    f"were removed); {self.choices()}"
                )
            return wanted
        current = self.active_name()
        if current == BASE:
            raise VersionError(f"the base generator is already active; {self.choices()}")
        number = int(current[1:]) if _VERSION.fullmatch(current) else 0
        older = [a for a in self.versions() if a.usable and a.number < number]
        return older[-1].name if older else BASE


def active_adapter(data_dir: Path, base_model: str) -> Path | None:
    """The folder of the active adapter trained from `base_model`, or None; an adapter
    trained from another model than the configured generator is not used (logged)."""
    adapter = AdapterStore(data_dir).active()
    if adapter is None:
        return None
    if adapter.base_model != base_model:
        log.warning(
            "trained generator adapter %s was trained from %s, not the configured %s; "
            "serving %s without it",
            adapter.name,
            adapter.base_model,
            base_model,
            base_model,
        )
        return None
    return adapter.folder
