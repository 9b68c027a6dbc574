"""The vector index contract (knowledge_base/index.py), run against every way an index comes
to be: built new, copied (every change is made on a copy, then swapped in), and loaded from
the file another process saved. The knowledge base treats the three alike, so each must
behave the same.

What it promises: exact inner-product search over passage ids (scores are cosines of unit
vectors, best first, equal scores broken by the lower id), `k` beyond the size returns
everything, unknown ids are ignored on removal, ids come back in insertion order, and a
saved index loads with its manifest and the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.index import Manifest, VectorIndex

DIM = 16


def _new(_: Path) -> VectorIndex:
    return VectorIndex(DIM)


def _copied(_: Path) -> VectorIndex:
    return VectorIndex(DIM).copy()


def _loaded(folder: Path) -> VectorIndex:
    VectorIndex(DIM).save(folder, Manifest(0, "contract", DIM, 0))
    loaded = VectorIndex.load(folder)
    assert loaded is not None
    return loaded[0]


MAKERS: dict[str, Callable[[Path], VectorIndex]] = {
    "new": _new,
    "copied": _copied,
    "loaded": _loaded,
}


@pytest.fixture(params=list(MAKERS))
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> VectorIndex:
    return MAKERS[request.param](tmp_path / "made")


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


IDS = np.array([40, 7, 1000, 12, 3, 99, 58, 21], dtype=np.int64)  # passage ids, any order
VECTORS = unit_rows(len(IDS))


@pytest.fixture
def filled(empty: VectorIndex) -> VectorIndex:
    empty.add(IDS, VECTORS)
    return empty


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray) -> list[tuple[int, float]]:
    scores = vectors @ query
    return sorted(
        ((int(i), float(s)) for i, s in zip(ids, scores, strict=True)), key=lambda r: (-r[1], r[0])
    )


def assert_same_results(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)


def test_an_empty_index_finds_nothing(empty: VectorIndex) -> None:
    assert len(empty) == 0 and empty.dimension == DIM
    assert empty.search(unit_rows(1, seed=1)[0], 5) == []
    assert empty.ids().tolist() == []
    assert empty.remove([1, 2]) == 0
    empty.add(np.array([], dtype=np.int64), np.zeros((0, DIM), dtype=np.float32))
    assert len(empty) == 0


def test_ids_come_back_in_insertion_order_with_their_vectors(filled: VectorIndex) -> None:
    assert len(filled) == len(IDS)
    assert filled.ids().tolist() == IDS.tolist()
    np.testing.assert_allclose(filled.vectors(IDS[::-1]), VECTORS[::-1], atol=1e-6)
    assert filled.vectors([]).shape == (0, DIM)


def test_search_is_exact_and_best_first(filled: VectorIndex) -> None:
    for seed in range(5):
        query = unit_rows(1, seed=100 + seed)[0]
        assert_same_results(filled.search(query, 3), brute_force(IDS, VECTORS, query)[:3])
    # A stored vector finds itself first, with cosine 1.
    best_id, best_score = filled.search(VECTORS[2], 1)[0]
    assert best_id == int(IDS[2]) and best_score == pytest.approx(1.0, abs=1e-5)


def test_k_larger_than_the_index_returns_every_passage(filled: VectorIndex) -> None:
    query = unit_rows(1, seed=7)[0]
    assert_same_results(filled.search(query, 500), brute_force(IDS, VECTORS, query))


def test_equal_scores_put_the_earlier_passage_first(empty: VectorIndex) -> None:
    # The same text twice (two documents saying the same thing) gets the same vector.
    same = unit_rows(1, seed=3)
    empty.add(np.array([30, 5, 17]), np.vstack([same, same, same]))
    assert [i for i, _ in empty.search(same[0], 3)] == [5, 17, 30]


def test_removed_passages_are_never_found_and_unknown_ids_are_ignored(
    filled: VectorIndex,
) -> None:
    gone = [int(IDS[0]), int(IDS[3])]
    assert filled.remove([*gone, 123456]) == 2
    assert filled.remove([]) == 0
    assert len(filled) == len(IDS) - 2
    kept = np.array([i for i in IDS if i not in gone], dtype=np.int64)
    assert filled.ids().tolist() == kept.tolist()
    query = VECTORS[0]  # the removed passage's own vector
    expected = brute_force(kept, VECTORS[np.isin(IDS, kept)], query)
    assert_same_results(filled.search(query, 500), expected)


def test_a_removed_id_may_be_added_again(filled: VectorIndex) -> None:
    target = int(IDS[4])
    filled.remove([target])
    filled.add(np.array([target]), VECTORS[4:5])
    assert filled.search(VECTORS[4], 1)[0][0] == target
    assert sorted(filled.ids().tolist()) == sorted(IDS.tolist())


def test_vectors_of_any_float_type_are_accepted(empty: VectorIndex) -> None:
    empty.add(np.array([1, 2]), VECTORS[:2].astype(np.float64))
    assert empty.search(VECTORS[1], 1)[0][0] == 2


def test_a_copy_is_independent_of_its_original(filled: VectorIndex) -> None:
    clone = filled.copy()
    clone.remove([int(IDS[0])])
    clone.add(np.array([5000]), unit_rows(1, seed=9))
    assert filled.ids().tolist() == IDS.tolist()  # the original is untouched
    assert len(clone) == len(IDS) and 5000 in clone.ids().tolist()
    assert clone.dimension == filled.dimension


def test_save_and_load_round_trip(filled: VectorIndex, tmp_path: Path) -> None:
    manifest = Manifest(revision=4, embedder="contract", dimension=DIM, count=len(IDS))
    folder = tmp_path / "saved" / "index"  # created on save
    filled.save(folder, manifest)
    assert VectorIndex.read_manifest(folder) == manifest
    loaded = VectorIndex.load(folder)
    assert loaded is not None
    again, read = loaded
    assert read == manifest
    assert again.dimension == DIM and again.ids().tolist() == IDS.tolist()
    for seed in range(3):
        query = unit_rows(1, seed=200 + seed)[0]
        assert again.search(query, 5) == filled.search(query, 5)
    # The loaded index takes further changes like any other.
    again.remove([int(IDS[1])])
    assert int(IDS[1]) not in [i for i, _ in again.search(VECTORS[1], 500)]


def test_nothing_saved_loads_as_nothing(tmp_path: Path) -> None:
    assert VectorIndex.load(tmp_path / "nothing here") is None
    assert VectorIndex.read_manifest(tmp_path / "nothing here") is None
