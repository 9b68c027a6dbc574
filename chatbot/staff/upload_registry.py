"""Which uploaded files belong to which console session.

Gradio's upload route stores a file and returns its server path; the upload event then
receives paths from the browser. Gradio itself only checks that such a path lies in its
upload folder, which all sessions share. The web app records the paths each upload returned
under the session that sent it, and the console's upload handler ingests a path only when
the same session uploaded it, so no one can make the server read a file someone else
uploaded, or any other file on the server.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

# Enough for any real upload batch; the oldest records go first past this.
_MAX_SESSIONS = 1000
_MAX_FILES_PER_SESSION = 500
_TTL_SECONDS = 24 * 3600
# Gradio's console session cookie (its name ends with an id of the app).
_SESSION_COOKIE = "access-token"


def session_key(cookies: Mapping[str, str]) -> str | None:
    """The console session a request belongs to: its Gradio session cookie(s)."""
    values = [v for k, v in sorted(cookies.items()) if k.startswith(_SESSION_COOKIE) and v]
    return "|".join(values) or None


def request_session(request: Any) -> str | None:
    """`session_key` of a gr.Request (None for a direct call without a request)."""
    cookies = getattr(request, "cookies", None) if request is not None else None
    return session_key(dict(cookies)) if cookies else None


def _norm(path: str) -> str:
    return os.path.realpath(path)


class UploadRegistry:
    """Thread-safe map from a session key to the paths that session uploaded (bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def record(self, session: str, paths: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            files = self._files.setdefault(session, OrderedDict())
            self._files.move_to_end(session)
            for p in paths:
                files[_norm(p)] = now
                files.move_to_end(_norm(p))
            while len(files) > _MAX_FILES_PER_SESSION:
                files.popitem(last=False)
            while len(self._files) > _MAX_SESSIONS:
                self._files.popitem(last=False)

    def owns(self, session: str | None, path: str) -> bool:
        """Whether `session` uploaded `path` (in the last day)."""
        if not session:
            return False
        with self._lock:
            files = self._files.get(session)
            uploaded = files.get(_norm(path)) if files is not None else None
        return uploaded is not None and time.monotonic() - uploaded < _TTL_SECONDS
