"""The review panel under a transcript in the Conversations tab: labels, staff notes, and
"Add to FAQ" (a customer's question as a new entry or as a new phrasing of an entry, or a
corrected answer). Every change is a staff action (`services.staff`), audited under the
signed-in user."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.actor import Actor
from chatbot.staff.review import CustomerQuestion, customer_questions
from chatbot.storage.review_search import LABELS, ReviewError
from chatbot.ui.events import bind
from chatbot.ui.render import code, escape_text
from chatbot.ui.staff import current_actor, username
from chatbot.ui.transcript import render_transcript
from knowledge_base.entries import EntryError

log = logging.getLogger(__name__)

NO_CONVERSATION = "❌ Choose a conversation first."
NO_QUESTION = "❌ Choose the customer's question first."
NO_ENTRY = "❌ Choose an existing FAQ entry first."
# What choosing a conversation puts in the panel: labels, question dropdown, entry dropdown,
# answer box, note box, status line.
PanelValues = tuple[list[str], Any, Any, str, str, str]


def staff_name(request: gr.Request | None) -> str:
    """The author / agent name for notes, handled marks and replies: the signed-in user."""
    return username(request) or "staff"


def _questions(services: Services, conversation_id: str | None) -> list[CustomerQuestion]:
    return customer_questions(services.conversations, conversation_id or "")


def _question(
    services: Services, conversation_id: str | None, message_id: int | str | None
) -> CustomerQuestion | None:
    if message_id in (None, ""):
        return None
    for q in _questions(services, conversation_id):
        if str(q.message_id) == str(message_id):
            return q
    return None


def _entry_answer(services: Services, entry_id: str | None) -> str:
    entry = services.kb.get_faq_entry(entry_id) if entry_id else None
    return entry.answer if entry else ""


def load_review(services: Services, conversation_id: str | None) -> PanelValues:
    """Fill the panel for a conversation: its labels, its customer questions (the first one
    chosen), the FAQ entry that answered it (if any) with that entry's current answer."""
    t = services.conversations.transcript(conversation_id) if conversation_id else None
    if t is None:
        empty = gr.update(choices=[], value=None)
        return [], empty, gr.update(value=None), "", "", ""
    questions = _questions(services, conversation_id)
    first = questions[0] if questions else None
    entry = first.answered_entry if first else None
    return (
        list(t.labels),
        gr.update(
            choices=[(q.text[:120], q.message_id) for q in questions],
            value=first.message_id if first else None,
        ),
        gr.update(choices=services.kb.faq_entry_ids(), value=entry),
        _entry_answer(services, entry),
        "",
        "",
    )


def pick_question(
    services: Services, conversation_id: str | None, message_id: int | str | None
) -> tuple[Any, str]:
    """The entry that answered the chosen question (if any) and its current answer."""
    q = _question(services, conversation_id, message_id)
    entry = q.answered_entry if q else None
    return gr.update(value=entry), _entry_answer(services, entry)


def pick_entry(services: Services, entry_id: str | None) -> str:
    """The chosen entry's current answer, ready to be corrected."""
    return _entry_answer(services, entry_id)


def save_labels(
    services: Services,
    conversation_id: str | None,
    labels: list[str] | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str]:
    """Returns (status line, refreshed transcript, times in `zone`)."""
    if not conversation_id:
        return NO_CONVERSATION, render_transcript(services, conversation_id, zone)
    try:
        saved = services.staff.conversations.set_labels(
            current_actor(services, request), conversation_id, labels or []
        )
    except ReviewError as exc:
        return f"❌ {escape_text(str(exc))}", render_transcript(services, conversation_id, zone)
    shown = ", ".join(saved) if saved else "none"
    return f"✅ Labels saved: {shown}.", render_transcript(services, conversation_id, zone)


def save_text(
    services: Services,
    conversation_id: str | None,
    text: str | None,
    action: Callable[[Actor, str, str], object],
    done: str,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str, str]:
    """What a text box under a transcript does (a staff note here, a reply in the handoff
    queue): `action(actor, conversation id, text)`, then (status line: `done` or the error,
    refreshed transcript, the box: cleared once saved, kept to fix and send again)."""
    if not conversation_id:
        return NO_CONVERSATION, render_transcript(services, conversation_id, zone), text or ""
    try:
        action(current_actor(services, request), conversation_id, text or "")
    except ReviewError as exc:
        return (
            f"❌ {escape_text(str(exc))}",
            render_transcript(services, conversation_id, zone),
            text or "",
        )
    return done, render_transcript(services, conversation_id, zone), ""


