"""SQL access for documents and passages. Functions take a session and never commit:
the caller owns the transaction (one per ingested file or edited entry)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from knowledge_base.records import (
    FAILED,
    INGESTED,
    DocumentInfo,
    ParsedDocument,
    PassageDraft,
    PassageMeta,
    PassageView,
    SavedPassages,
)
from knowledge_base.tables import Document, KbState, Passage, utcnow

# content_hash of a document whose entries staff edited (no uploaded file matches it any more,
# so uploading the original again replaces the edits) and of the staff-edited entries document.
EDITED_HASH = "edited"
MANUAL_HASH = "manual"
FAQ_KINDS = ("question", "answer")


def revision(session: Session) -> int:
    return session.scalar(select(KbState.revision).where(KbState.id == 1)) or 0


def bump_revision(session: Session) -> int:
    """Increase the knowledge-base revision and return the new one.

    Run it first in a write transaction: it takes the database's write lock (SQLite) or the
    kb_state row lock (PostgreSQL), so writers from all processes are serialised and the
    revision this returns is exactly the one the transaction commits.
    """
    new = session.execute(
        update(KbState)
        .where(KbState.id == 1)
        .values(revision=KbState.revision + 1, updated_at=utcnow())
        .returning(KbState.revision)
    ).scalar()
    if new is None:
        session.add(KbState(id=1, revision=1))
        session.flush()
        return 1
    return int(new)


def lock_revision(session: Session) -> None:
    """Take the lock a writer's `bump_revision` takes, without changing anything: until this
    transaction ends no other write can commit, so reads in it are consistent."""
    session.execute(
        update(KbState).where(KbState.id == 1).values(revision=KbState.revision),
        execution_options={"synchronize_session": False},
    )


def find_document(session: Session, name: str) -> Document | None:
    return session.scalar(select(Document).where(Document.name == name))


def insert_passages(
    session: Session,
    document_id: int,
    drafts: Sequence[PassageDraft],
    vectors: np.ndarray,
    embedder: str,
    first_position: int = 0,
) -> list[int]:
    """Bulk-insert passages with their embeddings; returns the new ids in the given order."""
    if not drafts:
        return []
    rows = [
        {
            "document_id": document_id,
            "position": first_position + i,
            "entry_id": d.entry_id,
            "kind": d.kind,
            "title": d.title,
            "text": d.text,
            "answer": d.answer,
            "category": d.category,
            "url": d.url,
            "page": d.page,
            "embedding": np.asarray(vectors[i], dtype=np.float32).tobytes(),
            "embedder": embedder,
        }
        for i, d in enumerate(drafts)
    ]
    stmt = insert(Passage).returning(Passage.id, sort_by_parameter_order=True)
    return [int(i) for i in session.scalars(stmt, rows)]


def _passage_ids(session: Session, document_id: int) -> list[int]:
    return list(session.scalars(select(Passage.id).where(Passage.document_id == document_id)))


def save_document(
    session: Session,
    parsed: ParsedDocument,
    content_hash: str,
    size_bytes: int,
    vectors: np.ndarray,
    embedder: str,
) -> SavedPassages:
    """Store the document with its passages. An earlier version of the same name (or a failed
    upload of it) is replaced in place: its passages go, the document row is updated."""
    now = utcnow()
    doc = find_document(session, parsed.name)
    removed: list[int] = []
    if doc is None:
        doc = Document(
            name=parsed.name,
            source_type=parsed.source_type,
            content_hash=content_hash,
            size_bytes=size_bytes,
            status=INGESTED,
            error=None,
            created_at=now,
            updated_at=now,
        )
        session.add(doc)
        session.flush()
    else:
        removed = _passage_ids(session, doc.id)
        session.execute(
            delete(Passage).where(Passage.document_id == doc.id),
            execution_options={"synchronize_session": False},
        )
        doc.source_type = parsed.source_type
        doc.content_hash = content_hash
        doc.size_bytes = size_bytes
        doc.status = INGESTED
        doc.error = None
        doc.updated_at = now
    added = insert_passages(session, doc.id, parsed.passages, vectors, embedder)
    return SavedPassages(doc.id, doc.name, removed, added)


def record_failure(
    session: Session,
    name: str,
    source_type: str,
    content_hash: str,
    size_bytes: int,
    error: str,
) -> bool:
    """Remember a failed upload (a row with status 'failed' and the reason, no passages).

    A good earlier version of the same name is kept untouched; returns False in that case.
    """
    now = utcnow()
    doc = find_document(session, name)
    if doc is not None and doc.status != FAILED:
        return False
    if doc is None:
        session.add(
            Document(
                name=name,
                source_type=source_type,
                content_hash=content_hash,
                size_bytes=size_bytes,
                status=FAILED,
                error=error,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        doc.source_type = source_type
        doc.content_hash = content_hash
        doc.size_bytes = size_bytes
        doc.error = error
        doc.updated_at = now
    return True


def delete_document(session: Session, name: str) -> SavedPassages | None:
    """Delete a document (failed or not) with its passages; None when there is no such name."""
    doc = find_document(session, name)
    if doc is None:
        return None
    removed = _passage_ids(session, doc.id)
    session.execute(
        delete(Passage).where(Passage.document_id == doc.id),
        execution_options={"synchronize_session": False},
    )
    session.delete(doc)
    return SavedPassages(doc.id, name, removed, [])


def list_documents(session: Session) -> list[DocumentInfo]:
    """Every document, most recently uploaded first."""
    rows = session.execute(
        select(
            Document,
            func.count(Passage.id),
            func.count(func.distinct(Passage.entry_id)),
        )
        .outerjoin(Passage)
        .group_by(Document.id)
        .order_by(
            func.coalesce(Document.updated_at, Document.created_at).desc(), Document.id.desc()
        )
    ).all()
    return [
        DocumentInfo(
            d.id,
            d.name,
            d.source_type,
            d.size_bytes,
            n,
            e,
            d.created_at,
            d.status,
            d.error,
            d.updated_at,
        )
        for d, n, e in rows
    ]


def document_passages(session: Session, name: str) -> list[PassageView] | None:
    """The passages a document became, in document order; None when there is no such name."""
    doc_id = session.scalar(select(Document.id).where(Document.name == name))
    if doc_id is None:
        return None
    rows = session.execute(
        select(
            Passage.id,
            Passage.position,
            Passage.kind,
            Passage.entry_id,
            Passage.title,
            Passage.page,
            Passage.text,
        )
        .where(Passage.document_id == doc_id)
        .order_by(Passage.position, Passage.id)
    ).all()
    return [PassageView(*row) for row in rows]


def count_passages(session: Session, document_id: int | None = None) -> int:
    stmt = select(func.count(Passage.id))
    if document_id is not None:
        stmt = stmt.where(Passage.document_id == document_id)
    return session.scalar(stmt) or 0


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


def iter_passage_meta(
    session: Session, batch: int = 5000
) -> Iterator[tuple[int, str, PassageMeta]]:
    """Every passage's id, embedder name and metadata (no embedding), in id order."""
    stmt = (
        select(
            Passage.id,
            Passage.embedder,
            Passage.entry_id,
            Passage.kind,
            Passage.title,
            Passage.text,
            Passage.answer,
            Passage.url,
            Passage.category,
            Document.name,
            Passage.page,
        )
        .join(Document)
        .order_by(Passage.id)
        .execution_options(yield_per=batch)
    )
    for pid, embedder, *fields in session.execute(stmt):
        yield pid, embedder, PassageMeta(*fields)


