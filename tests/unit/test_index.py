"""VectorIndex: exact inner-product search, atomic save, and a load that rejects stale files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.index import INDEX_FILE, MANIFEST_FILE, Manifest, VectorIndex


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(ids[i]) for i in order]


@pytest.fixture
def filled() -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    ids = np.arange(100, 150, dtype=np.int64)  # ids are passage ids, not positions
    vectors = unit_rows(50, 16)
    index = VectorIndex(16)
    index.add(ids, vectors)
    return index, ids, vectors


def test_empty_index_searches_to_nothing() -> None:
    index = VectorIndex(8)
    assert len(index) == 0
    assert index.search(unit_rows(1, 8)[0], 5) == []
    index.add(np.array([], dtype=np.int64), np.zeros((0, 8), dtype=np.float32))
    assert len(index) == 0


def test_search_returns_ids_best_first_with_cosine_scores(
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
) -> None:
    index, ids, vectors = filled
    assert len(index) == 50
    query = vectors[7]
    results = index.search(query, 10)
    assert len(results) == 10
    assert results[0][0] == 107
    assert results[0][1] == pytest.approx(1.0, abs=1e-5)
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)
    assert [i for i, _ in results] == brute_force(ids, vectors, query, 10)
    for pid, score in results:
        assert score == pytest.approx(float(vectors[pid - 100] @ query), abs=1e-5)


def test_search_with_k_larger_than_the_index(
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
) -> None:
    index, ids, _ = filled
    results = index.search(unit_rows(1, 16, seed=9)[0], 500)
    assert sorted(i for i, _ in results) == ids.tolist()


def test_add_accepts_float64_and_appends() -> None:
    index = VectorIndex(4)
    index.add(np.array([1]), np.array([[1.0, 0.0, 0.0, 0.0]]))
    index.add(np.array([2]), np.array([[0.0, 1.0, 0.0, 0.0]]))
    results = index.search(np.array([0.0, 1.0, 0.0, 0.0]), 2)
    assert [i for i, _ in results] == [2, 1]
    assert results[1][1] == pytest.approx(0.0)


def test_save_then_load_round_trip(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    manifest = Manifest(revision=3, embedder="hash-16", dimension=16, count=50)
    folder = tmp_path / "nested" / "index"  # created on save
    index.save(folder, manifest)
    loaded = VectorIndex.load(folder)
    assert loaded is not None
    again, saved_manifest = loaded
    assert saved_manifest == manifest
    assert len(again) == 50
    assert again.dimension == 16
    for seed in range(3):
        query = unit_rows(1, 16, seed=seed + 20)[0]
        assert again.search(query, 7) == index.search(query, 7)


def test_save_leaves_no_temporary_files(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    index.save(tmp_path, Manifest(2, "e", 16, 50))  # overwriting works too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([INDEX_FILE, MANIFEST_FILE])
    assert json.loads((tmp_path / MANIFEST_FILE).read_text())["revision"] == 2


def test_failed_save_leaves_previous_files_and_no_temporary_files(
    tmp_path: Path,
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss

    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_write(_index: object, path: str) -> None:
        Path(path).write_bytes(b"half an index")
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(RuntimeError, match="disk full"):
        index.save(tmp_path, Manifest(2, "e", 16, 50))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and loaded[1].revision == 1


def test_load_missing_folder_or_files_returns_none(tmp_path: Path) -> None:
    assert VectorIndex.load(tmp_path / "nope") is None
    VectorIndex(4).save(tmp_path, Manifest(0, "e", 4, 0))
    (tmp_path / INDEX_FILE).unlink()
    assert VectorIndex.load(tmp_path) is None


@pytest.mark.parametrize(
    "manifest_text",
    [
        "{not json",
        "[1, 2, 3]",
        "null",
        json.dumps({"revision": 1, "embedder": "e"}),  # fields missing
        json.dumps({"revision": 1, "embedder": "e", "dimension": 16, "count": 50, "x": 1}),
    ],
)
def test_load_with_corrupt_manifest_returns_none(
    tmp_path: Path,
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
    manifest_text: str,
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    (tmp_path / MANIFEST_FILE).write_text(manifest_text)
    assert VectorIndex.load(tmp_path) is None


def test_load_with_corrupt_index_file_returns_none(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    (tmp_path / INDEX_FILE).write_bytes(b"\x00garbage, not a faiss index")
    assert VectorIndex.load(tmp_path) is None
    (tmp_path / INDEX_FILE).write_bytes(b"")
    assert VectorIndex.load(tmp_path) is None


@pytest.mark.parametrize(
    "manifest",
    [Manifest(1, "e", 16, 49), Manifest(1, "e", 16, 51), Manifest(1, "e", 8, 50)],
    ids=["fewer", "more", "dimension"],
)
def test_load_with_manifest_that_does_not_match_the_index_returns_none(
    tmp_path: Path,
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
    manifest: Manifest,
) -> None:
    index, _, _ = filled
    index.save(tmp_path, manifest)
    assert VectorIndex.load(tmp_path) is None
