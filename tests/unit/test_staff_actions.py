"""The staff actions (chatbot.staff.actions): each checks the actor's role, does the work and
writes its audit entry in the same transaction, so a refused or failed action changes
nothing and leaves no entry, and an entry that cannot be written undoes the change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from chatbot.container import Services
from chatbot.staff import audit as audit_module
from chatbot.staff.actor import CLI, LOCAL, Actor, Forbidden, require_admin
from chatbot.staff.auth import AccountError
from chatbot.staff.export import ExportFilter
from chatbot.storage.models import AuditEntry
from chatbot.storage.review_search import ReviewError
from knowledge_base.entries import EntryError
from tests.unit.conversation_data import Turn, add_conversation

FAQ_CSV = (
    "id,question,answer\n"
    "hours,When are you open?,9 to 5 on weekdays.\n"
    "refunds,How do I get a refund?,Refunds go back to your card within 5 days.\n"
)
ADMIN = Actor("boss", "admin")
AGENT = Actor("ann", "agent")
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def stocked(services: Services) -> Services:
    """An FAQ document and a handed-off conversation, and no audit entries yet."""
    result = services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode())
    assert result.ok, result.message
    return services


def handed_off(services: Services) -> str:
    return add_conversation(services.sessions, T0, [Turn("a person please", "handoff")])


def audited(services: Services) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.details) for e in services.audit.recent()]


@pytest.fixture
def audit_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses every audit entry (an action without its name), as it would a
    full disk: the write fails inside the action's transaction."""

    def refused(**fields: Any) -> AuditEntry:
        return AuditEntry(**{**fields, "action": None})

    monkeypatch.setattr(audit_module, "AuditEntry", refused)


# ---- who may do what ------------------------------------------------------------------------
def test_refusals_say_why_and_what_to_do() -> None:
    require_admin(ADMIN, "delete documents")
    require_admin(LOCAL, "delete documents")  # a direct Python call is trusted
    require_admin(CLI, "delete documents")
    with pytest.raises(Forbidden) as refused:
        require_admin(AGENT, "delete documents")
    assert str(refused.value) == (
        "Only an admin can delete documents; you are signed in as ann (agent). Ask an admin."
    )
    with pytest.raises(Forbidden, match=r"^ghost is no longer a staff user; sign in again"):
        require_admin(Actor("ghost", None), "delete documents")
    with pytest.raises(Forbidden, match=r"^Sign in to the staff console to delete documents.$"):
        require_admin(Actor("anonymous", None, signed_in=False), "delete documents")


def test_an_agent_is_refused_admin_actions_and_nothing_changes(
    stocked: Services, tmp_path: Path
) -> None:
    staff = stocked.staff
    stocked.accounts.add("bob", "bob's password", "agent")
    cid = handed_off(stocked)
    refused = [
        lambda: staff.knowledge.delete_document(AGENT, "faq.csv"),
        lambda: staff.knowledge.delete_faq_entry(AGENT, "hours"),
        lambda: staff.knowledge.ingest_paths(AGENT, [tmp_path]),
        lambda: staff.conversations.export(AGENT, "csv", ExportFilter, tmp_path),
        lambda: staff.audit_log(AGENT),
        lambda: staff.accounts.add(AGENT, "eve", "eve's password", "admin"),
        lambda: staff.accounts.set_password(AGENT, "bob", "a new password"),
        lambda: staff.accounts.remove(AGENT, "bob"),
    ]
    for action in refused:
        with pytest.raises(Forbidden, match=r"^Only an admin can"):
            action()
    assert [d.name for d in stocked.kb.documents()] == ["faq.csv"]
    assert stocked.kb.get_faq_entry("hours") is not None
    assert [u.name for u in stocked.accounts.list()] == ["bob"]
    assert stocked.accounts.verify("bob", "bob's password") == "agent"
    assert not list(tmp_path.rglob("*.csv"))
    assert stocked.conversations.transcript(cid) is not None
    assert audited(stocked) == []


def test_an_agent_replacing_a_document_is_refused_and_audited_as_refused(
    stocked: Services,
) -> None:
    changed = FAQ_CSV.replace("9 to 5", "8 to 8").encode()
    result = stocked.staff.knowledge.upload(AGENT, "faq.csv", lambda: changed)
    assert result.status == "refused"
    assert stocked.kb.get_faq_entry("hours").answer == "9 to 5 on weekdays."  # type: ignore[union-attr]
    assert [(a, act, t) for a, act, t, _ in audited(stocked)] == [
        ("ann", "kb.upload_refused", "faq.csv")
    ]
    result = stocked.staff.knowledge.upload(ADMIN, "faq.csv", lambda: changed)
    assert result.status == "replaced"
    assert audited(stocked)[0] == ("boss", "kb.upload", "faq.csv", "replaced, 4 passages")


