"""The staff actions: one service layer for every front end (the console, the `chatbot`
command, a REST API).

Each action takes the acting staff user (`chatbot.staff.actor.Actor`) first, checks what
their role allows (raising Forbidden, whose message staff can read), does the work and writes
its audit entry in the transaction of the change. Front ends only resolve who is acting,
call an action and show its outcome. The container builds one `StaffActions`
(`services.staff`):

- `knowledge`: documents and FAQ entries (chatbot.staff.knowledge_actions)
- `conversations`: labels, notes, replies, handled, export (chatbot.staff.conversation_actions)
- `accounts`: staff users, `keys`: HTTP API keys (below), and `audit_log`: the log itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from chatbot.staff.actor import SYSTEM, Actor, require_admin
from chatbot.staff.api_keys import ApiKeyInfo, ApiKeys, NewApiKey
from chatbot.staff.audit import AuditLog, AuditRecord, add_entry, entry_writer
from chatbot.staff.auth import FIRST_ADMIN, StaffAccounts, StaffInfo
from chatbot.staff.conversation_actions import ConversationActions
from chatbot.staff.knowledge_actions import KnowledgeActions
from chatbot.staff.webhook_actions import WebhookActions

STAFF_ADD, STAFF_PASSWD, STAFF_REMOVE = "staff.add", "staff.passwd", "staff.remove"
MANAGE_STAFF = "manage staff users"
KEY_CREATE, KEY_REVOKE = "api_key.create", "api_key.revoke"
MANAGE_KEYS = "manage API keys"
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


class KeyActions:
    """HTTP API keys: create (the raw key returned once), list, revoke (admins only;
    ApiKeyError for bad input)."""

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def create(self, actor: Actor, name: str, role: str, rate_per_minute: int) -> NewApiKey:
        require_admin(actor, MANAGE_KEYS)
        details = f"role {role}, {rate_per_minute}/min"
        audit = entry_writer(actor.name, KEY_CREATE, name, details)
        return self.keys.create(name, role, rate_per_minute, actor.name, also=audit)

    def authenticate(self, key: str) -> ApiKeyInfo | None:
        """The active key behind a raw key (every API request), or None."""
        return self.keys.verify(key)

    def list(self, actor: Actor) -> list[ApiKeyInfo]:
        require_admin(actor, "see the API keys")
        return self.keys.list()

    def revoke(self, actor: Actor, key_id: int) -> ApiKeyInfo:
        require_admin(actor, MANAGE_KEYS)

        def audit(session: Session, revoked: ApiKeyInfo) -> None:
            add_entry(session, actor.name, KEY_REVOKE, revoked.name, f"id {revoked.id}")

        return self.keys.revoke(key_id, also=audit)


@dataclass(frozen=True)
class StaffActions:
    knowledge: KnowledgeActions
    conversations: ConversationActions
    accounts: AccountActions
    audit: AuditLog
    keys: KeyActions
    webhooks: WebhookActions  # chatbot.staff.webhook_actions

    def audit_log(self, actor: Actor, limit: int = 100) -> list[AuditRecord]:
        """The latest entries, newest first (admins only)."""
        require_admin(actor, "see the audit log")
        return self.audit.recent(limit)