def add_note(
    services: Services,
    conversation_id: str | None,
    text: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str, str]:
    """Returns (status line, refreshed transcript with times in `zone`, note box: cleared
    once saved)."""
    return save_text(
        services,
        conversation_id,
        text,
        services.staff.conversations.add_note,
        "✅ Note added.",
        request,
        zone,
    )


def add_new_entry(
    services: Services,
    conversation_id: str | None,
    message_id: int | str | None,
    answer: str | None,
    request: gr.Request | None = None,
) -> tuple[str, Any]:
    """The chosen customer question as a new FAQ entry with `answer`. Returns (status line,
    entry dropdown update: the new entry chosen)."""
    q = _question(services, conversation_id, message_id)
    if q is None:
        return NO_QUESTION, gr.update()
    try:
        entry = services.staff.knowledge.add_entry_from_conversation(
            current_actor(services, request), conversation_id or "", q.text, answer or ""
        )
    except EntryError as exc:
        return f"❌ {escape_text(str(exc))}", gr.update()
    return (
        f"✅ Added FAQ entry {code(entry.entry_id)}; it is in answers now.",
        gr.update(choices=services.kb.faq_entry_ids(), value=entry.entry_id),
    )


def add_phrasing(
    services: Services,
    conversation_id: str | None,
    message_id: int | str | None,
    entry_id: str | None,
    request: gr.Request | None = None,
) -> str:
    """The chosen customer question as another phrasing of the chosen entry."""
    q = _question(services, conversation_id, message_id)
    if q is None:
        return NO_QUESTION
    if not entry_id:
        return NO_ENTRY
    try:
        entry = services.staff.knowledge.add_phrasing(
            current_actor(services, request), conversation_id or "", entry_id, q.text
        )
    except EntryError as exc:
        return f"❌ {escape_text(str(exc))}"
    phrasings = plural(len(entry.questions), "phrasing")
    return f"✅ Added the question to {code(entry.entry_id)} ({phrasings}); it is in answers now."


def correct_answer(
    services: Services,
    conversation_id: str | None,
    entry_id: str | None,
    answer: str | None,
    request: gr.Request | None = None,
) -> str:
    """Replace the chosen entry's answer with the corrected one."""
    if not entry_id:
        return NO_ENTRY
    try:
        entry = services.staff.knowledge.correct_answer(
            current_actor(services, request), conversation_id, entry_id, answer or ""
        )
    except EntryError as exc:
        return f"❌ {escape_text(str(exc))}"
    return f"✅ Saved the corrected answer of {code(entry.entry_id)}; it is in answers now."


def build_review_panel(
    services: Services, choice: gr.Dropdown, transcript: gr.Markdown, zone: gr.State
) -> list[Any]:
    """The panel's controls and events; returns the components `load_review` fills. The
    transcript it refreshes shows times in `zone` (chatbot.ui.times)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    status = gr.Markdown(elem_id="review-status")
    with gr.Accordion("Review: labels and notes", open=True):
        with gr.Row():
            labels = gr.CheckboxGroup(
                list(LABELS), label="Labels", elem_id="review-labels", scale=4
            )
            save = gr.Button("Save labels", elem_id="review-save-labels", size="sm", scale=1)
        with gr.Row():
            note = gr.Textbox(label="Staff note", lines=2, elem_id="review-note", scale=4)
            add = gr.Button("Add note", elem_id="review-add-note", size="sm", scale=1)
    with gr.Accordion("Add to FAQ", open=False):
        question = gr.Dropdown(choices=[], label="Customer question", elem_id="review-question")
        entry = gr.Dropdown(
            choices=[],
            label="Existing FAQ entry (for a new phrasing or a corrected answer)",
            elem_id="review-entry",
            filterable=True,
        )
        answer = gr.Textbox(
            label="Answer: for a new entry, or the chosen entry's corrected answer",
            lines=4,
            elem_id="review-answer",
        )
        with gr.Row():
            new = gr.Button("Add as new FAQ entry", elem_id="review-new-entry")
            phrasing = gr.Button("Add as phrasing of the entry", elem_id="review-phrasing")
            correct = gr.Button("Save corrected answer", elem_id="review-correct")

    save.click(bind(save_labels, services), [choice, labels, zone], [status, transcript], **private)
    add.click(bind(add_note, services), [choice, note, zone], [status, transcript, note], **private)
    question.input(bind(pick_question, services), [choice, question], [entry, answer], **private)
    entry.input(bind(pick_entry, services), [entry], [answer], **private)
    new.click(bind(add_new_entry, services), [choice, question, answer], [status, entry], **private)
    phrasing.click(bind(add_phrasing, services), [choice, question, entry], [status], **private)
    correct.click(bind(correct_answer, services), [choice, entry, answer], [status], **private)
    return [labels, question, entry, answer, note, status]
