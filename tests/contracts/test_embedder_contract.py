"""The Embedder contract (knowledge_base/embedders.py), run against every implementation.

The protocol promises L2-normalised float32 rows, one per text, `dimension` wide. Besides
that, the knowledge base relies on an embedder being a pure function of the text: the same
vector however often, and in whatever batch, a text is encoded (the index stores vectors
computed in batches; a question is encoded alone). The real models must also place a
paraphrase nearer than an unrelated sentence, and the multilingual ones must read Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from chatbot.settings import FAST_EMBEDDER
from knowledge_base.embedders import Embedder, HashEmbedder, SentenceTransformerEmbedder
from knowledge_base.multilingual import LanguageRoutedEmbedder, UseEmbedder, similarity_of

TEXTS = [
    "How do I return an item?",
    "Standard shipping takes 3-5 business days.",
    "Click Forgot Password on the sign-in page and follow the emailed link.",
    "Do gift cards expire?",
    "ok",
]
QUESTION = "How do I return an item?"
PARAPHRASE = "Can I send something back for a refund?"
UNRELATED = "The weather in the mountains is sunny today."
CHINESE_QUESTION = "退货要多久？"
CHINESE_PARAPHRASE = "How long does a return take?"
CHINESE_UNRELATED = "What colour is the sky at night?"


@dataclass(frozen=True)
class Implementation:
    make: Callable[[Path], Embedder]
    real_model: bool  # a trained model: paraphrases are near each other
    multilingual: bool  # reads Chinese (and other languages) as meaning, not bytes


def _english(models_dir: Path) -> Embedder:
    return SentenceTransformerEmbedder(FAST_EMBEDDER, models_dir)


IMPLEMENTATIONS = {
    "hash": Implementation(lambda _: HashEmbedder(), real_model=False, multilingual=False),
    # The product's routing, with doubles on both sides: fast, and still the routed layout.
    "routed-hash": Implementation(
        lambda _: LanguageRoutedEmbedder(HashEmbedder(), HashEmbedder(64)),
        real_model=False,
        multilingual=False,
    ),
    "sentence-transformers": Implementation(_english, real_model=True, multilingual=False),
    "use-multilingual": Implementation(lambda _: UseEmbedder(), real_model=True, multilingual=True),
    "routed": Implementation(
        lambda d: LanguageRoutedEmbedder(_english(d), UseEmbedder()),
        real_model=True,
        multilingual=True,
    ),
}


def _params(wanted: Callable[[Implementation], bool] = lambda _: True) -> list[object]:
    return [
        pytest.param(name, marks=[pytest.mark.integration] if impl.real_model else [], id=name)
        for name, impl in IMPLEMENTATIONS.items()
        if wanted(impl)
    ]


@pytest.fixture(scope="session", params=_params())
def implementation(request: pytest.FixtureRequest) -> Implementation:
    return IMPLEMENTATIONS[request.param]


@pytest.fixture(scope="session")
def embedder(implementation: Implementation, models_dir: Path) -> Embedder:
    """One instance per implementation for the whole run: the real models load once."""
    return implementation.make(models_dir)


def cosine(embedder: Embedder, a: str, b: str) -> float:
    """How the product compares two texts with this embedder (routed pairs use one model)."""
    va, vb = embedder.encode([a, b])
    return float(similarity_of(embedder)(va[None, :], vb)[0])


def test_it_has_a_name_and_a_positive_dimension(embedder: Embedder) -> None:
    # The name goes into every saved index's manifest: a change of model is noticed by it.
    assert isinstance(embedder.name, str) and embedder.name
    assert isinstance(embedder.dimension, int) and embedder.dimension > 0


def test_one_float32_row_per_text_of_the_stated_dimension(embedder: Embedder) -> None:
    vectors = embedder.encode(TEXTS)
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), embedder.dimension)
    assert np.all(np.isfinite(vectors))


def test_rows_are_unit_length(embedder: Embedder) -> None:
    # Inner product is cosine similarity only for unit vectors (the FAISS index relies on it).
    norms = np.linalg.norm(embedder.encode(TEXTS), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_no_texts_give_an_empty_matrix_of_the_right_width(embedder: Embedder) -> None:
    vectors = embedder.encode([])
    assert vectors.shape == (0, embedder.dimension)
    assert vectors.dtype == np.float32


def test_the_same_text_gets_the_same_vector_every_time(embedder: Embedder) -> None:
    first = embedder.encode(TEXTS)
    again = embedder.encode(TEXTS)
    np.testing.assert_allclose(first, again, atol=1e-6)


def test_a_batch_equals_the_texts_encoded_one_by_one(embedder: Embedder) -> None:
    # Passages are embedded in batches when ingested, questions alone when asked: a text must
    # not move because of its neighbours (padding) or the batch size.
    together = embedder.encode(TEXTS)
    alone = np.vstack([embedder.encode([text]) for text in TEXTS])
    small_batches = embedder.encode(TEXTS, batch_size=2)
    np.testing.assert_allclose(together, alone, atol=1e-4)
    np.testing.assert_allclose(together, small_batches, atol=1e-4)


def test_a_text_repeated_in_one_batch_gets_one_vector(embedder: Embedder) -> None:
    vectors = embedder.encode([QUESTION, TEXTS[1], QUESTION])
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)


@pytest.mark.parametrize("implementation", _params(lambda i: i.real_model), indirect=True)
def test_a_paraphrase_is_nearer_than_an_unrelated_sentence(embedder: Embedder) -> None:
    # Only trained models: a hashed bag of words knows no paraphrases.
    assert cosine(embedder, QUESTION, PARAPHRASE) > cosine(embedder, QUESTION, UNRELATED)


@pytest.mark.parametrize("implementation", _params(lambda i: i.multilingual), indirect=True)
def test_chinese_is_read_as_meaning(embedder: Embedder) -> None:
    [vector] = embedder.encode([CHINESE_QUESTION])
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    # A question in Chinese finds its English wording before an unrelated English sentence.
    near = cosine(embedder, CHINESE_QUESTION, CHINESE_PARAPHRASE)
    far = cosine(embedder, CHINESE_QUESTION, CHINESE_UNRELATED)
    assert near > far
