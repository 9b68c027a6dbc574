"""Who is acting: the staff user behind a staff action, and what their role allows.

Every front end (the console, the command line, a REST API) resolves its caller to an
`Actor` once, then hands it to the staff actions (chatbot.staff.actions), which check the
role themselves: a front end never decides what a role may do.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN, AGENT = "admin", "agent"


@dataclass(frozen=True)
class Actor:
    """`name` is what the audit log records; `role` is "admin" or "agent", None when the
    caller is not (or no longer) a staff user. `agent` is the name put on notes, replies and
    handled marks when it differs from `name` (a direct Python call)."""

    name: str
    role: str | None
    signed_in: bool = True
    agent: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def author(self) -> str:
        """The name on what this actor writes into a conversation."""
        return self.agent or self.name


# A direct Python call in the server's process (tests, scripts): trusted like an admin.
LOCAL = Actor("local", ADMIN, agent="staff")
# The `chatbot` command: whoever can run it owns the data folder.
CLI = Actor("cli", ADMIN)
# The server itself (the first admin created on the first start).
SYSTEM = Actor("system", ADMIN)


class Forbidden(PermissionError):
    """The actor may not do this; the message says why and what to do, for staff to read."""


def require_admin(actor: Actor, doing: str) -> None:
    """Raise Forbidden unless `actor` may do an admin-only thing (`doing`, e.g. "delete
    documents")."""
    if actor.is_admin:
        return
    if not actor.signed_in:
        raise Forbidden(f"Sign in to the staff console to {doing}.")
    if actor.role is None:
        raise Forbidden(f"{actor.name} is no longer a staff user; sign in again to {doing}.")
    raise Forbidden(
        f"Only an admin can {doing}; you are signed in as {actor.name} ({actor.role}). "
        "Ask an admin."
    )
