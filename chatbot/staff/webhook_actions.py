"""Webhooks as staff actions: register, list, remove, pause/resume, test-send, and the
deliveries' status. Admins only: a webhook sends conversation events out of the shop's
systems. Each change writes its audit entry in its own transaction (chatbot.staff.audit)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.events import Event
from chatbot.core.vocabulary import EventKind
from chatbot.notify import hooks
from chatbot.notify.hooks import DeliveryInfo, NewWebhook, WebhookError, WebhookInfo
from chatbot.staff.actor import Actor, require_admin
from chatbot.staff.audit import add_entry

HOOK_ADD, HOOK_REMOVE, HOOK_ACTIVE, HOOK_TEST = (
    "webhook.add",
    "webhook.remove",
    "webhook.active",
    "webhook.test",
)
MANAGE_WEBHOOKS = "manage webhooks"
# The conversation id of a test delivery: there is no conversation behind it.
TEST_CONVERSATION = "test"

__all__ = ["DeliveryInfo", "NewWebhook", "WebhookActions", "WebhookError", "WebhookInfo"]


class WebhookActions:
    """Admins only (Forbidden otherwise); WebhookError for a bad URL, event or id."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, actor: Actor, url: str, events: list[str]) -> NewWebhook:
        """Register `url` for `events`; the result holds the secret, to be shown once."""
        require_admin(actor, MANAGE_WEBHOOKS)
        with self._sessions.begin() as s:
            new = hooks.add_webhook(s, url, events, actor.name)
            details = f"#{new.info.id}, events {', '.join(new.info.events)}"
            add_entry(s, actor.name, HOOK_ADD, new.info.url, details)
            return new

    def remove(self, actor: Actor, webhook_id: int) -> WebhookInfo:
        """Delete the webhook and its deliveries (nothing more is sent to it)."""
        require_admin(actor, MANAGE_WEBHOOKS)
        with self._sessions.begin() as s:
            gone = hooks.remove_webhook(s, webhook_id)
            add_entry(s, actor.name, HOOK_REMOVE, gone.url, f"#{gone.id}")
            return gone

    def set_active(self, actor: Actor, webhook_id: int, active: bool) -> WebhookInfo:
        """Pause (no deliveries are written for it) or resume a webhook."""
        require_admin(actor, MANAGE_WEBHOOKS)
        with self._sessions.begin() as s:
            info = hooks.set_active(s, webhook_id, active)
            state = "resumed" if active else "paused"
            add_entry(s, actor.name, HOOK_ACTIVE, info.url, f"#{info.id} {state}")
            return info

    def send_test(self, actor: Actor, webhook_id: int) -> None:
        """Queue a `webhook.test` delivery to this webhook (sent like any other)."""
        require_admin(actor, MANAGE_WEBHOOKS)
        with self._sessions.begin() as s:
            hook = hooks.get_webhook(s, webhook_id)
            if not hook.active:
                raise WebhookError(f"webhook {webhook_id} is paused: resume it first")
            event = Event(EventKind.TEST, TEST_CONVERSATION, None, {"sent_by": actor.name})
            hooks.enqueue(s, event, only=webhook_id)
            add_entry(s, actor.name, HOOK_TEST, hook.url, f"#{hook.id}")

    def deliveries(
        self, actor: Actor, *, failed_only: bool = False, limit: int = 100
    ) -> list[DeliveryInfo]:
        """The latest deliveries, newest first."""
        require_admin(actor, "see webhook deliveries")
        with self._sessions() as s:
            return hooks.list_deliveries(s, failed_only=failed_only, limit=limit)

    # Last: below this method, `list` in an annotation would name it, not the type.
    def list(self, actor: Actor) -> list[WebhookInfo]:
        """Every webhook, oldest first, with its latest delivery's status."""
        require_admin(actor, MANAGE_WEBHOOKS)
        with self._sessions() as s:
            return hooks.list_webhooks(s)
