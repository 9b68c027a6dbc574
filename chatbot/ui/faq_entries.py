"""The FAQ entry editor under the Knowledge base tab: add one entry, or edit or delete one
(deleting is for admins). The changes are staff actions (`services.staff.knowledge`); each
is in answers at once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.actor import Forbidden
from chatbot.ui.documents import Row, documents_table
from chatbot.ui.events import bind
from chatbot.ui.render import code, escape_text
from chatbot.ui.staff import current_actor, refusal
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError

EntryFields = tuple[str, str, str, str, str]  # question, other phrasings, answer, category, url
NO_ENTRY: EntryFields = ("", "", "", "", "")
NEW_ENTRY = "New entry: fill in the fields and save."


def entry_choices(services: Services) -> Any:
    return gr.update(choices=services.kb.faq_entry_ids())


def load_entry(services: Services, entry_id: str | None) -> tuple[str, str, str, str, str, str]:
    """The editor's fields for an entry (blank for a new one), then a status message."""
    if not entry_id:
        return (*NO_ENTRY, NEW_ENTRY)
    entry = services.kb.get_faq_entry(entry_id)
    if entry is None:
        return (*NO_ENTRY, f"❌ {code(entry_id)}: no such FAQ entry.")
    return (
        entry.questions[0],
        "\n".join(entry.questions[1:]),
        entry.answer,
        entry.category or "",
        entry.url or "",
        f"Editing {code(entry_id)}.",
    )


def save_entry(
    services: Services,
    entry_id: str | None,
    question: str,
    phrasings: str,
    answer: str,
    category: str,
    url: str,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, Any, list[Row]]:
    """Save the editor's entry (new when no id is chosen); it is in answers at once.

    Returns (markdown message, entry dropdown update, refreshed documents table with times
    in `zone`).
    """
    questions = [question, *phrasings.splitlines()]
    try:
        entry = services.staff.knowledge.save_faq_entry(
            current_actor(services, request), entry_id, questions, answer, category, url
        )
    except EntryError as exc:
        return f"❌ {escape_text(str(exc))}", gr.update(), documents_table(services, zone)
    verb = "Saved" if entry_id else f"Added to “{MANUAL_DOCUMENT}”:"
    message = f"✅ {verb} {code(entry.entry_id)} ({plural(len(entry.questions), 'phrasing')})."
    return (
        message,
        gr.update(choices=services.kb.faq_entry_ids(), value=entry.entry_id),
        documents_table(services, zone),
    )


def delete_entry(
    services: Services,
    entry_id: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[Any, ...]:
    """Delete the chosen entry (admins only). Returns (message, dropdown update, 5 cleared
    fields, table with times in `zone`); a refused delete leaves the dropdown and the
    fields as they are."""
    try:  # a caller who may not delete is told so first, even with nothing chosen
        deleted = services.staff.knowledge.delete_faq_entry(
            current_actor(services, request), entry_id or ""
        )
    except Forbidden as exc:
        unchanged = (gr.update() for _ in NO_ENTRY)
        return (refusal(exc), gr.update(), *unchanged, documents_table(services, zone))
    if not entry_id:
        message = "Choose an entry to delete."
    elif deleted:
        message = f"🗑️ Deleted {code(entry_id)}."
    else:
        message = f"❌ {code(entry_id)}: no such FAQ entry."
    choices = gr.update(choices=services.kb.faq_entry_ids(), value=None)
    return (message, choices, *NO_ENTRY, documents_table(services, zone))


@dataclass(frozen=True)
class FaqEditor:
    """The editor's components; `connect` adds its events (the tab decides when, so the
    events keep their order on the page)."""

    entry: gr.Dropdown
    new: gr.Button
    fields: list[gr.Textbox]
    save: gr.Button
    remove: gr.Button
    status: gr.Markdown

    def connect(self, services: Services, zone: gr.State, table: gr.Dataframe) -> None:
        entry, fields, status = self.entry, self.fields, self.status
        entry.input(
            partial(load_entry, services),
            inputs=[entry],
            outputs=[*fields, status],
            api_visibility="private",
        )
        self.new.click(
            lambda: (None, *NO_ENTRY, NEW_ENTRY),
            outputs=[entry, *fields, status],
            api_visibility="private",
        )
        self.save.click(
            bind(save_entry, services),
            inputs=[entry, *fields, zone],
            outputs=[status, entry, table],
            api_name="save_faq_entry",
        )
        self.remove.click(
            bind(delete_entry, services),
            inputs=[entry, zone],
            outputs=[status, entry, *fields, table],
            api_name="delete_faq_entry",
        )


def build_faq_editor() -> FaqEditor:
    """The editor, closed at first, where it is built."""
    with gr.Accordion("FAQ entries: add or edit one", open=False):
        gr.Markdown(
            f"Choose an entry to edit it, or leave the id empty (or type a new one) to add "
            f"an entry; it goes into “{MANUAL_DOCUMENT}”. Changes are in answers at once."
        )
        with gr.Row():
            entry = gr.Dropdown(
                choices=[],
                value=None,
                allow_custom_value=True,  # typing a new id adds an entry with that id
                label="Entry id",
                elem_id="kb-entry",
                scale=4,
            )
            new = gr.Button("New entry", elem_id="kb-entry-new", size="sm")
        question = gr.Textbox(label="Question", elem_id="kb-entry-question")
        phrasings = gr.Textbox(
            label="Other phrasings (one per line)", lines=3, elem_id="kb-entry-phrasings"
        )
        answer = gr.Textbox(label="Answer", lines=4, elem_id="kb-entry-answer")
        with gr.Row():
            category = gr.Textbox(label="Category", elem_id="kb-entry-category")
            url = gr.Textbox(label="URL", elem_id="kb-entry-url")
        with gr.Row():
            save = gr.Button("Save entry", variant="primary", elem_id="kb-entry-save")
            remove = gr.Button("Delete entry", variant="stop", elem_id="kb-entry-delete")
        status = gr.Markdown(elem_id="kb-entry-status")
    return FaqEditor(entry, new, [question, phrasings, answer, category, url], save, remove, status)
