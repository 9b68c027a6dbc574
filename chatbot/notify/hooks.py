"""The webhooks staff registered, and their deliveries: stored and read, no role checks (the
staff actions in chatbot.staff.webhook_actions check them)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.core.events import Event
from chatbot.core.vocabulary import DeliveryStatus, EventKind
from chatbot.notify.signing import new_secret
from chatbot.storage.models import Webhook, WebhookDelivery
from knowledge_base.tables import utcnow

URL_CHARS = 2048
# The events staff can subscribe to (the test event is sent on request only).
SUBSCRIBABLE = (
    EventKind.HANDOFF_REQUESTED,
    EventKind.CUSTOMER_MESSAGE,
    EventKind.RATING_NEGATIVE,
)


class WebhookError(ValueError):
    """Bad input for a webhook (its URL, its events, an unknown id); the message is for staff."""


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    created_by: str
    # The latest delivery's status and when it was made (None: nothing sent yet).
    last_status: str | None = None
    last_at: datetime | None = None


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just registered, with its secret: shown this once."""

    info: WebhookInfo
    secret: str


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    url: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def check_url(url: str) -> str:
    """`url` stripped, or WebhookError saying why it cannot be a receiver."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"a webhook URL starts with http:// or https://, not {url!r}")
    if not parts.hostname:
        raise WebhookError(f"the webhook URL {url!r} names no host")
    if len(url) > URL_CHARS:
        raise WebhookError(f"a webhook URL is at most {URL_CHARS} characters")
    return url


def check_events(events: Iterable[str]) -> tuple[EventKind, ...]:
    chosen: list[EventKind] = []
    for name in events:
        try:
            kind = EventKind(name.strip())
        except ValueError:
            kind = None
        if kind not in SUBSCRIBABLE:
            known = ", ".join(SUBSCRIBABLE)
            raise WebhookError(f"no event {name!r}; the events are: {known}")
        if kind not in chosen:
            chosen.append(kind)
    if not chosen:
        raise WebhookError("choose at least one event for the webhook")
    return tuple(chosen)


def _events(row: Webhook) -> tuple[str, ...]:
    return tuple(e for e in row.events.split(",") if e)


def _info(row: Webhook, last: WebhookDelivery | None = None) -> WebhookInfo:
    return WebhookInfo(
        row.id,
        row.url,
        _events(row),
        row.active,
        row.created_at,
        row.created_by,
        last.status if last else None,
        last.created_at if last else None,
    )


def add_webhook(session: Session, url: str, events: Iterable[str], created_by: str) -> NewWebhook:
    row = Webhook(
        url=check_url(url),
        events=",".join(check_events(events)),
        secret=new_secret(),
        active=True,
        created_by=created_by[:64],
    )
    session.add(row)
    session.flush()
    return NewWebhook(_info(row), row.secret)


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    row = session.get(Webhook, webhook_id)
    if row is None:
        raise WebhookError(f"no webhook {webhook_id}: see the list of webhooks")
    return row


def remove_webhook(session: Session, webhook_id: int) -> WebhookInfo:
    """Delete the webhook and its deliveries."""
    row = get_webhook(session, webhook_id)
    info = _info(row)
    session.query(WebhookDelivery).filter(WebhookDelivery.webhook_id == webhook_id).delete()
    session.delete(row)
    session.flush()
    return info


def set_active(session: Session, webhook_id: int, active: bool) -> WebhookInfo:
    row = get_webhook(session, webhook_id)
    row.active = active
    session.flush()
    return _info(row)


def list_webhooks(session: Session) -> list[WebhookInfo]:
    """Every webhook, oldest first, with its latest delivery's status."""
    latest = (
        select(WebhookDelivery.webhook_id, func.max(WebhookDelivery.id).label("last_id"))
        .group_by(WebhookDelivery.webhook_id)
        .subquery()
    )
    rows = session.execute(
        select(Webhook, WebhookDelivery)
        .outerjoin(latest, latest.c.webhook_id == Webhook.id)
        .outerjoin(WebhookDelivery, WebhookDelivery.id == latest.c.last_id)
        .order_by(Webhook.id)
    ).all()
    return [_info(hook, last) for hook, last in rows]


def list_deliveries(
    session: Session, *, failed_only: bool = False, limit: int = 100
) -> list[DeliveryInfo]:
    """The latest deliveries, newest first."""
    query = select(WebhookDelivery, Webhook.url).join(
        Webhook, Webhook.id == WebhookDelivery.webhook_id
    )
    if failed_only:
        query = query.where(WebhookDelivery.status == DeliveryStatus.FAILED)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()
    return [
        DeliveryInfo(
            d.id,
            d.webhook_id,
            url,
            d.event,
            d.status,
            d.attempts,
            d.next_attempt_at,
            d.last_status_code,
            d.last_error,
            d.created_at,
            d.delivered_at,
        )
        for d, url in rows
    ]


def enqueue(session: Session, event: Event, only: int | None = None) -> int:
    """One pending delivery per active webhook subscribed to `event` (or for webhook `only`,
    whatever it subscribes to: a test send); returns how many."""
    query = select(Webhook).where(Webhook.active.is_(True))
    if only is not None:
        query = query.where(Webhook.id == only)
    body = json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":"))
    now = utcnow()
    count = 0
    for hook in session.scalars(query):
        if only is None and event.kind not in _events(hook):
            continue
        session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                event=str(event.kind),
                payload=body,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        count += 1
    session.flush()
    return count
