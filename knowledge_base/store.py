"""SQL access for documents and passages. Functions take a session and never commit:
the caller owns the transaction (one per ingested file)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from knowledge_base.records import ParsedDocument
from knowledge_base.tables import Document, KbState, Passage, utcnow


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    name: str
    source_type: str
    size_bytes: int
    passages: int
    entries: int
    created_at: datetime


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


def revision(session: Session) -> int:
    return session.scalar(select(KbState.revision).where(KbState.id == 1)) or 0


def bump_revision(session: Session) -> None:
    updated = session.execute(
        update(KbState)
        .where(KbState.id == 1)
        .values(revision=KbState.revision + 1, updated_at=utcnow())
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        session.add(KbState(id=1, revision=1))


def find_document(session: Session, name: str) -> Document | None:
    return session.scalar(select(Document).where(Document.name == name))


def save_document(
    session: Session,
    parsed: ParsedDocument,
    content_hash: str,
    size_bytes: int,
    vectors: np.ndarray,
    embedder: str,
) -> Document:
    """Insert the document with its passages, replacing an earlier version of the same name."""
    old = find_document(session, parsed.name)
    if old is not None:
        session.delete(old)
        session.flush()
    doc = Document(
        name=parsed.name,
        source_type=parsed.source_type,
        content_hash=content_hash,
        size_bytes=size_bytes,
    )
    session.add(doc)
    session.flush()
    session.add_all(
        Passage(
            document_id=doc.id,
            position=i,
            entry_id=draft.entry_id,
            kind=draft.kind,
            title=draft.title,
            text=draft.text,
            answer=draft.answer,
            category=draft.category,
            url=draft.url,
            page=draft.page,
            embedding=vectors[i].astype(np.float32).tobytes(),
            embedder=embedder,
        )
        for i, draft in enumerate(parsed.passages)
    )
    bump_revision(session)
    return doc


def delete_document(session: Session, name: str) -> bool:
    doc = find_document(session, name)
    if doc is None:
        return False
    session.delete(doc)
    bump_revision(session)
    return True


def list_documents(session: Session) -> list[DocumentInfo]:
    rows = session.execute(
        select(
            Document,
            func.count(Passage.id),
            func.count(func.distinct(Passage.entry_id)),
        )
        .outerjoin(Passage)
        .group_by(Document.id)
        .order_by(Document.created_at.desc(), Document.id.desc())
    ).all()
    return [
        DocumentInfo(d.id, d.name, d.source_type, d.size_bytes, n, e, d.created_at)
        for d, n, e in rows
    ]


def count_passages(session: Session) -> int:
    return session.scalar(select(func.count(Passage.id))) or 0


def iter_passages(
    session: Session, batch: int = 2000
) -> Iterator[tuple[int, bytes, str, PassageMeta]]:
    """Every passage with its stored embedding, in id order, streamed in batches."""
    stmt = (
        select(Passage, Document.name)
        .join(Document)
        .order_by(Passage.id)
        .execution_options(yield_per=batch)
    )
    for p, doc_name in session.execute(stmt):
        meta = PassageMeta(
            p.entry_id, p.kind, p.title, p.text, p.answer, p.url, p.category, doc_name, p.page
        )
        yield p.id, p.embedding, p.embedder, meta


def set_embedding(session: Session, passage_id: int, vector: np.ndarray, embedder: str) -> None:
    session.execute(
        update(Passage)
        .where(Passage.id == passage_id)
        .values(embedding=vector.astype(np.float32).tobytes(), embedder=embedder)
    )
