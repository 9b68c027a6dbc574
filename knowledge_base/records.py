"""Plain records passed between loaders, chunking, storage, retrieval and the front ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Document status: ingested (it has passages) or failed (only the reason, no passages).
INGESTED = "ingested"
FAILED = "failed"


class IngestError(Exception):
    """A file could not be ingested. The message names the file and what to do about it."""

    def __init__(self, filename: str, problem: str) -> None:
        super().__init__(f"{filename}: {problem}")
        self.filename = filename
        self.problem = problem


@dataclass(frozen=True)
class PassageDraft:
    """A passage before it is embedded and stored."""

    entry_id: str
    kind: str  # question | answer | text
    title: str
    text: str
    answer: str
    category: str | None = None
    url: str | None = None
    page: int | None = None


@dataclass
class ParsedDocument:
    name: str
    source_type: str
    passages: list[PassageDraft] = field(default_factory=list)


@dataclass(frozen=True)
class FaqEntry:
    """An FAQ entry: one answer, one or more phrasings of the question."""

    entry_id: str
    questions: tuple[str, ...]
    answer: str
    category: str | None = None
    url: str | None = None

    def passages(self) -> list[PassageDraft]:
        """Each phrasing is its own passage (question-to-question matching works best);
        the answer is searchable too, prefixed by the main question for context."""
        title = self.questions[0]
        texts = [("question", q) for q in self.questions]
        texts.append(("answer", f"{title}\n{self.answer}"))
        return [
            PassageDraft(self.entry_id, kind, title, text, self.answer, self.category, self.url)
            for kind, text in texts
        ]


@dataclass(frozen=True)
class SearchHit:
    """One retrieved FAQ entry or prose passage, scored by its best-matching passage."""

    entry_id: str
    passage_id: int
    title: str
    answer: str
    score: float
    kind: str
    matched_text: str
    url: str | None = None
    category: str | None = None
    document: str = ""
    page: int | None = None
    similarity: float = 0.0  # cosine of the single best-matching passage (`matched_text`)


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    name: str
    source_type: str
    size_bytes: int
    passages: int
    entries: int
    created_at: datetime
    status: str = INGESTED
    error: str | None = None
    updated_at: datetime | None = None

    @property
    def uploaded_at(self) -> datetime:
        """When the current version was uploaded (or last edited)."""
        return self.updated_at or self.created_at


@dataclass(frozen=True)
class PassageMeta:
    """What retrieval needs to know about a passage, kept in memory beside the index."""

    entry_id: str
    kind: str
    title: str
    text: str
    answer: str
    url: str | None
    category: str | None
    document: str
    page: int | None = None


@dataclass(frozen=True)
class PassageView:
    """One stored passage as staff see it in a document preview."""

    id: int
    position: int
    kind: str
    entry_id: str
    title: str
    page: int | None
    text: str


@dataclass(frozen=True)
class SavedPassages:
    """What a write changed, so the in-memory index can follow without a rebuild."""

    document_id: int
    document: str
    removed_ids: list[int]
    added_ids: list[int]


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


@dataclass(frozen=True)
class IngestProgress:
    """Where a multi-file ingest stands, for progress bars."""

    file: str  # the file being ingested (or the last one, when all are done)
    files_done: int
    files_total: int
    passages_done: int  # passages embedded so far, over all files of this call
    passages_total: int  # passages of the files parsed so far
