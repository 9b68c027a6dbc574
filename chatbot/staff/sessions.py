"""Console sessions that end when the user's password changes or the user is removed.

Gradio keeps the console's sessions in the server process, as a mapping from the token in the
`access-token-*` cookie to the user name (`App.tokens`), and looks every console request up
in it. `chatbot users passwd` and `chatbot users remove` run in another process and can reach
the server only through the database. So `StaffSessions` takes the place of that mapping:

- at sign-in it records the user's credentials version as it was *before* the password was
  checked (a password change that races the sign-in therefore ends the new session too);
- a lookup answers only while the user still exists with that same version, else the token
  is dropped and Gradio treats the request as signed out: 401 from the console's API, the
  sign-in form for the page.

The versions of all users are read in one small query at most once per `check_every_s`
seconds (default 1), so a change ends sessions within about a second. When the database
cannot be read, requests are treated as signed out without dropping anyone's session.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Mount

from chatbot.staff.auth import StaffAccounts

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0
SignIn = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True)
class _Session:
    name: str
    version: str | None  # None: the sign-in recorded no version, so it never counts


class StaffSessions(MutableMapping[str, str]):
    """Console session tokens -> user names, valid only while the credentials are unchanged."""

    def __init__(
        self,
        accounts: StaffAccounts,
        check_every_s: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self._check_every_s = check_every_s
        self._clock = clock
        # Re-entrant: Mapping helpers call __getitem__ while the lock is held.
        self._lock = threading.RLock()
        self._sessions: dict[str, _Session] = {}
        # name -> credentials version read just before a successful password check; taken by
        # the token Gradio stores right after (with no await in between).
        self._signed_in: dict[str, str | None] = {}
        self._versions: dict[str, str] | None = None
        self._read_at = float("-inf")

    # ---- sign-in --------------------------------------------------------------------------
    def guard(self, check: SignIn) -> SignIn:
        """Gradio's `auth` callable: `check`, noting the version the password was checked at."""

        async def sign_in(username: str, password: str) -> bool:
            version = await asyncio.to_thread(self._accounts.credentials_version, username)
            if not await check(username, password):
                return False
            with self._lock:
                self._signed_in[username] = version
            return True

        return sign_in

    def install(self, app: FastAPI, path: str) -> None:
        """Put this mapping in place of the session tokens of the Gradio app mounted at `path`."""
        mounted = [r.app for r in app.routes if isinstance(r, Mount) and r.path == path]
        if len(mounted) != 1 or not isinstance(getattr(mounted[0], "tokens", None), dict):
            raise RuntimeError(
                f"no Gradio app with session tokens is mounted at {path!r}: console sessions "
                "could not be tied to staff accounts (is the installed Gradio version the one "
                "pyproject.toml pins?)"
            )
        mounted[0].tokens = self  # type: ignore[attr-defined]

    # ---- the mapping Gradio uses ------------------------------------------------------------
    def __setitem__(self, token: str, name: str) -> None:
        with self._lock:
            self._sessions[token] = _Session(name, self._signed_in.pop(name, None))

    def __getitem__(self, token: str) -> str:
        with self._lock:
            session = self._sessions[token]
            valid = self._valid(session)
            if valid is False:
                self._end(token)
            if not valid:
                raise KeyError(token)
            return session.name

    def __delitem__(self, token: str) -> None:
        with self._lock:
            del self._sessions[token]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter([t for t in list(self._sessions) if t in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # ---- checks -----------------------------------------------------------------------------
    def _valid(self, session: _Session) -> bool | None:
        """True or False; None when the accounts cannot be read just now."""
        versions = self._current_versions()
        if versions is None:
            return None
        return _matches(session, versions)

    def _current_versions(self) -> dict[str, str] | None:
        now = self._clock()
        if now - self._read_at < self._check_every_s:
            return self._versions
        self._read_at = now
        try:
            self._versions = self._accounts.credentials_versions()
        except SQLAlchemyError as exc:
            log.warning("cannot check console sessions, treating them as signed out: %s", exc)
            self._versions = None
            return None
        for token, session in list(self._sessions.items()):
            if not _matches(session, self._versions):
                self._end(token)
        return self._versions

    def _end(self, token: str) -> None:
        session = self._sessions.pop(token, None)
        if session is not None:
            log.info(
                "console session of %s ended: the password was changed or the user removed",
                session.name,
            )


def _matches(session: _Session, versions: dict[str, str]) -> bool:
    return session.version is not None and versions.get(session.name) == session.version