# ---- the change and its entry, together -----------------------------------------------------
def test_an_admins_action_and_its_entry_are_written_together(stocked: Services) -> None:
    staff = stocked.staff
    cid = handed_off(stocked)
    assert staff.knowledge.delete_faq_entry(ADMIN, "hours")
    assert stocked.kb.get_faq_entry("hours") is None
    assert staff.conversations.set_labels(AGENT, cid, ["wrong-answer"]) == ("wrong-answer",)
    staff.conversations.add_note(AGENT, cid, "called back")
    staff.conversations.reply(AGENT, cid, "Hello, Ann here.")
    staff.conversations.mark_handled(AGENT, cid)
    staff.accounts.add(CLI, "bob", "bob's password", "agent")
    t = stocked.conversations.transcript(cid)
    assert t is not None and t.handled_by == "ann" and t.notes[0].author == "ann"
    assert t.messages[-1].reason == "ann"
    assert audited(stocked) == [
        ("cli", "staff.add", "bob", "role agent"),
        ("ann", "conversation.handled", cid, ""),
        ("ann", "conversation.staff_reply", cid, ""),
        ("ann", "conversation.note", cid, ""),
        ("ann", "conversation.labels", cid, "wrong-answer"),
        ("boss", "kb.delete_faq_entry", "hours", ""),
    ]
    assert [e.action for e in staff.audit_log(ADMIN, limit=2)] == [
        "staff.add",
        "conversation.handled",
    ]


def test_work_that_fails_writes_no_entry(stocked: Services) -> None:
    staff = stocked.staff
    cid = handed_off(stocked)
    with pytest.raises(EntryError):
        staff.knowledge.save_faq_entry(AGENT, None, ["A question?"], "  ")
    with pytest.raises(EntryError, match="no FAQ entry 'missing'"):
        staff.knowledge.add_phrasing(AGENT, cid, "missing", "A question?")
    with pytest.raises(ReviewError):
        staff.conversations.set_labels(AGENT, cid, ["no such label"])
    with pytest.raises(ReviewError, match="needs some text"):
        staff.conversations.add_note(AGENT, cid, " ")
    with pytest.raises(AccountError, match="last admin"):
        stocked.accounts.add("boss", "boss's password", "admin")
        staff.accounts.remove(CLI, "boss")
    assert not staff.knowledge.delete_document(ADMIN, "no-such.csv")
    assert not staff.knowledge.delete_faq_entry(ADMIN, "")
    assert audited(stocked) == []


@pytest.mark.usefixtures("audit_refused")
def test_an_entry_that_cannot_be_written_undoes_the_change(stocked: Services) -> None:
    staff = stocked.staff
    cid = handed_off(stocked)
    before = stocked.kb.revision
    with pytest.raises(IntegrityError):
        staff.knowledge.save_faq_entry(AGENT, "hours", ["When are you open?"], "Never.")
    with pytest.raises(IntegrityError):
        staff.knowledge.add_entry_from_conversation(AGENT, cid, "Do you ship?", "Yes.")
    with pytest.raises(IntegrityError):
        staff.knowledge.delete_document(ADMIN, "faq.csv")
    with pytest.raises(IntegrityError):
        staff.conversations.add_note(AGENT, cid, "called back")
    with pytest.raises(IntegrityError):
        staff.conversations.set_labels(AGENT, cid, ["wrong-answer"])
    with pytest.raises(IntegrityError):
        staff.conversations.mark_handled(AGENT, cid)
    with pytest.raises(IntegrityError):
        staff.accounts.add(CLI, "bob", "bob's password", "agent")
    # Nothing of it was saved, in the database or in the index answers come from.
    assert stocked.kb.get_faq_entry("hours").answer == "9 to 5 on weekdays."  # type: ignore[union-attr]
    assert stocked.kb.faq_entry_ids() == ["hours", "refunds"]
    assert [d.name for d in stocked.kb.documents()] == ["faq.csv"]
    assert stocked.kb.revision == before
    assert stocked.kb.search("When are you open?")[0].answer == "9 to 5 on weekdays."
    t = stocked.conversations.transcript(cid)
    assert t is not None and t.notes == [] and t.labels == () and t.handled_at is None
    assert stocked.accounts.list() == []
    # An upload whose entry cannot be written is not ingested (the old version stays), and
    # the entry of that failure cannot be written either.
    changed = FAQ_CSV.replace("9 to 5", "8 to 8").encode()
    with pytest.raises(IntegrityError):
        staff.knowledge.upload(ADMIN, "faq.csv", lambda: changed)
    assert stocked.kb.get_faq_entry("hours").answer == "9 to 5 on weekdays."  # type: ignore[union-attr]
