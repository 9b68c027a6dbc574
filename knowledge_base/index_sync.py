"""The FAISS index, kept in step with SQL.

SQL is the source of truth (documents, passages and their embeddings). The FAISS index is
derived from it and carries the revision it was built at. Every write runs in one transaction
that first bumps `kb_state.revision`; afterwards this process applies its own change to the
in-memory index incrementally (remove replaced ids, add new vectors), swaps it in whole and
saves it. A revision moved by another process is noticed on the next search and answered with
a reload (from the saved index when it is current, else from the stored embeddings).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import repository
from knowledge_base.embedders import Embedder, ProgressFn, encode_in_chunks
from knowledge_base.index import Manifest, VectorIndex
from knowledge_base.records import PassageDraft, PassageMeta, SavedPassages

log = logging.getLogger(__name__)

Change = Callable[[Session], tuple[SavedPassages, Sequence[PassageDraft]] | None]
"""A write: changes SQL in the session it is given and says what it saved (None: nothing,
the transaction is rolled back)."""


@dataclass(frozen=True)
class IndexSnapshot:
    """The index and passage metadata of one revision. Never changed once published: a change
    builds a new snapshot and swaps the reference, so a search never sees a half-done update."""

    index: VectorIndex | None
    meta: Mapping[int, PassageMeta]
    revision: int


_NOTHING_LOADED = IndexSnapshot(None, {}, -1)


class IndexSync:
    """The in-memory index of `embedder`'s vectors, saved in `index_dir`, and the one way to
    write to the knowledge base (`commit`), so that every write reaches it.

    Every process notices changes made by another (the revision in `kb_state`) and reloads.
    """

    def __init__(
        self, sessions: sessionmaker[Session], embedder: Embedder, index_dir: Path, batch_size: int
    ) -> None:
        self._sessions = sessions
        self.embedder = embedder
        self._index_dir = index_dir
        self._batch_size = batch_size
        # Held while this process writes (commit + index swap, in revision order) or reloads.
        # Searches take it only when their snapshot is stale; embedding happens outside it.
        self._lock = threading.RLock()
        self._snapshot = _NOTHING_LOADED

    @property
    def revision(self) -> int:
        """The revision the in-memory index reflects (-1 before the first load)."""
        return self._snapshot.revision

    def snapshot(self) -> IndexSnapshot:
        """The current index and its passage metadata, reloaded first if another process
        changed the knowledge base."""
        self.refresh()
        return self._snapshot

    def embed(self, texts: list[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Passages' vectors, as the index holds them."""
        return encode_in_chunks(self.embedder, texts, self._batch_size, progress)

    # ---- writing ------------------------------------------------------------------------
    def commit(self, change: Change, vectors: np.ndarray | None = None) -> SavedPassages | None:
        """Run `change` in one transaction that first bumps the revision (which serialises
        writers across processes), then bring the in-memory and saved index along."""
        with self._lock:
            self.refresh()  # start from the current revision, so our change can be applied
            with self._sessions() as s:
                revision = repository.bump_revision(s)
                done = change(s)
                if done is None:
                    s.rollback()
                    return None
                s.commit()
            saved, drafts = done
            self._apply(revision, saved, drafts, vectors)
            return saved

    def _apply(
        self,
        revision: int,
        saved: SavedPassages,
        drafts: Sequence[PassageDraft],
        vectors: np.ndarray | None,
    ) -> None:
        """Bring the in-memory index from `revision - 1` to `revision` without a rebuild."""
        snap = self._snapshot
        if snap.index is None or snap.revision != revision - 1:
            # Another process committed in between: take everything from SQL instead.
            self._rebuild(use_saved=False)
            return
        index = snap.index.copy()
        index.remove(saved.removed_ids)
        meta = dict(snap.meta)
        for pid in saved.removed_ids:
            meta.pop(pid, None)
        if saved.added_ids:
            assert vectors is not None and len(vectors) == len(saved.added_ids)
            index.add(np.asarray(saved.added_ids, dtype=np.int64), vectors)
            for pid, d in zip(saved.added_ids, drafts, strict=True):
                meta[pid] = PassageMeta(
                    d.entry_id,
                    d.kind,
                    d.title,
                    d.text,
                    d.answer,
                    d.url,
                    d.category,
                    saved.document,
                    d.page,
                )
        self._snapshot = IndexSnapshot(index, meta, revision)
        self._save(index, revision)

    # ---- loading ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make the in-memory index match SQL if another process changed the knowledge base:
        load the saved index when it is current, otherwise rebuild it from the stored
        embeddings and save it."""
        with self._sessions() as s:
            current = repository.revision(s)
        snap = self._snapshot
        if snap.index is not None and snap.revision >= current:
            return
        with self._lock:
            snap = self._snapshot
            if snap.index is not None and snap.revision >= current:
                return  # a writer in this process got there first
            self._rebuild()

    def reindex(self) -> int:
        """Rebuild the index from the embeddings stored in SQL (no re-encoding, except for
        passages embedded by another model) and save it. Returns the number of passages."""
        with self._lock:
            self._rebuild(use_saved=False)
            index = self._snapshot.index
            return 0 if index is None else len(index)

    def _rebuild(self, use_saved: bool = True) -> None:
        """Load everything for the current revision: the saved index when it matches SQL
        exactly, else the stored embeddings. The snapshot's revision always labels exactly
        the content read (the retriever caches per revision): the revision is read before and
        after, and a read that a commit interrupted is repeated; after a few tries the read
        runs with the revision row locked, so no writer can commit in between."""
        state = None
        for _ in range(3):
            with self._sessions() as s:
                state = self._read_state(s, use_saved)
            if state is not None:
                break
        if state is None:
            with self._sessions() as s:
                repository.lock_revision(s)
                state = self._read_state(s, use_saved)
                s.rollback()
        assert state is not None
        revision, meta, index, stale, from_disk = state
        if stale:
            # The embedder setting changed: re-encode once and store, so SQL stays the truth.
            noun = "passage" if len(stale) == 1 else "passages"
            log.info("re-embedding %d %s with %s", len(stale), noun, self.embedder.name)
            new = self.embed([meta[pid].text for pid in stale])
            with self._sessions.begin() as s:
                for pid, vec in zip(stale, new, strict=True):
                    repository.set_embedding(s, pid, vec, self.embedder.name)
            if index is None or index.dimension != new.shape[1]:
                index = VectorIndex(new.shape[1])
            index.add(np.asarray(stale, dtype=np.int64), new)
        if index is None:
            index = VectorIndex(self.embedder.dimension)
        self._snapshot = IndexSnapshot(index, meta, revision)
        if not from_disk:
            self._save(index, revision)

    def _read_state(
        self, s: Session, use_saved: bool
    ) -> tuple[int, dict[int, PassageMeta], VectorIndex | None, list[int], bool] | None:
        """(revision, metadata, index of the current embeddings, stale ids, from disk), or
        None when a commit happened while reading."""
        name = self.embedder.name
        revision = repository.revision(s)
        meta: dict[int, PassageMeta] = {}
        stale: list[int] = []
        for pid, embedder_name, m in repository.iter_passage_meta(s):
            meta[pid] = m
            if embedder_name != name:
                stale.append(pid)
        index: VectorIndex | None = None
        from_disk = False
        if use_saved and not stale:
            loaded = VectorIndex.load(self._index_dir)
            ids = np.fromiter(meta, dtype=np.int64, count=len(meta))
            if (
                loaded is not None
                and loaded[1].revision == revision
                and loaded[1].embedder == name
                and np.array_equal(np.sort(loaded[0].ids()), ids)
            ):
                index, from_disk = loaded[0], True
        if index is None:
            ids_list: list[int] = []
            blobs: list[bytes] = []
            for pid, blob in repository.iter_embeddings(s, name):
                if pid in meta:
                    ids_list.append(pid)
                    blobs.append(blob)
            if blobs:
                dim = len(blobs[0]) // 4
                index = VectorIndex(dim)
                vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim)
                index.add(np.asarray(ids_list, dtype=np.int64), vectors)
        if repository.revision(s) != revision:
            return None
        return revision, meta, index, stale, from_disk

    def _save(self, index: VectorIndex, revision: int) -> None:
        """Save the index for other processes and restarts; a failure only costs them a
        rebuild, so it is logged, not raised."""
        try:
            index.save(
                self._index_dir, Manifest(revision, self.embedder.name, index.dimension, len(index))
            )
        except OSError:
            log.warning("could not save the index in %s", self._index_dir, exc_info=True)
