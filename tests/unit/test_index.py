"""VectorIndex: exact inner-product search, incremental changes, an atomic one-file save,
and a load that rejects stale or damaged files."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.index import INDEX_FILE, LEGACY_FILES, MAGIC, Manifest, VectorIndex


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


def test_remove_and_copy(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, ids, vectors = filled
    clone = index.copy()
    assert clone.remove([107, 108, 999]) == 2  # unknown ids are ignored
    assert clone.remove([]) == 0
    assert len(clone) == 48 and len(index) == 50  # the original is untouched
    assert 107 not in clone.ids().tolist() and 107 in index.ids().tolist()
    assert clone.search(vectors[7], 1)[0][0] != 107
    clone.add(np.array([107]), vectors[7:8])
    assert clone.search(vectors[7], 1)[0][0] == 107
    query = unit_rows(1, 16, seed=5)[0]
    remaining = np.array([i for i in ids if i != 108])
    expected = brute_force(remaining, vectors[remaining - 100], query, 10)
    assert [i for i, _ in clone.search(query, 10)] == expected


def test_save_writes_one_file_and_leaves_no_temporary_files(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    index.save(tmp_path, Manifest(2, "e", 16, 50))  # overwriting works too
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILE]
    assert VectorIndex.read_manifest(tmp_path) == Manifest(2, "e", 16, 50)


def test_save_removes_the_old_two_file_layout_and_stale_temporary_files(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    for name in LEGACY_FILES:
        (tmp_path / name).write_text("old")
    crashed = tmp_path / f".{INDEX_FILE}.abc.tmp"
    crashed.write_bytes(b"half")
    os.utime(crashed, (time.time() - 7200, time.time() - 7200))
    in_progress = tmp_path / f".{INDEX_FILE}.def.tmp"  # maybe another process saving now
    in_progress.write_bytes(b"half")
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([INDEX_FILE, in_progress.name])


def test_failed_save_leaves_previous_file_and_no_temporary_files(
    tmp_path: Path,
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_fsync(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        index.save(tmp_path, Manifest(2, "e", 16, 50))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and loaded[1].revision == 1


def test_concurrent_saves_never_pair_one_index_with_another_manifest(tmp_path: Path) -> None:
    small, large = VectorIndex(8), VectorIndex(8)
    small.add(np.arange(10), unit_rows(10, 8))
    large.add(np.arange(20), unit_rows(20, 8, seed=1))
    small.save(tmp_path, Manifest(1, "e", 8, 10))
    stop = threading.Event()

    def keep_saving(index: VectorIndex, manifest: Manifest) -> None:
        while not stop.is_set():
            index.save(tmp_path, manifest)

    writers = [
        threading.Thread(target=keep_saving, args=(small, Manifest(1, "e", 8, 10))),
        threading.Thread(target=keep_saving, args=(large, Manifest(2, "e", 8, 20))),
    ]
    for w in writers:
        w.start()
    try:
        seen = set()
        for _ in range(200):
            loaded = VectorIndex.load(tmp_path)
            assert loaded is not None  # never a torn or mismatched pair
            index, manifest = loaded
            assert len(index) == manifest.count == {1: 10, 2: 20}[manifest.revision]
            seen.add(manifest.revision)
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert seen  # (which writer won each read is up to the scheduler)


def test_load_missing_folder_or_file_returns_none(tmp_path: Path) -> None:
    assert VectorIndex.load(tmp_path / "nope") is None
    assert VectorIndex.read_manifest(tmp_path / "nope") is None
    VectorIndex(4).save(tmp_path, Manifest(0, "e", 4, 0))
    assert VectorIndex.load(tmp_path) is not None
    (tmp_path / INDEX_FILE).unlink()
    assert VectorIndex.load(tmp_path) is None


def replace_header(folder: Path, header: bytes) -> None:
    path = folder / INDEX_FILE
    magic, _, payload = path.read_bytes().split(b"\n", 2)
    path.write_bytes(magic + b"\n" + header + b"\n" + payload)


@pytest.mark.parametrize(
    "header",
    [
        b"{not json",
        b"[1, 2, 3]",
        b"null",
        json.dumps({"revision": 1, "embedder": "e"}).encode(),  # fields missing
        json.dumps(
            {"revision": 1, "embedder": "e", "dimension": 16, "count": 50, "x": 1, "bytes": 1}
        ).encode(),
    ],
)
def test_load_with_corrupt_manifest_returns_none(
    tmp_path: Path,
    filled: tuple[VectorIndex, np.ndarray, np.ndarray],
    header: bytes,
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    replace_header(tmp_path, header)
    assert VectorIndex.load(tmp_path) is None


def test_load_with_corrupt_or_truncated_file_returns_none(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    index.save(tmp_path, Manifest(1, "e", 16, 50))
    path = tmp_path / INDEX_FILE
    good = path.read_bytes()
    assert good.startswith(MAGIC)
    path.write_bytes(good[:-10])  # truncated
    assert VectorIndex.load(tmp_path) is None
    path.write_bytes(good[: len(MAGIC)] + b"\x00garbage, not an index")
    assert VectorIndex.load(tmp_path) is None
    path.write_bytes(b"")
    assert VectorIndex.load(tmp_path) is None
    path.write_bytes(good[:-10] + b"0123456789")  # right size, damaged contents
    loaded = VectorIndex.load(tmp_path)
    assert loaded is None or len(loaded[0]) == 50


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
