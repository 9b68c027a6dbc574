"""Documents in and out: files parsed, embedded and saved (or recorded as failed), folders
walked, documents deleted. Every write goes through `IndexSync.commit`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath

from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import repository
from knowledge_base.embedders import ProgressFn
from knowledge_base.index_sync import IndexSync
from knowledge_base.limits import Limits
from knowledge_base.loaders import load_document, unsupported_type
from knowledge_base.records import (
    INGESTED,
    IngestError,
    IngestProgress,
    IngestResult,
    PassageDraft,
    SavedPassages,
)

log = logging.getLogger(__name__)


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


class Ingester:
    """Adds, replaces and deletes whole documents; `limits` bound what one file may become."""

    def __init__(self, sessions: sessionmaker[Session], sync: IndexSync, limits: Limits) -> None:
        self._sessions = sessions
        self._sync = sync
        self.limits = limits

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        progress: ProgressFn | None = None,
        *,
        may_replace: bool = True,
        also: Callable[[Session, IngestResult], None] | None = None,
    ) -> IngestResult:
        """Ingest one file in its own transaction; errors are returned, never raised.

        A file that cannot be ingested is recorded as a `failed` document with the reason
        (no passages); a good earlier version of the same name stays as it was.

        Replacing an ingested document with different content deletes its passages, so it
        needs the right to delete: with `may_replace` False (an agent) such a file is
        `refused` and the document stays as it was. An unchanged file is a no-op for anyone,
        and a failed upload (no passages) may be retried by anyone. The document of entries
        staff added one by one is never replaced by an upload.

        `also` runs in the transaction that saves the passages, with the result (see
        `delete`); other outcomes (unchanged, refused, failed) save no passages and never
        call it.
        """
        digest = hashlib.sha256(data).hexdigest()
        replacing = False
        try:
            with self._sessions() as s:
                existing = repository.find_document(s, name)
                replacing = existing is not None and existing.status == INGESTED
                if existing is not None and replacing and existing.content_hash == digest:
                    count = repository.count_passages(s, document_id=existing.id)
                    return IngestResult(name, "unchanged", count, "already up to date")
                _check_replace(s, name, may_replace)  # before any parsing or embedding
            parsed = load_document(name, data, self.limits)
            vectors = self._sync.embed([p.text for p in parsed.passages], progress)

            def save(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]]:
                nonlocal replacing
                # Again inside the write transaction: a document of that name may have been
                # added (or edited) while this file was being embedded.
                replacing = _check_replace(s, name, may_replace)
                embedder = self._sync.embedder.name
                saved = repository.save_document(s, parsed, digest, len(data), vectors, embedder)
                if also is not None:
                    status = "replaced" if replacing else "added"
                    also(s, IngestResult(name, status, len(parsed.passages)))
                return saved, parsed.passages

            self._sync.commit(save, vectors)
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
        also: Callable[[Session, IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest files and folders (recursively), each file in its own transaction. A
        folder's files of unsupported types are `skipped` results, in their place; a file
        named as such is ingested whatever its type (an unsupported one is an `error`).
        `progress` hears about every embedded batch and every finished file; `also` goes to
        `ingest_bytes` for each file."""
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
                result = self.ingest_bytes(
                    path.name, data, tracker if progress else None, also=also
                )
            tracker.end_file()
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def delete(self, name: str, also: Callable[[Session], None] | None = None) -> bool:
        """Delete a document (ingested or failed); its passages leave answers at once.
        `also` runs in the same transaction once the document is gone (the caller's own row,
        e.g. an audit entry): if it raises, nothing is deleted."""

        def remove(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]] | None:
            saved = repository.delete_document(s, name)
            if saved is not None and also is not None:
                also(s)
            return None if saved is None else (saved, [])

        return self._sync.commit(remove) is not None

    def _failed(self, name: str, digest: str, size: int, problem: str) -> IngestResult:
        """Record a failed upload (unless a good version is kept) and report it."""
        kept = False
        try:
            with self._sessions.begin() as s:
                kept = not repository.record_failure(
                    s, name, _source_type(name), digest, size, problem
                )
        except Exception:
            log.exception("could not record the failed upload of %s", name)
        message = f"{problem} (the previous version is kept)" if kept else problem
        return IngestResult(name, "error", message=message)


def _check_replace(s: Session, name: str, may_replace: bool) -> bool:
    """Whether saving `name` replaces an ingested document; raises ReplaceRefused when that
    is not allowed (the staff-edited entries document, or `may_replace` False)."""
    existing = repository.find_document(s, name)
    if existing is None or existing.status != INGESTED:
        return False
    if existing.content_hash == repository.MANUAL_HASH:
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
