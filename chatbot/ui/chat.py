"""The "Chat" tab: stream DialogueManager replies into a gr.Chatbot (messages format)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.dialogue import ERROR_TEXT, PROMPT_FOR_QUESTION, Source

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]
ChatTurn = tuple[list[ChatMessage], str | None, str]

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]|<>"})


def md_escape(text: str) -> str:
    """Escape the characters that would turn plain text into markdown links or tables."""
    return text.translate(_MD_SPECIAL)


def format_sources(sources: Sequence[Source]) -> str:
    """A markdown "Sources" block: title (linked), entry in document, score, snippet."""
    lines = ["---", "**Sources**", ""]
    for i, src in enumerate(sources, start=1):
        title = md_escape(src.title)
        if src.url:
            title = f"[{title}]({src.url})"
        where = f"`{src.entry_id}`" + (f" in {md_escape(src.document)}" if src.document else "")
        lines.append(f"{i}. **{title}** · {where} · score {src.score:.2f}")
        lines.append(f"   {md_escape(src.snippet)}")
    return "\n".join(lines)


def _with_reply(history: list[ChatMessage], text: str) -> list[ChatMessage]:
    return [*history, {"role": "assistant", "content": text}]


def chat_turn(
    services: Services,
    message: str | None,
    history: list[ChatMessage] | None,
    conversation_id: str | None,
) -> Iterator[ChatTurn]:
    """Run one customer turn, streaming.

    Args: `message` is the textbox value, `history` the gr.Chatbot value (messages format;
    never mutated), `conversation_id` the per-session gr.State (None starts a conversation).

    Yields `(history, conversation_id, textbox_value)`: first the user message with an empty
    assistant message, then once per streamed piece, and last the full answer followed by a
    "Sources" block when the reply has sources. An empty message never reaches the dialogue
    manager: the assistant asks for a question and nothing is stored.
    """
    base = list(history or [])
    text = (message or "").strip()
    if not text:
        yield _with_reply(base, PROMPT_FOR_QUESTION), conversation_id, ""
        return
    base.append({"role": "user", "content": text})
    yield _with_reply(base, ""), conversation_id, ""
    shown = ""
    try:
        reply = services.dialogue.respond(text, conversation_id=conversation_id, channel="web")
        conversation_id = reply.conversation_id
        for piece in reply:
            shown += piece
            yield _with_reply(base, shown), conversation_id, ""
        final = reply.text or shown
    except Exception:
        log.exception("chat turn failed")
        final = f"{shown}\n\n{ERROR_TEXT}".strip()
        yield _with_reply(base, final), conversation_id, ""
        return
    if reply.sources:
        final = f"{final}\n\n{format_sources(reply.sources)}"
    yield _with_reply(base, final), conversation_id, ""


def new_conversation() -> ChatTurn:
    """Clear the chat and forget the conversation id; the next message starts a new one."""
    return [], None, ""


def build_chat_tab(services: Services) -> gr.Tab:
    with gr.Tab("Chat", id="chat") as tab:
        conversation = gr.State(None)
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label="Support",
            height=520,
            feedback_options=None,
            placeholder="Ask a question…",
        )
        with gr.Row():
            box = gr.Textbox(
                elem_id="chat-input",
                placeholder="Type your question and press Enter",
                show_label=False,
                autofocus=True,
                scale=8,
            )
            send = gr.Button("Send", elem_id="chat-send", variant="primary", scale=1)
        new = gr.Button("New conversation", elem_id="new-conversation", size="sm")
        gr.on(
            triggers=[box.submit, send.click],
            fn=partial(chat_turn, services),
            inputs=[box, chatbot, conversation],
            outputs=[chatbot, conversation, box],
            api_name="chat",
        )
        new.click(
            new_conversation, outputs=[chatbot, conversation, box], api_name="new_conversation"
        )
    return tab
