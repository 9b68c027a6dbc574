"""The "Conversations" tab: recent conversations and one transcript, for staff review."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.conversations import MessageView
from chatbot.ui.chat import md_escape

CONVERSATION_HEADERS = [
    "started",
    "title",
    "channel",
    "messages",
    "last decision",
    "needs human",
]
NOTHING_CHOSEN = "Choose a conversation to see its transcript."
# The grounding check's outcome for a bot message (n.a.: not a generated answer, or an error).
GROUNDING: dict[bool | None, str] = {True: "passed", False: "failed", None: "n.a."}

Row = list[Any]


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def conversations_table(
    services: Services, limit: int = 50
) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    """Recent conversations, newest first.

    Returns (table rows in CONVERSATION_HEADERS order, dropdown choices as (label, id),
    the ids in row order).
    """
    recent = services.conversations.recent(limit)
    rows = [
        [
            _time(c.created_at),
            c.title,
            c.channel,
            c.messages,
            c.last_decision or "",
            "yes" if c.needs_human else "",
        ]
        for c in recent
    ]
    choices = [(f"{_time(c.created_at)} · {c.title[:60]}", c.id) for c in recent]
    return rows, choices, [c.id for c in recent]


def _message_markdown(m: MessageView) -> list[str]:
    if m.role != "assistant":
        # Customer text is shown as typed: no links, images or tables of theirs in staff view.
        return [
            f"**🧑 {m.role.capitalize()}** · {_time(m.created_at)}",
            "",
            md_escape(m.content),
            "",
        ]
    facts = [f"**🤖 Bot** · {_time(m.created_at)}"]
    if m.decision:
        facts.append(f"decision **{m.decision}**" + (f" ({m.reason})" if m.reason else ""))
    if m.answer_mode:
        facts.append(f"answer **{m.answer_mode}**")
    facts.append(f"grounding **{GROUNDING[m.grounded]}**")
    if m.latency_ms is not None:
        facts.append(f"{m.latency_ms:.0f} ms")
    if m.first_token_ms is not None:
        facts.append(f"first token {m.first_token_ms:.0f} ms")
    if m.status != "complete":
        facts.append(f"status **{m.status}**")
    out = [" · ".join(facts), ""]
    if m.rewritten_query:
        out += [f"searched as: “{md_escape(m.rewritten_query)}”", ""]
    out += [m.content, ""]
    if m.sources:
        out += ["| rank | entry id | title | score |", "|---:|---|---|---:|"]
        for s in m.sources:
            title = md_escape(s.title)
            if s.url:
                title = f"[{title}]({s.url})"
            out.append(f"| {s.rank} | `{s.entry_id}` | {title} | {s.score:.3f} |")
        out.append("")
    return out


def render_transcript(services: Services, conversation_id: str | None) -> str:
    """The transcript as markdown: each message with role, time and content; bot messages
    also with decision (+reason), answer mode, grounding outcome, latency, the follow-up
    rewrite it searched with and the retrieved sources with their scores. The header shows
    why the conversation was handed off and the contact details the customer left."""
    if not conversation_id:
        return NOTHING_CHOSEN
    t = services.conversations.transcript(conversation_id)
    if t is None:
        return f"Conversation `{conversation_id}` was not found."
    head = f"`{t.id}` · {t.channel} · started {_time(t.created_at)}"
    if t.needs_human:
        head += " · ⚠️ **needs a human**"
    if t.handoff_reason:
        head += f" · handoff reason **{t.handoff_reason}**"
    if t.contact:
        head += f" · contact **{md_escape(t.contact)}**"
    title = " ".join(t.title.split())  # a multi-line first message must not break the heading
    lines = [f"### {md_escape(title)}", head, "", "---", ""]
    for m in t.messages:
        lines += _message_markdown(m)
    return "\n".join(lines).rstrip() + "\n"


def select_row(ids: list[str], evt: gr.SelectData) -> str | None:
    """Map a clicked table row to its conversation id (ids are kept in row order)."""
    row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    return ids[row] if isinstance(row, int) and 0 <= row < len(ids) else None


def refresh(services: Services, current: str | None) -> tuple[list[Row], Any, list[str]]:
    """Table rows, the dropdown (keeping the current choice if it still exists) and ids."""
    rows, choices, ids = conversations_table(services)
    return rows, gr.update(choices=choices, value=current if current in ids else None), ids


def build_review_tab(services: Services, demo: gr.Blocks) -> gr.Tab:
    with gr.Tab("Conversations", id="conversations") as tab:
        ids = gr.State([])
        with gr.Row():
            choice = gr.Dropdown(choices=[], label="Conversation", elem_id="review-choice", scale=4)
            reload = gr.Button("Refresh", elem_id="review-refresh", size="sm", scale=1)
        table = gr.Dataframe(
            headers=CONVERSATION_HEADERS,
            interactive=False,
            elem_id="review-conversations",
            label="Recent conversations (newest first)",
            max_height=320,
        )
        transcript = gr.Markdown(NOTHING_CHOSEN, elem_id="review-transcript")

        do_refresh = partial(refresh, services)
        outputs = [table, choice, ids]
        reload.click(do_refresh, inputs=[choice], outputs=outputs, api_name="conversations")
        tab.select(do_refresh, inputs=[choice], outputs=outputs, api_visibility="private")
        demo.load(do_refresh, inputs=[choice], outputs=outputs, api_visibility="private")
        table.select(select_row, inputs=[ids], outputs=[choice], api_visibility="private")
        choice.change(
            partial(render_transcript, services),
            inputs=[choice],
            outputs=[transcript],
            api_name="transcript",
        )
    return tab
