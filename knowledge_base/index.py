"""FAISS inner-product index over passage ids, saved atomically beside a small manifest."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INDEX_FILE = "passages.faiss"
MANIFEST_FILE = "manifest.json"


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
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )

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
        """Write to temporary files and rename, so a crash never leaves a half-written index."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        for name, writer in (
            (INDEX_FILE, lambda p: faiss.write_index(self._index, p)),
            (MANIFEST_FILE, lambda p: Path(p).write_text(json.dumps(manifest.__dict__))),
        ):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
            os.close(fd)
            try:
                writer(tmp)
                os.replace(tmp, folder / name)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

    @classmethod
    def load(cls, folder: Path) -> tuple[VectorIndex, Manifest] | None:
        """The saved index and its manifest, or None when missing or unreadable."""
        import faiss

        try:
            manifest = Manifest(**json.loads((folder / MANIFEST_FILE).read_text()))
            raw = faiss.read_index(str(folder / INDEX_FILE))
        except (OSError, ValueError, TypeError, RuntimeError):
            return None
        index = cls.__new__(cls)
        index.dimension = manifest.dimension
        index._index = raw
        if len(index) != manifest.count or raw.d != manifest.dimension:
            return None
        return index, manifest
