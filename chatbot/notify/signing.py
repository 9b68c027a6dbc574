"""How a delivery is signed, and how a receiver checks it (the Stripe / GitHub style).

The signature is HMAC-SHA256, keyed with the webhook's secret, of "<timestamp>.<body>": the
timestamp (Unix seconds, also sent as X-Chatbot-Timestamp) is signed with the body, so a
receiver that refuses old timestamps cannot be fooled by a replayed request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SCHEME = "sha256="
# A receiver should refuse deliveries signed longer ago than this (replays).
TOLERANCE_S = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Chatbot-Signature header value: "sha256=<hex>"."""
    signed = str(timestamp).encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """What a receiver does: the header matches (compared in constant time) and the timestamp
    is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)
