"""Conversation tables. Knowledge-base tables live in `knowledge_base.tables` on the same Base."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatbot.core.vocabulary import MessageStatus
from knowledge_base.tables import Base, utcnow


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    title: Mapped[str] = mapped_column(String(200), default="")
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Set when an agent marks a handed-off conversation as handled.
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Comma-separated review labels, e.g. "wrong-answer,missing-faq".
    labels: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # The language of the latest customer message (ISO 639-1, e.g. "en", "zh"), for the
    # console's language column and filter; None until a message's language is known.
    language: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    # The signed-in customer's id on the shop's site, set only once the shop's signature
    # over it was verified (chatbot.web.widget.customer_id); None for anonymous customers.
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Message.id",
    )


# The columns of a conversation that staff read and act on (its title, handoff state,
# contact, labels and language): exported, and compared by open consoles to notice changes.
STAFF_VIEW_COLUMNS = (
    Conversation.title,
    Conversation.needs_human,
    Conversation.handoff_reason,
    Conversation.contact,
    Conversation.handled_at,
    Conversation.handled_by,
    Conversation.labels,
    Conversation.language,
)


class Message(Base):
    """A customer message or a bot answer. Bot answers carry decision, latency and sources."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    # A customer message's language (ISO 639-1); None for bot answers and older messages.
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # How the answer text was produced: generated | approved (stored FAQ answer) | passage
    # (generation replaced by the passage text) | canned (decline / handoff wording).
    answer_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    grounded: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # A generated draft the check withheld from the customer (all of it, or the part after the
    # sentences that were shown), and why, for staff review. `content` is what was shown.
    draft: Mapped[str | None] = mapped_column(Text, nullable=True)
    draft_rejection: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rewritten_query: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Customer feedback on a bot answer: +1 / -1, with an optional reason on thumbs-down.
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    rating_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # complete | error | timeout (the turn ran too long) | abandoned (the customer left)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.COMPLETE.value)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    sources: Mapped[list[MessageSource]] = relationship(
        back_populates="message",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MessageSource.rank",
    )


class MessageSource(Base):
    """A passage an answer used, with its score. Title and snippet are copied so the
    transcript still reads correctly after the document is deleted."""

    __tablename__ = "message_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    passage_id: Mapped[int | None] = mapped_column(
        ForeignKey("passages.id", ondelete="SET NULL"), nullable=True
    )
    entry_id: Mapped[str] = mapped_column(String(256))
    title: Mapped[str] = mapped_column(Text)
    snippet: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)  # of a PDF
    # Shown to the customer as a citation (the others were retrieved, for review only).
    cited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    message: Mapped[Message] = relationship(back_populates="sources")


class ConversationNote(Base):
    """A staff note on a conversation."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def new_credentials_version() -> str:
    return secrets.token_hex(16)


class StaffUser(Base):
    """A staff account for the console. Passwords are stored as argon2 hashes only."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # admin | agent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A new random value at every password change: a console session is valid only while it
    # matches the value its sign-in was checked against (see chatbot.staff.sessions).
    credentials_version: Mapped[str] = mapped_column(String(32), default=new_credentials_version)


class AuditEntry(Base):
    """Who changed what, when: every staff action that changes or exports data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class ApiKey(Base):
    """A key for the HTTP API (chatbot.staff.api_keys). Only a SHA-256 of the secret is
    stored; `prefix` (its first characters) tells keys apart in lists."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | agent | customer
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Webhook(Base):
    """A receiver staff registered for events (chatbot.notify). The secret signs every
    delivery (HMAC-SHA256), so it is stored as it is: a hash of it could not sign, and the
    receiver holds the same secret to check the signature. It is shown once, at creation."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Comma-separated event kinds (chatbot.core.vocabulary.EventKind), e.g.
    # "handoff.requested,rating.negative".
    events: Mapped[str] = mapped_column(String(512))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class WebhookDelivery(Base):
    """One event for one webhook: written when the event happens (an outbox), sent and
    retried by chatbot.notify.deliver. `payload` is the JSON body, kept as sent."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # pending | delivered | failed (chatbot.core.vocabulary.DeliveryStatus)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it is due (pending), or until when a worker has claimed it (being sent).
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
