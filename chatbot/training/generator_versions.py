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

import logging
from pathlib import Path
from typing import Any

from chatbot.training.versions import Version, VersionStore

log = logging.getLogger(__name__)

META_FILE = "training.json"
ADAPTER_CONFIG = "adapter_config.json"
# The held-out loss must fall by this share for a training to be adopted: smaller changes are
# within what a different seed or a few more steps move it.
MIN_GAIN = 0.02


def adapters_dir(data_dir: Path) -> Path:
    return data_dir / "models" / AdapterStore.kind


class Adapter(Version):
    """A trained adapter; its record is training.json (`manifest`)."""

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest

    @property
    def usable(self) -> bool:
        """Adopted, and its adapter files are still there."""
        return self.adopted and (self.folder / ADAPTER_CONFIG).is_file()


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


class AdapterStore(VersionStore):
    """The generator's adapters: the embedder's store, over DATA_DIR/models/generator."""

    kind = "generator"
    manifest_file = META_FILE
    version_type = Adapter
    noun = "generator version"
    base_noun = "base generator"

    def adapters(self) -> list[Adapter]:
        """`versions()`, typed as adapters (version_type makes every one an Adapter)."""
        return [a for a in self.versions() if isinstance(a, Adapter)]

    def active(self) -> Adapter | None:
        active = super().active()
        return active if isinstance(active, Adapter) else None


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
