"""SQL for the staff's changes to a conversation: notes, labels, "handled" marks and staff
replies. Every function takes a session and never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.core.vocabulary import AnswerMode, DecisionKind, MessageStatus, Role
from chatbot.storage.models import Conversation, ConversationNote, Message
from chatbot.storage.review_search import ReviewError, clean_labels
from knowledge_base.tables import utcnow


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: datetime


def _conversation(session: Session, conversation_id: str) -> Conversation:
    conv = session.get(Conversation, conversation_id) if conversation_id else None
    if conv is None:
        raise ReviewError(f"conversation {conversation_id!r} was not found")
    return conv


def add_note(session: Session, conversation_id: str, author: str, text: str) -> ConversationNote:
    text = text.strip()
    if not text:
        raise ReviewError("a note needs some text")
    _conversation(session, conversation_id)
    note = ConversationNote(conversation_id=conversation_id, author=author[:64], text=text)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, conversation_id: str) -> list[NoteView]:
    """A conversation's staff notes, oldest first."""
    return [
        NoteView(n.id, n.author, n.text, n.created_at)
        for n in session.scalars(
            select(ConversationNote)
            .where(ConversationNote.conversation_id == conversation_id)
            .order_by(ConversationNote.id)
        )
    ]


def set_labels(
    session: Session, conversation_id: str, labels: list[str] | tuple[str, ...]
) -> tuple[str, ...]:
    """Replace a conversation's labels (vocabulary only); returns them in vocabulary order."""
    cleaned = clean_labels(labels)
    _conversation(session, conversation_id).labels = ",".join(cleaned) or None
    return cleaned


def mark_handled(session: Session, conversation_id: str, agent: str) -> None:
    conv = _conversation(session, conversation_id)
    if not conv.needs_human:
        raise ReviewError("this conversation was not handed off to a person")
    conv.handled_at = utcnow()
    conv.handled_by = agent[:64]


def staff_message_ids(session: Session, conversation_id: str) -> list[int]:
    """The ids of the conversation's staff replies, oldest first (none for an unknown one)."""
    query = (
        select(Message.id)
        .where(Message.conversation_id == conversation_id, Message.decision == DecisionKind.STAFF)
        .order_by(Message.id)
    )
    return list(session.scalars(query))


def add_staff_message(session: Session, conversation_id: str, agent: str, text: str) -> Message:
    """A reply typed by a staff member, stored like a bot answer (the customer sees it in the
    conversation) with decision and answer mode 'staff' and the agent's name as reason."""
    text = text.strip()
    if not text:
        raise ReviewError("a reply needs some text")
    conv = _conversation(session, conversation_id)
    msg = Message(
        conversation_id=conversation_id,
        role=Role.ASSISTANT,
        content=text,
        decision=DecisionKind.STAFF,
        reason=agent[:64],
        answer_mode=AnswerMode.STAFF,
        status=MessageStatus.COMPLETE,
    )
    session.add(msg)
    conv.updated_at = utcnow()
    session.flush()
    return msg
