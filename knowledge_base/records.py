"""Plain records passed between loaders, chunking, storage and retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field


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
