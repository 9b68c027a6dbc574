"""FAISS inner-product index over passage ids, saved atomically as ONE file with its manifest.

The manifest (revision, embedder, dimension, count) is the first line of the same file as the
vectors, so one `os.replace` publishes both: two processes saving at once can never pair one's
index with the other's manifest, and a crash mid-save leaves the previous file in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INDEX_FILE = "passages.index"
MAGIC = b"faq-chatbot index v1\n"
# Files of the earlier two-file layout (index + separate manifest), removed on the next save.
LEGACY_FILES = ("passages.faiss", "manifest.json")
# A temporary file older than this belongs to a save that crashed; a newer one may be another
# process's save in progress and is left alone.
STALE_TEMP_SECONDS = 3600


@dataclass(frozen=True)
class Manifest:
    """What an index on disk was built from: used to tell whether it is stale."""

    revision: int
    embedder: str
    dimension: int
    count: int


class VectorIndex:
    """Exact inner-product search (vectors are unit length, so scores are cosines).

    Exact search keeps results identical to brute force; at FAQ sizes it is fast enough.
    Not safe to mutate while another thread searches: callers copy, change the copy, and swap.
    """

    def __init__(self, dimension: int) -> None:
        import faiss

        self.dimension = dimension
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove these passage ids (unknown ids are ignored); returns how many were removed."""
        wanted = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(wanted) or not len(self):
            return 0
        return int(self._index.remove_ids(wanted))

    def ids(self) -> np.ndarray:
        """The passage ids in the index (in insertion order)."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def copy(self) -> VectorIndex:
        import faiss

        clone = VectorIndex.__new__(VectorIndex)
        clone.dimension = self.dimension
        clone._index = faiss.clone_index(self._index)
        return clone

    def vectors(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors of these passage ids (all must be in the index)."""
        wanted = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(wanted):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(wanted), dtype=np.float32)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        scores, ids = self._index.search(
            np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32), min(k, len(self))
        )
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
        # Equal scores (duplicate texts) come back in arbitrary order: the earlier passage wins.
        return sorted(found, key=lambda r: (-round(r[1], 6), r[0]))

    def save(self, folder: Path, manifest: Manifest) -> None:
        """Write manifest + vectors to a temporary file, fsync, and rename it into place."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        payload = faiss.serialize_index(self._index)
        header = json.dumps({**manifest.__dict__, "bytes": int(payload.nbytes)}).encode()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{INDEX_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC)
                f.write(header + b"\n")
                f.write(payload.data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the index is no secret
            os.replace(tmp, folder / INDEX_FILE)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _fsync_dir(folder)
        _clean_up(folder)

    @staticmethod
    def read_manifest(folder: Path) -> Manifest | None:
        """Only the manifest of the saved index (cheap), or None when missing or unreadable."""
        try:
            with open(folder / INDEX_FILE, "rb") as f:
                return _read_header(f)[0]
        except (OSError, ValueError, TypeError):
            return None

    @classmethod
    def load(cls, folder: Path) -> tuple[VectorIndex, Manifest] | None:
        """The saved index and its manifest, or None when missing, unreadable or inconsistent."""
        import faiss

        try:
            with open(folder / INDEX_FILE, "rb") as f:
                manifest, size = _read_header(f)
                payload = np.frombuffer(f.read(), dtype=np.uint8)
            if payload.nbytes != size:
                return None
            raw = faiss.deserialize_index(payload)
        except (OSError, ValueError, TypeError, RuntimeError):
            return None
        if not hasattr(raw, "id_map") or raw.id_map.size() != raw.ntotal:
            return None
        index = cls.__new__(cls)
        index.dimension = manifest.dimension
        index._index = raw
        if len(index) != manifest.count or raw.d != manifest.dimension:
            return None
        return index, manifest


def _read_header(f: Any) -> tuple[Manifest, int]:
    if f.readline(len(MAGIC) + 1) != MAGIC:
        raise ValueError("not an index file")
    fields = json.loads(f.readline(4096))
    if not isinstance(fields, dict):
        raise ValueError("manifest is not an object")
    size = fields.pop("bytes", None)
    if not isinstance(size, int):
        raise ValueError("bad size")
    return Manifest(**fields), size


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _clean_up(folder: Path) -> None:
    """Remove files of the old two-file layout and temporary files of crashed saves."""
    for name in LEGACY_FILES:
        with contextlib.suppress(OSError):
            (folder / name).unlink()
    cutoff = time.time() - STALE_TEMP_SECONDS
    for tmp in folder.glob(f".{INDEX_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
