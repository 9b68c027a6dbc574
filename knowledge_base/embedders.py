"""Embedders turn texts into unit-length vectors (cosine similarity = inner product)."""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from knowledge_base import model_packages


class Embedder(Protocol):
    """Anything that embeds texts into L2-normalised float32 vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """sentence-transformers model, loaded on first use (cheap to construct)."""

    # A customer turn embeds the same question several times (search, the search of a
    # follow-up, picking the sentences that answer it): the texts of small calls (a question,
    # a question with its parts) are remembered.
    MEMO_SIZE = 256
    MEMO_BATCH = 8

    def __init__(self, spec: str, cache_dir: Path | None = None) -> None:
        self.name = spec
        self._cache_dir = cache_dir or Path(tempfile.gettempdir()) / "chatbot-models"
        self._model: Any = None
        self._lock = threading.Lock()
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = model_packages.resolve(self.name, self._cache_dir, "model")
                local = Path(path).exists()
                self._model = SentenceTransformer(path, device="cpu", local_files_only=local)

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) > self.MEMO_BATCH:  # documents being indexed: nothing to remember
            return self._encode(texts, batch_size)
        with self._memo_lock:
            known = {t: self._memo[t] for t in texts if t in self._memo}
            for t in known:
                self._memo.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            encoded = self._encode(missing, batch_size)
            with self._memo_lock:
                for t, vector in zip(missing, encoded, strict=True):
                    known[t] = vector
                    self._memo[t] = vector
                while len(self._memo) > self.MEMO_SIZE:
                    self._memo.popitem(last=False)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=True)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Deterministic test double: hashed bag of words and character trigrams (SHA-256 seeded).

    Texts sharing words get similar vectors, so retrieval tests behave sensibly without a model.
    """

    def __init__(self, dimension: int = 256) -> None:
        self.name = f"hash-{dimension}"
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def _features(self, text: str) -> list[str]:
        words = _TOKEN.findall(text.lower())
        grams = [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.sha256(feature.encode()).digest()
                col = int.from_bytes(digest[:4], "little") % self._dimension
                out[row, col] += 1.0 if digest[4] % 2 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out


ProgressFn = Callable[[int, int], None]
"""Progress of one file: called with (passages embedded so far, passages in the file)."""

# Texts per embedder call: several batches, so progress is reported without slowing encoding.
EMBED_CHUNK_BATCHES = 8


def encode_in_chunks(
    embedder: Embedder, texts: list[str], batch_size: int, progress: ProgressFn | None = None
) -> np.ndarray:
    """Encode in chunks of a few batches so progress can be reported. Texts are taken
    longest first, as sentence-transformers sorts them, so every batch pads exactly as
    one big encode call would."""
    total = len(texts)
    if progress:
        progress(0, total)
    if not total:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    order = sorted(range(total), key=lambda i: -len(texts[i]))
    step = max(1, batch_size * EMBED_CHUNK_BATCHES)
    out: np.ndarray | None = None
    for start in range(0, total, step):
        rows = order[start : start + step]
        chunk = embedder.encode([texts[i] for i in rows], batch_size=batch_size)
        if out is None:
            out = np.empty((total, chunk.shape[1]), dtype=np.float32)
        out[rows] = chunk
        if progress:
            progress(min(start + step, total), total)
    assert out is not None
    return out
