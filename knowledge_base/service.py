"""KnowledgeBase: ingest files, keep the FAISS index in step with SQL, and search it.

SQL is the source of truth (documents, passages and their embeddings). The FAISS index is
derived from it and carries the revision it was built at. Every write runs in one transaction
that first bumps `kb_state.revision`; afterwards this process applies its own change to the
in-memory index incrementally (remove replaced ids, add new vectors), swaps it in whole and
saves it. A revision moved by another process is noticed on the next search and answered with
a reload (from the saved index when it is current, else from the stored embeddings).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import store
from knowledge_base.embedders import Embedder
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError, make_entry, new_entry_id
from knowledge_base.index import Manifest, VectorIndex
from knowledge_base.limits import Limits
from knowledge_base.loaders import load_document, unsupported_type
from knowledge_base.records import FaqEntry, IngestError, PassageDraft, SearchHit
from knowledge_base.retriever import HybridRetriever
from knowledge_base.store import DocumentInfo, PassageMeta, PassageView, SavedPassages

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""Progress of one file: called with (passages embedded so far, passages in the file)."""

# Texts per embedder call: several batches, so progress is reported without slowing encoding.
EMBED_CHUNK_BATCHES = 8

Change = Callable[[Session], tuple[SavedPassages, Sequence[PassageDraft]] | None]


@dataclass(frozen=True)
class IngestResult:
    """Outcome for one file: `added`, `replaced`, `unchanged`, `error` (the file could not be
    used), `refused` (the uploader may not replace the document of that name) or `skipped` (a
    file found in a folder that is of no supported type: not read, not recorded); the last
    three with the reason."""

    name: str
    status: str
    passages: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status not in ("error", "refused")


class ReplaceRefused(Exception):
    """Ingesting would replace (so delete) a document's passages, which the uploader may not."""


def replace_refusal(name: str) -> str:
    return (
        f"a document named '{name}' already exists, and replacing it deletes its current "
        "passages, which only an admin may do; nothing was changed. Upload the file under a "
        "new name to add it alongside, or ask an admin to upload it"
    )


def manual_refusal(name: str) -> str:
    return (
        f"'{name}' holds the FAQ entries staff added one by one and cannot be replaced by an "
        "upload; edit or delete its entries in the FAQ entry editor, or upload the file under "
        "another name"
    )


@dataclass(frozen=True)
class IngestProgress:
    """Where a multi-file ingest stands, for progress bars."""

    file: str  # the file being ingested (or the last one, when all are done)
    files_done: int
    files_total: int
    passages_done: int  # passages embedded so far, over all files of this call
    passages_total: int  # passages of the files parsed so far


@dataclass(frozen=True)
class IndexSnapshot:
    """The index and passage metadata of one revision. Never changed once published: a change
    builds a new snapshot and swaps the reference, so a search never sees a half-done update."""

    index: VectorIndex | None
    meta: Mapping[int, PassageMeta]
    revision: int


