"""Staff accounts for the console: names, roles and argon2 password hashes.

There is no default password anywhere. On the first start `ensure_first_admin()` creates
"admin" with a random password that `chatbot serve` prints once; `chatbot users ...` manages
the rest. Each user has a credentials version, replaced at every password change; console
sessions hold the version their sign-in was checked against (see chatbot.staff.sessions), so
a new password or removing the user ends them.
"""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage.models import StaffUser, new_credentials_version

ROLES = ("admin", "agent")
FIRST_ADMIN = "admin"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this only bounds the work per login
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Runs inside a change's transaction: the caller's own rows (an audit entry) go with it.
InTransaction = Callable[[Session], None]


class AccountError(ValueError):
    """A staff account cannot be created or changed; the message says what to do."""


@dataclass(frozen=True)
class StaffInfo:
    name: str
    role: str
    created_at: datetime


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(
            f"invalid user name {name!r}: use 1-64 characters from letters, digits, '.', '_' "
            "and '-'"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"the password is too short ({len(password)} characters): use at least "
            f"{MIN_PASSWORD_CHARS}"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD_CHARS} characters")
    return password


class StaffAccounts:
    """Create staff users, change their passwords, and check a login. Roles: admin, agent."""

    def __init__(self, sessions: sessionmaker[Session], hasher: PasswordHasher | None = None):
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        """Verified against when the name is unknown, so a login takes as long either way."""
        return self._hasher.hash(secrets.token_urlsafe(16))

    def add(
        self, name: str, password: str, role: str = "agent", also: InTransaction | None = None
    ) -> StaffInfo:
        """Create a user. Raises AccountError (a ValueError) for a bad name, role or password,
        or when the name is taken. `also` runs in the same transaction once the user is
        added (the caller's audit entry): if it raises, no user is created."""
        check_name(name)
        check_role(role)
        check_password(password)
        user = StaffUser(name=name, password_hash=self._hasher.hash(password), role=role)
        with self._sessions.begin() as s:
            if s.scalar(select(StaffUser.id).where(StaffUser.name == name)) is not None:
                raise AccountError(
                    f"staff user {name!r} already exists: change the password with "
                    f"`chatbot users passwd {name}`"
                )
            s.add(user)
            try:
                s.flush()
            except IntegrityError:  # created by another process in between
                raise AccountError(f"staff user {name!r} already exists") from None
            if also is not None:
                also(s)
        return StaffInfo(user.name, user.role, user.created_at)

    def set_password(self, name: str, password: str, also: InTransaction | None = None) -> None:
        """Replace a user's password. Raises AccountError for an unknown user or bad password.
        `also` runs in the same transaction (see `add`)."""
        check_password(password)
        new_hash = self._hasher.hash(password)
        with self._sessions.begin() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.name == name))
            if user is None:
                raise AccountError(
                    f"no staff user {name!r}: see `chatbot users list`, or create it with "
                    f"`chatbot users add {name}`"
                )
            user.password_hash = new_hash
            user.credentials_version = new_credentials_version()
            if also is not None:
                also(s)

    def remove(
        self, name: str, also: Callable[[Session, StaffInfo], None] | None = None
    ) -> StaffInfo:
        """Delete a user. Raises AccountError for an unknown user or the last admin. `also`
        runs in the same transaction with the removed user (see `add`)."""
        with self._sessions.begin() as s:
            # Locks the admins (PostgreSQL) so two removals cannot both take "another admin".
            admins = s.scalars(
                select(StaffUser.name).where(StaffUser.role == "admin").with_for_update()
            ).all()
            user = s.scalar(select(StaffUser).where(StaffUser.name == name))
            if user is None:
                raise AccountError(f"no staff user {name!r}: see `chatbot users list`")
            if user.role == "admin" and list(admins) == [name]:
                raise AccountError(
                    f"{name!r} is the last admin: add another admin first "
                    "(`chatbot users add NAME --role admin`)"
                )
            info = StaffInfo(user.name, user.role, user.created_at)
            s.delete(user)
            if also is not None:
                also(s, info)
        return info

    def credentials_version(self, name: str) -> str | None:
        """The user's current credentials version (None for an unknown name)."""
        with self._sessions() as s:
            return s.scalar(select(StaffUser.credentials_version).where(StaffUser.name == name))

    def credentials_versions(self) -> dict[str, str]:
        """Every user's credentials version, by name (one small query)."""
        with self._sessions() as s:
            rows = s.execute(select(StaffUser.name, StaffUser.credentials_version)).all()
            return {name: version for name, version in rows}

    def verify(self, name: str, password: str) -> str | None:
        """The user's role when name and password match, else None."""
        with self._sessions() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.name == name))
            stored = user.password_hash if user is not None else self._dummy_hash
            try:
                self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None:
                return None
            role = user.role
        if self._hasher.check_needs_rehash(stored):
            self._rehash(name, stored, password)
        return role

    def _rehash(self, name: str, old_hash: str, password: str) -> None:
        """Upgrade a hash made with older parameters (only if it was not changed meanwhile)."""
        with self._sessions.begin() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.name == name))
            if user is not None and user.password_hash == old_hash:
                user.password_hash = self._hasher.hash(password)

    def role_of(self, name: str | None) -> str | None:
        if not name:
            return None
        with self._sessions() as s:
            return s.scalar(select(StaffUser.role).where(StaffUser.name == name))

    def any_users(self) -> bool:
        with self._sessions() as s:
            return bool(s.scalar(select(func.count()).select_from(StaffUser)))

    def ensure_first_admin(self, also: InTransaction | None = None) -> str | None:
        """When there are no staff users yet, create "admin" with a random password and
        return that password (to be shown once); otherwise None. `also`: see `add`."""
        if self.any_users():
            return None
        password = secrets.token_urlsafe(18)
        try:
            self.add(FIRST_ADMIN, password, "admin", also)
        except AccountError:  # another process created users in between
            return None
        return password

    def list(self) -> builtins.list[StaffInfo]:
        """Every staff user, by name."""
        with self._sessions() as s:
            users = s.scalars(select(StaffUser).order_by(StaffUser.name)).all()
            return [StaffInfo(u.name, u.role, u.created_at) for u in users]
