"""The delivery worker: sends due webhook deliveries, signed, and retries failures with
backoff. One background thread per server (started by chatbot.container.start_server);
several servers on one PostgreSQL database never send the same delivery twice at once.

A delivery is claimed before it is sent: its next_attempt_at is moved CLAIM_S ahead, in a
transaction that only succeeds for one worker (SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL; on SQLite, whose writers queue anyway, an UPDATE whose condition still requires
it to be due). A worker that dies mid-send leaves the claim to expire, and the delivery is
tried again: receivers may see a delivery twice and should ignore a repeated
X-Chatbot-Delivery id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.vocabulary import DeliveryStatus
from chatbot.notify.signing import signature
from chatbot.storage.models import Webhook, WebhookDelivery
from knowledge_base.tables import utcnow

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed attempt; after the last one the delivery is failed.
BACKOFF_S = (10, 60, 300, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_S) + 1
TIMEOUT_S = 5.0
# Longer than one send may take (the timeout), so a claim never expires mid-send.
CLAIM_S = 60
POLL_S = 2.0
BATCH = 20
ERROR_CHARS = 500
USER_AGENT = "chatbot-webhooks/1"

Clock = Callable[[], datetime]


class DeliveryWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock = utcnow,
        client: httpx.Client | None = None,
        poll_s: float = POLL_S,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        """`clock` and `wait` (the pause between polls; it returns early once stopped) are
        for tests, which run `run_once` on a clock of their own."""
        self._sessions = sessions
        self._clock = clock
        self._client = client or httpx.Client(
            timeout=TIMEOUT_S, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None
        self._postgres = sessions.kw["bind"].dialect.name == "postgresql"

    # ---- one pass -------------------------------------------------------------------------
    def run_once(self) -> int:
        """Send every delivery due now; returns how many were attempted."""
        claimed = self._claim(self._clock())
        for delivery_id in claimed:
            self._send(delivery_id)
        return len(claimed)

    def _claim(self, now: datetime) -> list[int]:
        lease = now + timedelta(seconds=CLAIM_S)
        due = (
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        with self._sessions.begin() as s:
            query = (
                select(WebhookDelivery.id)
                .where(*due)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(BATCH)
            )
            if self._postgres:
                # Rows another worker holds are skipped, not waited for.
                query = query.with_for_update(skip_locked=True)
            claimed = []
            for delivery_id in s.scalars(query).all():
                moved = s.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id, *due)
                    .values(next_attempt_at=lease)
                )
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(delivery_id)
        return claimed

    def _send(self, delivery_id: int) -> None:
        with self._sessions() as s:
            row = s.execute(
                select(WebhookDelivery.payload, WebhookDelivery.event, Webhook.url, Webhook.secret)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id == delivery_id)
            ).first()
        if row is None:  # the webhook was removed meanwhile
            return
        body = row.payload.encode()
        now = self._clock()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Chatbot-Event": row.event,
            "X-Chatbot-Delivery": str(delivery_id),
            "X-Chatbot-Timestamp": str(timestamp),
            "X-Chatbot-Signature": signature(row.secret, timestamp, body),
        }
        code: int | None = None
        error: str | None = None
        try:
            response = self._client.post(row.url, content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record(delivery_id, code, error)

    def _record(self, delivery_id: int, code: int | None, error: str | None) -> None:
        now = self._clock()
        with self._sessions.begin() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                return
            d.attempts += 1
            d.last_status_code = code
            d.last_error = error[:ERROR_CHARS] if error else None
            if error is None:
                d.status = DeliveryStatus.DELIVERED
                d.delivered_at = now
            elif d.attempts >= MAX_ATTEMPTS:
                d.status = DeliveryStatus.FAILED
                log.warning("webhook delivery %d failed for good: %s", delivery_id, error)
            else:
                d.next_attempt_at = now + timedelta(seconds=BACKOFF_S[d.attempts - 1])
                log.info("webhook delivery %d will be retried: %s", delivery_id, error)

    # ---- the background thread --------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="webhook-deliveries", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = TIMEOUT_S + 1) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # a locked or unreachable database: try again next poll
                log.warning("webhook deliveries could not be sent now (%s)", type(exc).__name__)
            self._wait(self._poll_s)