_NOTHING_LOADED = IndexSnapshot(None, {}, -1)


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
        limits: Limits | None = None,
        retriever: HybridRetriever | None = None,
    ) -> None:
        self._sessions = sessions
        self.embedder = embedder
        self._index_dir = index_dir
        self._batch_size = batch_size
        self.limits = limits or Limits()
        self.retriever = retriever or HybridRetriever.for_embedder(embedder)
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

    # ---- ingest -------------------------------------------------------------------------
    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        progress: ProgressFn | None = None,
        *,
        may_replace: bool = True,
    ) -> IngestResult:
        """Ingest one file in its own transaction; errors are returned, never raised.

        A file that cannot be ingested is recorded as a `failed` document with the reason
        (no passages); a good earlier version of the same name stays as it was.

        Replacing an ingested document with different content deletes its passages, so it
        needs the right to delete: with `may_replace` False (an agent) such a file is
        `refused` and the document stays as it was. An unchanged file is a no-op for anyone,
        and a failed upload (no passages) may be retried by anyone. The document of entries
        staff added one by one is never replaced by an upload.
        """
        digest = hashlib.sha256(data).hexdigest()
        replacing = False
        try:
            with self._sessions() as s:
                existing = store.find_document(s, name)
                replacing = existing is not None and existing.status == store.INGESTED
                if existing is not None and replacing and existing.content_hash == digest:
                    count = store.count_passages(s, document_id=existing.id)
                    return IngestResult(name, "unchanged", count, "already up to date")
                _check_replace(s, name, may_replace)  # before any parsing or embedding
            parsed = load_document(name, data, self.limits)
            vectors = self._embed([p.text for p in parsed.passages], progress)

            def save(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]]:
                nonlocal replacing
                # Again inside the write transaction: a document of that name may have been
                # added (or edited) while this file was being embedded.
                replacing = _check_replace(s, name, may_replace)
                saved = store.save_document(
                    s, parsed, digest, len(data), vectors, self.embedder.name
                )
                return saved, parsed.passages

            self._commit(save, vectors)
        except ReplaceRefused as exc:
            return IngestResult(name, "refused", message=str(exc))
        except IngestError as exc:
            return self._failed(name, digest, len(data), exc.problem)
        except Exception as exc:  # one bad file must not stop the others
            log.exception("ingest of %s failed", name)
            return self._failed(name, digest, len(data), f"could not be ingested: {exc}")
        return IngestResult(name, "replaced" if replacing else "added", len(parsed.passages))

    def ingest_paths(
        self,
        paths: Iterable[Path],
        on_result: Callable[[IngestResult], None] | None = None,
        progress: Callable[[IngestProgress], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest files and folders (recursively), each file in its own transaction. A
        folder's files of unsupported types are `skipped` results, in their place; a file
        named as such is ingested whatever its type (an unsupported one is an `error`).
        `progress` hears about every embedded batch and every finished file."""
        found = expand_paths(paths)
        tracker = _ProgressTracker(sum(1 for _, skip in found if skip is None), progress)
        results = []
        for path, skip in found:
            if skip is not None:
                result = IngestResult(path.name, "skipped", message=skip)
                results.append(result)
                if on_result:
                    on_result(result)
                continue
            tracker.start_file(path.name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = IngestResult(
                    path.name, "error", message=f"cannot read file: {exc.strerror}"
                )
            else:
                result = self.ingest_bytes(path.name, data, tracker if progress else None)
            tracker.end_file()
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def delete(self, name: str) -> bool:
        """Delete a document (ingested or failed); its passages leave answers at once."""

        def remove(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]] | None:
            saved = store.delete_document(s, name)
            return None if saved is None else (saved, [])

        return self._commit(remove) is not None

    def documents(self) -> list[DocumentInfo]:
        with self._sessions() as s:
            return store.list_documents(s)

    def preview(self, name: str) -> list[PassageView] | None:
        """The passages a document became, in order; None when there is no such document."""
        with self._sessions() as s:
            return store.document_passages(s, name)

    def is_empty(self) -> bool:
        with self._sessions() as s:
            return store.count_passages(s) == 0

    # ---- single FAQ entries -------------------------------------------------------------
    def faq_entry_ids(self) -> list[str]:
        with self._sessions() as s:
            return store.faq_entry_ids(s)

    def get_faq_entry(self, entry_id: str) -> FaqEntry | None:
        """An FAQ entry (questions, answer, category, url); None for unknown ids and for
        prose sections, which are edited by uploading their document again."""
        with self._sessions() as s:
            passages = store.entry_passages(s, entry_id)
        if not passages or any(p.kind not in store.FAQ_KINDS for p in passages):
            return None
        questions = tuple(p.text for p in passages if p.kind == "question")
        if not questions:
            return None
        first = passages[0]
        return FaqEntry(entry_id, questions, first.answer, first.category, first.url)

    def save_faq_entry(
        self,
        entry_id: str | None,
        questions: Sequence[str],
        answer: str,
        category: str | None = None,
        url: str | None = None,
    ) -> FaqEntry:
        """Add an entry (`entry_id` None or unknown: into the "Staff-edited entries" document)
        or replace an existing one in place, in whatever document holds it. Only that entry's
        passages change (re-embedded); it is in answers at once. Raises EntryError."""
        wanted = (entry_id or "").strip() or None
        if wanted is not None:
            with self._sessions() as s:
                current = store.entry_passages(s, wanted)
            if any(p.kind not in store.FAQ_KINDS for p in current):
                raise EntryError(
                    f"'{wanted}' is a document section, not an FAQ entry; change it in its "
                    "document and upload that again"
                )
        entry = make_entry(wanted or "new", questions, answer, category, url)
        texts = [d.text for d in entry.passages()]  # the id does not change the texts
        vectors = self._embed(texts, None)
        saved_entry = entry

        def save(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]]:
            nonlocal saved_entry
            if wanted is None:  # pick the id inside the transaction: no two writers share it
                new_id = new_entry_id(entry.questions[0], lambda c: store.entry_exists(s, c))
                saved_entry = FaqEntry(
                    new_id, entry.questions, entry.answer, entry.category, entry.url
                )
            drafts = saved_entry.passages()
            saved = store.replace_entry(
                s, saved_entry.entry_id, drafts, vectors, self.embedder.name, MANUAL_DOCUMENT
            )
            return saved, drafts

        self._commit(save, vectors)
        return saved_entry

    def delete_faq_entry(self, entry_id: str) -> bool:
        """Delete one FAQ entry (a document left empty goes too); False if there is none."""

        def remove(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]] | None:
            passages = store.entry_passages(s, entry_id)
            if not passages or any(p.kind not in store.FAQ_KINDS for p in passages):
                return None
            saved = store.delete_entry(s, entry_id)
            return None if saved is None else (saved, [])

        return self._commit(remove) is not None

    # ---- writing ------------------------------------------------------------------------
    def _embed(self, texts: list[str], progress: ProgressFn | None) -> np.ndarray:
        """Encode in chunks of a few batches so progress can be reported. Texts are taken
        longest first, as sentence-transformers sorts them, so every batch pads exactly as
        one big encode call would."""
        total = len(texts)
        if progress:
            progress(0, total)
        if not total:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        order = sorted(range(total), key=lambda i: -len(texts[i]))
        step = max(1, self._batch_size * EMBED_CHUNK_BATCHES)
        out: np.ndarray | None = None
        for start in range(0, total, step):
            rows = order[start : start + step]
            chunk = self.embedder.encode([texts[i] for i in rows], batch_size=self._batch_size)
            if out is None:
                out = np.empty((total, chunk.shape[1]), dtype=np.float32)
            out[rows] = chunk
            if progress:
                progress(min(start + step, total), total)
        assert out is not None
        return out

    def _commit(self, change: Change, vectors: np.ndarray | None = None) -> SavedPassages | None:
        """Run `change` in one transaction that first bumps the revision (which serialises
        writers across processes), then bring the in-memory and saved index along."""
        with self._lock:
            self.refresh()  # start from the current revision, so our change can be applied
            with self._sessions() as s:
                revision = store.bump_revision(s)
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

    def _failed(self, name: str, digest: str, size: int, problem: str) -> IngestResult:
        """Record a failed upload (unless a good version is kept) and report it."""
        kept = False
        try:
            with self._sessions.begin() as s:
                kept = not store.record_failure(s, name, _source_type(name), digest, size, problem)
        except Exception:
            log.exception("could not record the failed upload of %s", name)
        message = f"{problem} (the previous version is kept)" if kept else problem
        return IngestResult(name, "error", message=message)

    # ---- index --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make the in-memory index match SQL if another process changed the knowledge base:
        load the saved index when it is current, otherwise rebuild it from the stored
        embeddings and save it."""
        with self._sessions() as s:
            current = store.revision(s)
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
                store.lock_revision(s)
                state = self._read_state(s, use_saved)
                s.rollback()
        assert state is not None
        revision, meta, index, stale, from_disk = state
        if stale:
            # The embedder setting changed: re-encode once and store, so SQL stays the truth.
            noun = "passage" if len(stale) == 1 else "passages"
            log.info("re-embedding %d %s with %s", len(stale), noun, self.embedder.name)
            new = self._embed([meta[pid].text for pid in stale], None)
            with self._sessions.begin() as s:
                for pid, vec in zip(stale, new, strict=True):
                    store.set_embedding(s, pid, vec, self.embedder.name)
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
        revision = store.revision(s)
        meta: dict[int, PassageMeta] = {}
        stale: list[int] = []
        for pid, embedder_name, m in store.iter_passage_meta(s):
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
            for pid, blob in store.iter_embeddings(s, name):
                if pid in meta:
                    ids_list.append(pid)
                    blobs.append(blob)
            if blobs:
                dim = len(blobs[0]) // 4
                index = VectorIndex(dim)
                vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim)
                index.add(np.asarray(ids_list, dtype=np.int64), vectors)
        if store.revision(s) != revision:
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

    # ---- search -------------------------------------------------------------------------
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Top `k` FAQ entries / prose passages for a question (hybrid, scored per entry)."""
        vector = self.embedder.encode([query])[0]
        return self.search_vector(vector, k, query)

    def search_vector(self, vector: np.ndarray, k: int = 5, text: str = "") -> list[SearchHit]:
        """Like `search` with the query already embedded; `text` feeds the lexical part."""
        snap = self.snapshot()
        if snap.index is None:
            return []
        return self.retriever.search(snap.index, snap.meta, snap.revision, vector, text, k)


def _check_replace(s: Session, name: str, may_replace: bool) -> bool:
    """Whether saving `name` replaces an ingested document; raises ReplaceRefused when that
    is not allowed (the staff-edited entries document, or `may_replace` False)."""
    existing = store.find_document(s, name)
    if existing is None or existing.status != store.INGESTED:
        return False
    if existing.content_hash == store.MANUAL_HASH:
        raise ReplaceRefused(manual_refusal(name))
    if not may_replace:
        raise ReplaceRefused(replace_refusal(name))
    return True


def expand_paths(paths: Iterable[Path]) -> list[tuple[Path, str | None]]:
    """(file, why it is skipped or None): files as given; folders walked recursively, sorted,
    their files of unsupported types with the reason. Hidden files and folders (names starting
    with ".", such as .git or .DS_Store) are left out of the walk: they are not documents."""
    out: list[tuple[Path, str | None]] = []
    for path in paths:
        if not path.is_dir():
            out.append((path, None))
            continue
        for p in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
            if p.is_file() and not hidden:
                out.append((p, unsupported_type(p.name)))
    return out


def _source_type(name: str) -> str:
    """The document type shown for a file that could not be parsed."""
    suffix = PurePath(name).suffix.lower().lstrip(".")
    return {"md": "markdown"}.get(suffix, suffix or "unknown")[:32]


class _ProgressTracker:
    """Turns per-file embedding progress into IngestProgress over all files of one call."""

    def __init__(self, files_total: int, callback: Callable[[IngestProgress], None] | None):
        self._callback = callback
        self.files_total = files_total
        self.files_done = 0
        self.file = ""
        self.done = 0
        self.total = 0
        self._file_base = 0
        self._file_total = 0

    def _emit(self) -> None:
        if self._callback:
            self._callback(
                IngestProgress(self.file, self.files_done, self.files_total, self.done, self.total)
            )

    def start_file(self, name: str) -> None:
        self.file, self._file_base, self._file_total = name, self.done, 0
        self._emit()

    def __call__(self, done: int, total: int) -> None:
        self.total += total - self._file_total
        self._file_total = total
        self.done = self._file_base + done
        self._emit()

    def end_file(self) -> None:
        self.files_done += 1
        self._emit()