def iter_embeddings(
    session: Session, embedder: str, batch: int = 5000
) -> Iterator[tuple[int, bytes]]:
    """(id, embedding) of the passages embedded with `embedder`, in id order."""
    stmt = (
        select(Passage.id, Passage.embedding)
        .where(Passage.embedder == embedder)
        .order_by(Passage.id)
        .execution_options(yield_per=batch)
    )
    for row in session.execute(stmt):
        yield row.id, row.embedding


def set_embedding(session: Session, passage_id: int, vector: np.ndarray, embedder: str) -> None:
    session.execute(
        update(Passage)
        .where(Passage.id == passage_id)
        .values(embedding=vector.astype(np.float32).tobytes(), embedder=embedder)
    )


# ---- single FAQ entries ------------------------------------------------------------------
def faq_entry_ids(session: Session) -> list[str]:
    """Ids of every FAQ entry (not prose sections), sorted."""
    return list(
        session.scalars(
            select(Passage.entry_id)
            .where(Passage.kind.in_(FAQ_KINDS))
            .distinct()
            .order_by(Passage.entry_id)
        )
    )


def entry_exists(session: Session, entry_id: str) -> bool:
    return (
        session.scalar(select(Passage.id).where(Passage.entry_id == entry_id).limit(1)) is not None
    )


