"""Signed customer ids: a shop's site may say which of its signed-in customers is chatting.

The widget runs in the customer's browser, so an id it sends proves nothing by itself. The
shop's own backend therefore signs it with a secret it shares with this server
(`CHATBOT_WIDGET__CUSTOMER_ID_SECRET`): the signature is the HMAC-SHA256, in hex, of
`<customer id>.<expires>`, where `expires` is a Unix time in seconds. The expiry is part of
every signature: the signature sits in the shop's page (caches, shared computers), and with
an optional expiry the signed text of the id `a.1900000000` without one would equal that of
`a` expiring in 1900000000, letting one customer pose as another. The expiry has no dots, so
the text always splits into one id and one time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import unicodedata
from datetime import UTC, datetime

SECRET_SETTING = "CHATBOT_WIDGET__CUSTOMER_ID_SECRET"
MAX_CUSTOMER_ID_CHARS = 128
SIGNATURE = re.compile(r"[0-9a-f]{64}")
HOW = (
    "the shop's backend signs `<customer id>.<expires>` (expires: Unix seconds) with "
    f"HMAC-SHA256 and the secret in {SECRET_SETTING}, in hex"
)


class CustomerIdRefused(Exception):
    """Why a customer id was not accepted, as an HTTP status, a code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def signed_text(customer_id: str, expires: int) -> bytes:
    return f"{customer_id}.{expires}".encode()


def sign(secret: str, customer_id: str, expires: int) -> str:
    """The signature the shop's backend makes (README "Website widget" shows it in Python
    and with openssl)."""
    return hmac.new(secret.encode(), signed_text(customer_id, expires), hashlib.sha256).hexdigest()


def _check_id(customer_id: str) -> None:
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_CHARS:
        raise CustomerIdRefused(
            422,
            "invalid_request",
            f"customer_id must be 1 to {MAX_CUSTOMER_ID_CHARS} characters long.",
        )
    if any(unicodedata.category(c).startswith("C") for c in customer_id):
        raise CustomerIdRefused(
            422, "invalid_request", "customer_id must not contain control characters."
        )


def verify(
    secret: str | None,
    customer_id: str,
    signature: str | None,
    expires: int | None,
    now: float | None = None,
) -> str:
    """The customer id, when `signature` is the shop's signature over it and `expires` has
    not passed; else raises CustomerIdRefused saying what is wrong."""
    if secret is None:
        raise CustomerIdRefused(
            403,
            "customer_id_not_accepted",
            "This server does not accept customer ids: its operator has not set "
            f"{SECRET_SETTING}. Start the conversation without customer_id, or set the secret "
            "on the server and sign the ids with it.",
        )
    _check_id(customer_id)
    if not signature or expires is None:
        missing = "customer_signature" if not signature else "customer_expires"
        raise CustomerIdRefused(403, "invalid_signature", f"customer_id needs {missing}: {HOW}.")
    given = signature.strip().lower()
    expected = sign(secret, customer_id, expires)
    # compare_digest also for a malformed value, so its time never tells how much matched.
    if not hmac.compare_digest(given.encode(), expected.encode()) or not SIGNATURE.fullmatch(given):
        raise CustomerIdRefused(
            403,
            "invalid_signature",
            f"customer_signature does not match customer_id and customer_expires: {HOW}.",
        )
    current = time.time() if now is None else now
    if expires <= current:
        when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        raise CustomerIdRefused(
            403,
            "signature_expired",
            f"The customer id's signature expired at {when}; the shop's site must sign the "
            "id again (with a later expires) when it renders the page.",
        )
    return customer_id
