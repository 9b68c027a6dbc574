"""KnowledgeBase: ingest files, keep the FAISS index in step with SQL, and search it."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import store
from knowledge_base.embedders import Embedder
from knowledge_base.index import Manifest, VectorIndex
from knowledge_base.loaders import LOADERS, load_document
from knowledge_base.records import IngestError, SearchHit
from knowledge_base.store import DocumentInfo, PassageMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Outcome for one file: `added`, `replaced`, `unchanged` or `error` (with the reason)."""

    name: str
    status: str
    passages: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "error"


class KnowledgeBase:
    """Documents and passages in SQL; a derived FAISS index in `index_dir`.

    Every process notices changes made by another (the revision in `kb_state`) and reloads.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        embedder: Embedder,
        index_dir: Path,
        batch_size: int = 32,
    ) -> None:
        self._sessions = sessions
        self.embedder = embedder
        self._index_dir = index_dir
        self._batch_size = batch_size
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._index: VectorIndex | None = None
        self._meta: dict[int, PassageMeta] = {}
        self._revision = -1

    # ---- ingest -------------------------------------------------------------------------
    def ingest_bytes(self, name: str, data: bytes) -> IngestResult:
        """Ingest one file in its own transaction; errors are returned, never raised."""
        try:
            digest = hashlib.sha256(data).hexdigest()
            with self._sessions() as s:
                existing = store.find_document(s, name)
                if existing is not None and existing.content_hash == digest:
                    return IngestResult(
                        name, "unchanged", len(existing.passages), "already up to date"
                    )
            parsed = load_document(name, data)
            vectors = self.embedder.encode(
                [p.text for p in parsed.passages], batch_size=self._batch_size
            )
            with self._write_lock, self._sessions.begin() as s:
                store.save_document(s, parsed, digest, len(data), vectors, self.embedder.name)
        except IngestError as exc:
            return IngestResult(name, "error", message=exc.problem)
        except Exception as exc:  # one bad file must not stop the others
            log.exception("ingest of %s failed", name)
            return IngestResult(name, "error", message=f"could not be ingested: {exc}")
        self.refresh()
        status = "replaced" if existing is not None else "added"
        return IngestResult(name, status, len(parsed.passages))

    def ingest_paths(
        self,
        paths: Iterable[Path],
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest files and folders (recursively, supported types only)."""
        results = []
        for path in expand_paths(paths):
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = IngestResult(
                    path.name, "error", message=f"cannot read file: {exc.strerror}"
                )
            else:
                result = self.ingest_bytes(path.name, data)
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def delete(self, name: str) -> bool:
        with self._write_lock, self._sessions.begin() as s:
            deleted = store.delete_document(s, name)
        self.refresh()
        return deleted

    def documents(self) -> list[DocumentInfo]:
        with self._sessions() as s:
            return store.list_documents(s)

    def is_empty(self) -> bool:
        with self._sessions() as s:
            return store.count_passages(s) == 0

    # ---- index --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make the in-memory index match SQL: load it from disk when the saved one is
        current, otherwise rebuild it from the stored embeddings and save it."""
        with self._sessions() as s:
            current = store.revision(s)
        if current == self._revision and self._index is not None:
            return
        with self._refresh_lock:
            if current == self._revision and self._index is not None:
                return
            self._rebuild(current)

    def _rebuild(self, revision: int) -> None:
        dim = self.embedder.dimension
        loaded = VectorIndex.load(self._index_dir)
        meta: dict[int, PassageMeta] = {}
        stale: list[tuple[int, str]] = []
        ids: list[int] = []
        vectors: list[np.ndarray] = []
        with self._sessions() as s:
            for pid, blob, embedder_name, m in store.iter_passages(s):
                meta[pid] = m
                if embedder_name != self.embedder.name:
                    stale.append((pid, m.text))
                else:
                    ids.append(pid)
                    vectors.append(np.frombuffer(blob, dtype=np.float32))
        if stale:
            # The embedder setting changed: re-encode once and store, so SQL stays the truth.
            log.info("re-embedding %d passages with %s", len(stale), self.embedder.name)
            new = self.embedder.encode([t for _, t in stale], batch_size=self._batch_size)
            with self._write_lock, self._sessions.begin() as s:
                for (pid, _), vec in zip(stale, new, strict=True):
                    store.set_embedding(s, pid, vec, self.embedder.name)
            ids.extend(pid for pid, _ in stale)
            vectors.extend(new)
        wanted = Manifest(revision, self.embedder.name, dim, len(ids))
        if loaded is not None and loaded[1] == wanted and not stale:
            index = loaded[0]
        else:
            index = VectorIndex(dim)
            if ids:
                index.add(np.asarray(ids, dtype=np.int64), np.vstack(vectors))
            index.save(self._index_dir, wanted)
        self._index, self._meta, self._revision = index, meta, revision

    # ---- search -------------------------------------------------------------------------
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Top `k` FAQ entries / prose passages, each scored by its best-matching passage."""
        vector = self.embedder.encode([query])[0]
        return self.search_vector(vector, k)

    def search_vector(self, vector: np.ndarray, k: int = 5) -> list[SearchHit]:
        self.refresh()
        index, meta = self._index, self._meta
        if index is None:
            return []
        # Several passages can belong to one entry (an FAQ with 100 phrasings has 101), so
        # over-fetch, and fetch more while fewer than k distinct entries came back.
        fetch = k * 8
        while True:
            best: dict[str, SearchHit] = {}
            for pid, score in index.search(vector, fetch):
                m = meta.get(pid)
                if m is None or m.entry_id in best:
                    continue
                best[m.entry_id] = SearchHit(
                    entry_id=m.entry_id,
                    passage_id=pid,
                    title=m.title,
                    answer=m.answer,
                    score=score,
                    kind=m.kind,
                    matched_text=m.text,
                    url=m.url,
                    category=m.category,
                    document=m.document,
                    page=m.page,
                )
                if len(best) == k:
                    return list(best.values())
            if fetch >= len(index):
                return list(best.values())
            fetch *= 4


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders walked recursively for supported file types, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOADERS)
            )
        else:
            out.append(path)
    return out