def entry_passages(session: Session, entry_id: str) -> list[Passage]:
    """The passages of one entry, in order. Should two documents use the same entry id, the
    entry of the earliest document is meant."""
    doc_id = session.scalar(
        select(func.min(Passage.document_id)).where(Passage.entry_id == entry_id)
    )
    if doc_id is None:
        return []
    return list(
        session.scalars(
            select(Passage)
            .where(Passage.document_id == doc_id, Passage.entry_id == entry_id)
            .order_by(Passage.position, Passage.id)
        )
    )


def manual_document(session: Session, name: str) -> Document:
    """The document that holds entries staff added one by one (created on first use)."""
    doc = find_document(session, name)
    if doc is None:
        now = utcnow()
        doc = Document(
            name=name,
            source_type="manual",
            content_hash=MANUAL_HASH,
            size_bytes=0,
            status=INGESTED,
            created_at=now,
            updated_at=now,
        )
        session.add(doc)
        session.flush()
    return doc


def replace_entry(
    session: Session,
    entry_id: str,
    drafts: Sequence[PassageDraft],
    vectors: np.ndarray,
    embedder: str,
    manual_name: str,
) -> SavedPassages:
    """Put an entry's passages in place of its old ones (same document, same place), or add a
    new entry at the end of the staff-edited document. Other passages keep their ids."""
    old = entry_passages(session, entry_id)
    if old:
        doc = session.get_one(Document, old[0].document_id)
        first = old[0].position
        removed = _remove_passages(session, old)
        rest = session.execute(
            select(Passage.id, Passage.position)
            .where(Passage.document_id == doc.id)
            .order_by(Passage.position, Passage.id)
        ).all()
        before = [pid for pid, pos in rest if pos < first]
        after = [(pid, pos) for pid, pos in rest if pos >= first]
        start = len(before)
        moves = [
            {"id": pid, "position": i} for i, (pid, pos) in enumerate(rest[:start]) if pos != i
        ]
        moves += [
            {"id": pid, "position": start + len(drafts) + i}
            for i, (pid, pos) in enumerate(after)
            if pos != start + len(drafts) + i
        ]
        if moves:
            session.execute(update(Passage), moves)
        if doc.content_hash != MANUAL_HASH:
            doc.content_hash = EDITED_HASH
    else:
        removed = []
        doc = manual_document(session, manual_name)
        last = session.scalar(
            select(func.max(Passage.position)).where(Passage.document_id == doc.id)
        )
        start = 0 if last is None else last + 1
    added = insert_passages(session, doc.id, drafts, vectors, embedder, first_position=start)
    _touch(session, doc)
    return SavedPassages(doc.id, doc.name, removed, added)


def delete_entry(session: Session, entry_id: str) -> SavedPassages | None:
    """Delete one entry's passages; a document left with none is deleted too."""
    old = entry_passages(session, entry_id)
    if not old:
        return None
    doc = session.get_one(Document, old[0].document_id)
    removed = _remove_passages(session, old)
    remaining = session.scalar(select(func.count(Passage.id)).where(Passage.document_id == doc.id))
    if not remaining:
        session.delete(doc)
    else:
        if doc.content_hash != MANUAL_HASH:
            doc.content_hash = EDITED_HASH
        _touch(session, doc)
    return SavedPassages(doc.id, doc.name, removed, [])


def _remove_passages(session: Session, passages: list[Passage]) -> list[int]:
    """Delete these loaded passages in one statement; returns their ids. They leave the
    session too, so it does not try to flush the rows the statement already deleted."""
    removed = [p.id for p in passages]
    session.execute(
        delete(Passage).where(Passage.id.in_(removed)),
        execution_options={"synchronize_session": False},
    )
    for p in passages:
        session.expunge(p)
    return removed


def _touch(session: Session, doc: Document) -> None:
    doc.updated_at = utcnow()
    if doc.content_hash == MANUAL_HASH:  # its size is that of the text staff typed
        doc.size_bytes = (
            session.scalar(
                select(func.coalesce(func.sum(func.length(Passage.text)), 0)).where(
                    Passage.document_id == doc.id
                )
            )
            or 0
        )
