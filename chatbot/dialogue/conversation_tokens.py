"""Server-minted, signed tokens that let a browser come back to its own conversation.

The chat page keeps a token in the browser's storage so that a reload brings the
conversation back. The browser can send anything, so the token is an HMAC-SHA256 signature
over the conversation id with a key only the server holds: a plain or altered id is refused,
and a customer can only return to a conversation the server itself handed to that browser.
The key lives in the data dir (created once, readable by the server's user only), so tokens
survive a restart; several servers sharing one database share the key through the setting
`CHATBOT_SERVER__SECRET_KEY`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

_PURPOSE = b"chatbot conversation v1:"
KEY_FILE = "secret.key"


def load_or_create_key(path: Path) -> bytes:
    """The key stored at `path`, created (32 random bytes, mode 0600) when missing."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    try:
        # Atomic and never overwrites: when two processes race, both end up with the winner's.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


class ConversationTokens:
    """`mint(id)` -> token; `verify(token)` -> the id, or None for anything not minted here."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the conversation token key must be at least 16 bytes")
        self._key = key

    def _signature(self, conversation_id: str) -> str:
        mac = hmac.new(self._key, _PURPOSE + conversation_id.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def mint(self, conversation_id: str) -> str:
        return f"{conversation_id}.{self._signature(conversation_id)}"

    def verify(self, token: object) -> str | None:
        if not isinstance(token, str) or len(token) > 200 or "." not in token:
            return None
        conversation_id, _, signature = token.rpartition(".")
        if not conversation_id or not hmac.compare_digest(
            signature, self._signature(conversation_id)
        ):
            return None
        return conversation_id
