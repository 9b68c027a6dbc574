"""The "Handoff queue" tab: conversations handed to a person and not handled yet, longest
waiting first, with the customer's contact, the handoff reason and their last message. An
agent reads the transcript, replies (the customer sees it in the conversation) and marks the
conversation handled.

The queue and the open transcript follow new handoffs and customer messages by themselves
(chatbot.ui.live), and the tab's label counts the customers waiting, so staff on another tab
see it too."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.language_names import language_label
from chatbot.core.wording import plural
from chatbot.storage.review_search import ReviewError
from chatbot.ui.events import bind
from chatbot.ui.live import LiveConsole
from chatbot.ui.render import escape_text
from chatbot.ui.review import ALL_LANGUAGES, language_choices, select_row
from chatbot.ui.review_actions import NO_CONVERSATION, save_text
from chatbot.ui.staff import current_actor
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready
from chatbot.ui.transcript import NOTHING_CHOSEN, render_transcript

QUEUE_HEADERS = [
    "waiting since",
    "language",
    "title",
    "handoff reason",
    "contact",
    "last customer message",
    "messages",
]
# Percent of the table's width per column (chatbot.ui.tables).
QUEUE_WIDTHS = [14, 9, 20, 12, 16, 22, 7]
QUEUE_LIMIT = 200
EMPTY_QUEUE = "Nobody is waiting for a person. 🎉"
TAB_LABEL = "Handoff queue"

Row = list[Any]
# What a refresh puts on screen: table rows, conversation dropdown, ids in row order, summary,
# tab label.
QueueView = tuple[list[Row], Any, list[str], str, Any]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _language_filter(language: str | None) -> str | None:
    """The queue's language filter as a code, None for every language."""
    return None if language in (None, "", ALL_LANGUAGES) else language


def queue_table(
    services: Services,
    limit: int = QUEUE_LIMIT,
    zone: str | None = None,
    language: str | None = None,
) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    """The queue, longest waiting first, only in `language` when given (a code; "all" or
    empty: every language): (rows in QUEUE_HEADERS order, dropdown choices as (label, id), ids
    in row order); times in `zone`."""
    items = services.conversations.handoff_queue(limit, _language_filter(language))
    rows = [
        [
            fmt_time(q.waiting_since, zone),
            language_label(q.language) if q.language else "",
            q.title,
            q.handoff_reason or "",
            q.contact or "",
            _short(q.last_customer_message),
            q.messages,
        ]
        for q in items
    ]
    choices = [(f"{fmt_time(q.waiting_since, zone)} · {q.title[:60]}", q.id) for q in items]
    return rows, choices, [q.id for q in items]


def _waiting(count: int) -> str:
    """How many wait: "3 customers", or "200+ customers" past what the table lists."""
    return f"{QUEUE_LIMIT}+ customers" if count >= QUEUE_LIMIT else plural(count, "customer")


def waiting_summary(count: int, language: str | None = None) -> str:
    """The line above the queue (of those in `language` when the queue is filtered)."""
    if language:
        shown = plural(count, "customer") if count < QUEUE_LIMIT else _waiting(count)
        return (
            f"{shown} in {language_label(language)} waiting for a person, longest waiting first."
            if count
            else f"Nobody in {language_label(language)} is waiting for a person."
        )
    if not count:
        return EMPTY_QUEUE
    return f"{_waiting(count)} waiting for a person, longest waiting first."


def tab_label(count: int) -> str:
    """The tab's label: with the number waiting, so it shows from every tab."""
    return f"{TAB_LABEL} · {_waiting(count)} waiting" if count else TAB_LABEL


def _kept_choice(services: Services, current: str | None) -> tuple[str, str] | None:
    """A dropdown choice for the chosen conversation once it left the queue (handled, maybe
    by a colleague): it stays chosen, so its transcript and a half-typed reply stay too."""
    t = services.conversations.transcript(current) if current else None
    return (f"not waiting any more · {t.title[:60]}", t.id) if t is not None else None


def refresh_queue(
    services: Services,
    current: str | None = None,
    zone: str | None = None,
    language: str | None = None,
) -> QueueView:
    """The queue (times in `zone`; only in `language` when given), its summary and tab label;
    the chosen conversation stays chosen, also once it is no longer waiting. The tab's label
    counts everyone waiting, whatever the filter, so nobody is forgotten behind it."""
    code = _language_filter(language)
    rows, choices, ids = queue_table(services, zone=zone, language=code)
    value = current if current in ids else None
    if current and value is None:
        kept = _kept_choice(services, current)
        if kept is not None:
            choices, value = [*choices, kept], current
    count = len(ids)
    everyone = count if code is None else len(services.conversations.handoff_queue(QUEUE_LIMIT))
    return (
        rows,
        gr.update(choices=choices, value=value),
        ids,
        waiting_summary(count, code),
        gr.update(label=tab_label(everyone)),
    )


