"""Events the dialogue and the staff services announce, without knowing who listens.

The dialogue says *what happened* (`EventSink.publish`); the container decides where it goes
(webhook deliveries, chatbot.notify, or nowhere). A sink must be quick and must never raise
into a customer turn: the webhook sink only writes rows, and sending happens elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chatbot.core.vocabulary import EventKind

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One thing that happened in a conversation.

    `payload` holds no more personal data than staff see in the handoff queue, and in fact
    less: no message text, no contact details, no rating comment, only ids and machine words
    (the handoff reason, the conversation's language). A receiver that needs the words fetches
    the conversation with staff credentials, so a leaked webhook URL leaks no customer data.
    """

    kind: EventKind
    conversation_id: str
    message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_now)

    def as_json(self) -> dict[str, Any]:
        """The event as receivers read it (the body of a webhook delivery)."""
        return {
            "event": str(self.kind),
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "created_at": self.at.isoformat(),
            "data": dict(self.payload),
        }


class EventSink(Protocol):
    def publish(self, event: Event) -> None:
        """Record `event`; quick, and never raising into the caller."""


class NoEvents:
    """The default sink: events go nowhere."""

    def publish(self, event: Event) -> None:
        return None


def publish_safely(sink: EventSink, event: Event) -> None:
    """Publish, logging (not raising) any failure: a notification is never worth a turn."""
    try:
        sink.publish(event)
    except Exception:
        log.exception("could not record the %s event", event.kind)
