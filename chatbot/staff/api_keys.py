"""Keys for the HTTP API (chatbot.api): created, listed and revoked by admins (through
`services.staff.keys`, chatbot.staff.actions), checked on every API request.

A key is `cb_live_<secret>` (staff roles) or `cb_pub_<secret>` (a customer key, meant for a
public page such as the website widget), the secret `secrets.token_urlsafe(32)`: 256 random
bits. Only its SHA-256 is stored. A fast, unsalted hash is right for a random token of that
strength (nobody can guess one, so there is nothing for a slow hash to slow down, and a
lookup by hash stays one indexed query); argon2, as for staff passwords
(chatbot.staff.auth), is for secrets people choose. The raw key is returned once, at
creation, and never stored or shown again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chatbot.staff.audit import InTransaction
from chatbot.staff.auth import check_name
from chatbot.storage.models import ApiKey
from knowledge_base.tables import utcnow

CUSTOMER = "customer"
KEY_ROLES = ("admin", "agent", CUSTOMER)
STAFF_PREFIX, PUBLIC_PREFIX = "cb_live_", "cb_pub_"
# Shown in lists: the kind of key and a few characters of its secret.
PREFIX_CHARS = 12
MAX_RATE = 100_000
DEFAULT_RATE = 60
# `last_used_at` is written at most this often per key, not on every request.
LAST_USED_EVERY_S = 60


class ApiKeyError(ValueError):
    """A key cannot be created or revoked; the message says what to do."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as lists show it: never its secret."""

    id: int
    name: str
    prefix: str
    role: str
    rate_per_minute: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewApiKey:
    info: ApiKeyInfo
    key: str  # the raw key: shown once


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        row.id,
        row.name,
        row.prefix,
        row.role,
        row.rate_per_minute,
        row.created_at,
        row.created_by,
        row.revoked_at,
        row.last_used_at,
    )


def check_key_role(role: str) -> str:
    if role not in KEY_ROLES:
        raise ApiKeyError(f"invalid role {role!r}: use one of {', '.join(KEY_ROLES)}")
    return role


def check_rate(rate: int) -> int:
    if not 1 <= rate <= MAX_RATE:
        raise ApiKeyError(f"invalid rate {rate}: use 1 to {MAX_RATE} requests per minute")
    return rate


class ApiKeys:
    """The stored keys. Creating and revoking take the caller's audit entry (`also`), written
    in the same transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self,
        name: str,
        role: str,
        rate_per_minute: int,
        created_by: str,
        also: InTransaction | None = None,
    ) -> NewApiKey:
        try:
            check_name(name)
        except ValueError as exc:
            raise ApiKeyError(str(exc).replace("user name", "key name")) from None
        check_key_role(role)
        check_rate(rate_per_minute)
        kind = PUBLIC_PREFIX if role == CUSTOMER else STAFF_PREFIX
        key = kind + secrets.token_urlsafe(32)
        row = ApiKey(
            name=name,
            prefix=key[:PREFIX_CHARS],
            key_hash=hash_key(key),
            role=role,
            rate_per_minute=rate_per_minute,
            created_by=created_by,
        )
        with self._sessions.begin() as s:
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # 256 random bits: never in practice
                raise ApiKeyError("could not store the new key; try again") from None
            if also is not None:
                also(s)
            return NewApiKey(_info(row), key)

    def list(self) -> list[ApiKeyInfo]:
        """Every key, newest first (revoked ones too, marked)."""
        with self._sessions() as s:
            rows = s.scalars(select(ApiKey).order_by(ApiKey.id.desc())).all()
            return [_info(r) for r in rows]

    def revoke(
        self, key_id: int, also: Callable[[Session, ApiKeyInfo], None] | None = None
    ) -> ApiKeyInfo:
        """Revoke a key: it is refused from the next request on. Raises ApiKeyError for an
        unknown or already revoked key."""
        with self._sessions.begin() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise ApiKeyError(f"no API key with id {key_id}: see `chatbot keys list`")
            if row.revoked_at is not None:
                raise ApiKeyError(f"API key {key_id} ({row.name}) is already revoked")
            row.revoked_at = utcnow()
            s.flush()
            info = _info(row)
            if also is not None:
                also(s, info)
            return info

    def verify(self, key: str) -> ApiKeyInfo | None:
        """The active key behind `key`, or None (unknown, malformed or revoked)."""
        if not key.startswith((STAFF_PREFIX, PUBLIC_PREFIX)) or len(key) > 200:
            return None
        digest = hash_key(key)
        with self._sessions.begin() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if row is None or row.revoked_at is not None:
                return None
            now = utcnow()
            last = row.last_used_at
            if last is not None and last.tzinfo is None:  # SQLite returns naive UTC
                last = last.replace(tzinfo=now.tzinfo)
            if last is None or (now - last).total_seconds() >= LAST_USED_EVERY_S:
                s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
            return _info(row)
