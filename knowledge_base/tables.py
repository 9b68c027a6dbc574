"""SQL tables for the knowledge base and the one declarative Base the whole app shares.

SQL is the source of truth: passages and their embeddings live here, and the FAISS index is
derived from them. `kb_state.revision` increases with every change, so any process can tell
whether its in-memory index is stale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The app's only declarative base; a naming convention keeps migration names stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Document(Base):
    """An uploaded file (or the bundled sample knowledge base)."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(512), unique=True)
    source_type: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    # ingested | failed (a failed upload keeps its row and reason, never any passages)
    status: Mapped[str] = mapped_column(String(16), default="ingested", server_default="ingested")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=True
    )

    passages: Mapped[list[Passage]] = relationship(
        back_populates="document",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Passage.position",
    )


class Passage(Base):
    """One retrievable unit: an FAQ phrasing, an FAQ answer, or a chunk of prose.

    Passages of the same FAQ entry share `entry_id`; retrieval scores entries, not phrasings.
    """

    __tablename__ = "passages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[str] = mapped_column(String(256), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # question | answer | text
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(256), nullable=True)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedder: Mapped[str] = mapped_column(String(512))

    document: Mapped[Document] = relationship(back_populates="passages")


class KbState(Base):
    """A single row whose revision increases with every knowledge-base change."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # The decline threshold picked for this knowledge base, and how (see chatbot calibrate).
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    threshold_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # One calibration per customer language ({"zh": {"threshold": ..., "method": ...}, ...});
    # `threshold` above is the English one.
    thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
