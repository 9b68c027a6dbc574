"""The staff actions: one service layer for every front end (the console, the `chatbot`
command, a REST API).

Each action takes the acting staff user (`chatbot.staff.actor.Actor`) first, checks what
their role allows (raising Forbidden, whose message staff can read), does the work and writes
its audit entry in the transaction of the change. Front ends only resolve who is acting,
call an action and show its outcome. The container builds one `StaffActions`
(`services.staff`):

- `knowledge`: documents and FAQ entries (chatbot.staff.knowledge_actions)
- `conversations`: labels, notes, replies, handled, export (chatbot.staff.conversation_actions)
- `accounts`: staff users (below), and `audit_log`: the log itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from chatbot.staff.actor import SYSTEM, Actor, require_admin
from chatbot.staff.audit import AuditLog, AuditRecord, add_entry, entry_writer
from chatbot.staff.auth import FIRST_ADMIN, StaffAccounts, StaffInfo
from chatbot.staff.conversation_actions import ConversationActions
from chatbot.staff.knowledge_actions import KnowledgeActions

STAFF_ADD, STAFF_PASSWD, STAFF_REMOVE = "staff.add", "staff.passwd", "staff.remove"
MANAGE_STAFF = "manage staff users"
SESSIONS_ENDED = "open console sessions ended"


class AccountActions:
    """Staff users: add, new password, remove (admins only; AccountError for bad input)."""

    def __init__(self, accounts: StaffAccounts) -> None:
        self.accounts = accounts

    def add(self, actor: Actor, name: str, password: str, role: str) -> StaffInfo:
        require_admin(actor, MANAGE_STAFF)
        audit = entry_writer(actor.name, STAFF_ADD, name, f"role {role}")
        return self.accounts.add(name, password, role, also=audit)

    def set_password(self, actor: Actor, name: str, password: str) -> None:
        """A new password; the user's open console sessions end."""
        require_admin(actor, MANAGE_STAFF)
        audit = entry_writer(actor.name, STAFF_PASSWD, name, SESSIONS_ENDED)
        self.accounts.set_password(name, password, also=audit)

    def remove(self, actor: Actor, name: str) -> StaffInfo:
        """Remove a user (not the last admin); their open console sessions end."""
        require_admin(actor, MANAGE_STAFF)

        def audit(session: Session, removed: StaffInfo) -> None:
            details = f"role {removed.role}, {SESSIONS_ENDED}"
            add_entry(session, actor.name, STAFF_REMOVE, name, details)

        return self.accounts.remove(name, also=audit)

    def create_first_admin(self) -> str | None:
        """On the first start (no staff users yet): "admin" with a random password, which is
        returned to be shown once; otherwise None. The server itself does this."""
        audit = entry_writer(SYSTEM.name, STAFF_ADD, FIRST_ADMIN, "role admin, first start")
        return self.accounts.ensure_first_admin(also=audit)


@dataclass(frozen=True)
class StaffActions:
    knowledge: KnowledgeActions
    conversations: ConversationActions
    accounts: AccountActions
    audit: AuditLog

    def audit_log(self, actor: Actor, limit: int = 100) -> list[AuditRecord]:
        """The latest entries, newest first (admins only)."""
        require_admin(actor, "see the audit log")
        return self.audit.recent(limit)
