"""The "Handoff queue" tab: conversations handed to a person and not handled yet, longest
waiting first, with the customer's contact, the handoff reason and their last message. An
agent reads the transcript, replies (the customer sees it in the conversation) and marks the
conversation handled."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.review import ReviewError
from chatbot.ui.render import escape_text
from chatbot.ui.review import select_row
from chatbot.ui.review_actions import NO_CONVERSATION, staff_name
from chatbot.ui.staff import actor, bind
from chatbot.ui.transcript import NOTHING_CHOSEN, fmt_time, render_transcript

QUEUE_HEADERS = [
    "waiting since",
    "title",
    "handoff reason",
    "contact",
    "last customer message",
    "messages",
]
QUEUE_LIMIT = 200
EMPTY_QUEUE = "Nobody is waiting for a person. 🎉"

Row = list[Any]
# What a refresh puts on screen: table rows, conversation dropdown, ids in row order, summary.
QueueView = tuple[list[Row], Any, list[str], str]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def queue_table(
    services: Services, limit: int = QUEUE_LIMIT
) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    """The queue, longest waiting first: (rows in QUEUE_HEADERS order, dropdown choices as
    (label, id), ids in row order)."""
    items = services.conversations.handoff_queue(limit)
    rows = [
        [
            fmt_time(q.waiting_since),
            q.title,
            q.handoff_reason or "",
            q.contact or "",
            _short(q.last_customer_message),
            q.messages,
        ]
        for q in items
    ]
    choices = [(f"{fmt_time(q.waiting_since)} · {q.title[:60]}", q.id) for q in items]
    return rows, choices, [q.id for q in items]


def refresh_queue(services: Services, current: str | None = None) -> QueueView:
    """The queue, keeping the chosen conversation when it is still waiting."""
    rows, choices, ids = queue_table(services)
    summary = f"{len(ids)} conversation(s) waiting, longest first." if ids else EMPTY_QUEUE
    value = current if current in ids else None
    return rows, gr.update(choices=choices, value=value), ids, summary


def reply(
    services: Services,
    conversation_id: str | None,
    text: str | None,
    request: gr.Request | None = None,
) -> tuple[str, str, str]:
    """Send a staff reply into the conversation. Returns (status line, refreshed transcript,
    reply box: cleared once sent)."""
    if not conversation_id:
        return NO_CONVERSATION, render_transcript(services, conversation_id), text or ""
    try:
        services.conversations.reply_as_staff(conversation_id, staff_name(request), text or "")
    except ReviewError as exc:
        return (
            f"❌ {escape_text(str(exc))}",
            render_transcript(services, conversation_id),
            text or "",
        )
    services.audit.record(actor(request), "conversation.staff_reply", conversation_id)
    return (
        "✅ Reply sent: the customer sees it in the conversation.",
        render_transcript(services, conversation_id),
        "",
    )


def mark_handled(
    services: Services, conversation_id: str | None, request: gr.Request | None = None
) -> tuple[str, list[Row], Any, list[str], str, str]:
    """Take the conversation out of the queue. Returns (status line, then the refreshed
    queue: rows, dropdown, ids, summary; then the transcript)."""
    if not conversation_id:
        return (NO_CONVERSATION, *refresh_queue(services), NOTHING_CHOSEN)
    try:
        services.conversations.mark_handled(conversation_id, staff_name(request))
    except ReviewError as exc:
        status = f"❌ {escape_text(str(exc))}"
    else:
        services.audit.record(actor(request), "conversation.handled", conversation_id)
        status = "✅ Marked as handled."
    return (
        status,
        *refresh_queue(services, conversation_id),
        render_transcript(services, conversation_id),
    )


def build_handoff_tab(services: Services, demo: gr.Blocks | None = None) -> gr.Tab:
    """The Handoff queue tab; `demo` (the page) fills the queue when it loads."""
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Tab("Handoff queue", id="handoff-queue") as tab:
        ids = gr.State([])
        with gr.Row():
            summary = gr.Markdown(elem_id="handoff-summary")
            reload = gr.Button("Refresh", elem_id="handoff-refresh", size="sm", scale=0)
        table = gr.Dataframe(
            headers=QUEUE_HEADERS,
            interactive=False,
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

        queue_outputs = [table, choice, ids, summary]
        do_refresh = bind(refresh_queue, services)
        # What fills the queue or picks from it runs one at a time in trigger order: a refresh
        # from the tab opening must not land after (and undo) a row picked later.
        in_order: dict[str, Any] = {"concurrency_id": "handoff-list", "concurrency_limit": 1}
        ordered = {**private, **in_order}
        reload.click(do_refresh, [choice], queue_outputs, api_name="handoff_queue", **in_order)
        tab.select(do_refresh, [choice], queue_outputs, **ordered)
        if demo is not None:
            demo.load(do_refresh, [choice], queue_outputs, **ordered)
        table.select(select_row, inputs=[ids], outputs=[choice], **ordered)
        choice.change(bind(render_transcript, services), [choice], [transcript], **private)
        send.click(bind(reply, services), [choice, box], [status, transcript, box], **private)
        done.click(
            bind(mark_handled, services),
            [choice],
            [status, *queue_outputs, transcript],
            **ordered,
        )
    return tab
