"""The event sink the container gives the dialogue: each event becomes delivery rows (an
outbox), which chatbot.notify.deliver sends. Writing a row is all a customer turn waits for."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.events import Event
from chatbot.notify.hooks import enqueue

log = logging.getLogger(__name__)


class WebhookOutbox:
    """An `EventSink` writing one pending delivery per subscribed active webhook."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def publish(self, event: Event) -> None:
        # Right after the turn's own transaction: the customer's message is safe already,
        # and a failure here (a locked database) costs a notification, never the turn.
        try:
            with self._sessions.begin() as s:
                enqueue(s, event)
        except Exception:
            log.exception("could not record the %s event for webhooks", event.kind)