def reply(
    services: Services,
    conversation_id: str | None,
    text: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str, str]:
    """Send a staff reply into the conversation. Returns (status line, refreshed transcript,
    reply box: cleared once sent)."""
    return save_text(
        services,
        conversation_id,
        text,
        services.staff.conversations.reply,
        "✅ Reply sent: the customer sees it in the conversation.",
        request,
        zone,
    )


def mark_handled(
    services: Services,
    conversation_id: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
    language: str | None = None,
) -> tuple[Any, ...]:
    """Take the conversation out of the queue. Returns (status line, then the refreshed
    queue: rows, dropdown, ids, summary, tab label; then the transcript)."""
    if not conversation_id:
        return (
            NO_CONVERSATION,
            *refresh_queue(services, zone=zone, language=language),
            NOTHING_CHOSEN,
        )
    try:
        services.staff.conversations.mark_handled(current_actor(services, request), conversation_id)
    except ReviewError as exc:
        status = f"❌ {escape_text(str(exc))}"
    else:
        status = "✅ Marked as handled."
    return (
        status,
        *refresh_queue(services, conversation_id, zone, language),
        render_transcript(services, conversation_id, zone),
    )


def build_handoff_tab(
    services: Services,
    demo: gr.Blocks | None = None,
    zone: gr.State | None = None,
    live: LiveConsole | None = None,
) -> gr.Tab:
    """The Handoff queue tab; `demo` (the page) fills the queue when it opens, in the
    browser's time zone when `zone` (chatbot.ui.times.track_browser_zone) is given; with
    `live` the queue and the open transcript follow changes by themselves."""
    private: dict[str, Any] = {"api_visibility": "private"}
    quiet: dict[str, Any] = {**private, "show_progress": "hidden"}
    ready = page_ready(demo, zone) if demo is not None else None
    with gr.Tab(TAB_LABEL, id="handoff-queue") as tab:
        # A tab built on its own shows UTC.
        zone = zone if zone is not None else gr.State(None)
        ids = gr.State([])
        with gr.Row():
            summary = gr.Markdown(elem_id="handoff-summary")
            # Choices are the languages conversations are in, read when the tab is shown.
            language = gr.Dropdown(
                choices=[(ALL_LANGUAGES, ALL_LANGUAGES)],
                value=ALL_LANGUAGES,
                label="Language",
                elem_id="handoff-language",
                scale=0,
                min_width=160,
            )
            reload = gr.Button("Refresh", elem_id="handoff-refresh", size="sm", scale=0)
        table = console_table(
            QUEUE_HEADERS,
            QUEUE_WIDTHS,
            elem_id="handoff-queue",
            label="Waiting for a person (longest waiting first)",
            max_height=360,
        )
        choice = gr.Dropdown(choices=[], label="Conversation", elem_id="handoff-choice")
        transcript = gr.Markdown(NOTHING_CHOSEN, elem_id="handoff-transcript")
        status = gr.Markdown(elem_id="handoff-status")
        box = gr.Textbox(label="Reply to the customer", lines=3, elem_id="handoff-reply-text")
        with gr.Row():
            send = gr.Button("Send reply", elem_id="handoff-reply", variant="primary")
            done = gr.Button("Mark handled", elem_id="handoff-handled")

        queue_outputs = [table, choice, ids, summary, tab]
        do_refresh = bind(refresh_queue, services)
        show = bind(render_transcript, services)
        # What fills the queue or picks from it runs one at a time in trigger order: a refresh
        # from the tab opening must not land after (and undo) a row picked later.
        in_order: dict[str, Any] = {"concurrency_id": "handoff-list", "concurrency_limit": 1}
        ordered = {**private, **in_order}
        reload.click(
            do_refresh,
            [choice, zone, language],
            queue_outputs,
            api_name="handoff_queue",
            **in_order,
        )
        tab.select(do_refresh, [choice, zone, language], queue_outputs, **ordered)
        tab.select(bind(language_choices, services), [language], [language], **private)
        language.input(do_refresh, [choice, zone, language], queue_outputs, **ordered)
        if ready is not None:
            ready(do_refresh, [choice, zone, language], queue_outputs, **ordered)
        table.select(select_row, inputs=[ids], outputs=[choice], **ordered)
        choice.change(show, [choice, zone], [transcript], **private)
        send.click(bind(reply, services), [choice, box, zone], [status, transcript, box], **private)
        done.click(
            bind(mark_handled, services),
            [choice, zone, language],
            [status, *queue_outputs, transcript],
            **ordered,
        )
        if live is not None:
            # Never the reply box: what an agent is typing stays as it is.
            live.queue().change(
                do_refresh,
                [choice, zone, language],
                queue_outputs,
                **ordered,
                show_progress="hidden",
            )
            live.transcript(choice).change(show, [choice, zone], [transcript], **quiet)
    return tab
