"""The embedder a training produces, built like the product's own (chatbot.container)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowledge_base.embedders import Embedder, SentenceTransformerEmbedder
from knowledge_base.multilingual import LanguageRoutedEmbedder


class Remembering:
    """An embedder that keeps every vector it made, for the life of one training: the
    evaluation encodes the whole knowledge base with the trained model, and the index of an
    adopted model is then rebuilt from the same vectors instead of encoding it again."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self._known: dict[str, np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def warm_up(self) -> None:
        warm = getattr(self.inner, "warm_up", None)
        if warm is not None:
            warm()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing, batch_size), strict=True):
                self._known[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._known[t] for t in texts]).astype(np.float32, copy=True)


def trained_model(folder: Path, cache_dir: Path) -> SentenceTransformerEmbedder:
    """The sentence-transformers model saved in `folder`; its name (the absolute path) tells
    its vectors apart from any other model's, so a switch re-embeds the knowledge base."""
    return SentenceTransformerEmbedder(str(folder.resolve()), cache_dir)


def english_part(embedder: Embedder) -> Embedder:
    """The sentence-transformers model of the product's embedder."""
    return embedder.english if isinstance(embedder, LanguageRoutedEmbedder) else embedder
