"""The customer page: the shop's heading (chatbot.ui.branding), the chat and its box. The
turn, feedback, staff-reply and restore logic is in chatbot.ui.chat; this module only lays
the page out and wires its events."""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.i18n import browser_language, gettext_for, translations
from chatbot.ui import branding
from chatbot.ui.chat import (
    CHAT_TEXTS,
    FEEDBACK_OPTIONS,
    NEW_CONVERSATION,
    SEND,
    STAFF_REPLY_POLL_SECONDS,
    SUPPORT,
    TYPE_YOUR_QUESTION,
    chat_turn,
    feedback_options,
    new_conversation,
    no_message_ids,
    poll_staff_replies,
    record_feedback,
    remember,
    restore_conversation,
    show_staff_replies,
)
from chatbot.ui.events import bind
from chatbot.ui.render import escape_text
from knowledge_base.language import ENGLISH

PAGE_TEXTS = (branding.DEFAULT_NAME, branding.WELCOME, *CHAT_TEXTS)


@cache
def chat_page_i18n() -> gr.I18n:
    """The customer page's labels in every supported language, for Gradio to show in the
    browser's (mount the page with it). Keyed by the English text, the catalogs' ids; "zh"
    also serves zh-CN, zh-TW, ... (Gradio looks up "zh" after "zh-CN")."""
    return gr.I18n(**translations(PAGE_TEXTS))


def page_css(services: Services) -> str:
    """The page's styles (mount the page with them): the shop's colour, see branding."""
    return branding.page_css(services.settings.branding)


def welcome(services: Services, language: str) -> str:
    """An empty chat's greeting, as markdown: the configured text (as text), else the page's
    own in `language`."""
    text = services.settings.branding.welcome
    return escape_text(text) if text else escape_text(gettext_for(language)(branding.WELCOME))


def on_load(services: Services, request: gr.Request | None = None) -> tuple[str, Any]:
    """On page load: the page's language (the browser's), and the chat in it: thumbs-down
    reasons, greeting and suggested questions."""
    headers = getattr(request, "headers", None) or {}
    language = browser_language(headers.get("accept-language"))
    questions = branding.suggested_questions(services.settings.branding, services.kb, language)
    return language, gr.update(
        feedback_options=feedback_options(language),
        placeholder=welcome(services, language),
        examples=[{"text": q} for q in questions] or None,
    )


def suggestion(evt: gr.SelectData) -> str:
    """The suggested question the customer clicked, into the box (then sent)."""
    value = evt.value
    return str(value.get("text", "")) if isinstance(value, dict) else str(value or "")


def build_chat_page(services: Services) -> gr.Blocks:
    """The customer page. Built, not launched; mount it with `i18n=chat_page_i18n()` and
    `css=page_css(services)`. (The browser tab's title is the shop's name, or "Support chat"
    in English: Gradio sets it as is.)"""
    i18n = chat_page_i18n()
    brand = services.settings.branding
    name = brand.name or branding.DEFAULT_NAME
    with gr.Blocks(title=name) as page:
        # Markdown, not gr.HTML: the page's CSP forbids the script evaluation gr.HTML needs.
        with gr.Row(elem_id="brand-header", equal_height=True):
            gr.Markdown(branding.logo_html(branding.logo_url(brand)), elem_id="brand-logo-box")
            # The default name is translated in the browser; the shop's is shown as written.
            title = escape_text(brand.name) if brand.name else i18n(branding.DEFAULT_NAME)
            gr.Markdown("# " + title, elem_id="brand-name")
        _build_chat(services, page, i18n)
    return page


def _build_chat(services: Services, page: gr.Blocks, i18n: gr.I18n) -> None:
    # The page's language, from the browser (see on_load); English until it loads.
    language = gr.State(ENGLISH)
    conversation = gr.State(None)
    # The chat as shown, kept on the server: the browser's copy is never read back.
    history = gr.State([])
    # A signed token for the conversation in the browser's storage (see remember).
    saved = gr.BrowserState(None, storage_key="support-chat-conversation")
    poll = gr.Timer(STAFF_REPLY_POLL_SECONDS)
    # What the timer found: set only when a staff reply arrived (see poll_staff_replies).
    staff_replies = gr.State(None)
    message_ids = gr.State([])
    chatbot = gr.Chatbot(
        elem_id="chatbot",
        label=i18n(SUPPORT),
        height=520,
        feedback_options=FEEDBACK_OPTIONS,
        # One bubble per message, so each answer (and staff reply) has its own thumbs:
        # a grouped bubble would report only its first message's index.
        group_consecutive_messages=False,
        # The greeting, in the page's language once it loads (see on_load).
        placeholder=str(i18n(branding.WELCOME)),
        # A copy button per message; no "share" (to Hugging Face) or "copy all".
        buttons=["copy"],
    )
    with gr.Row():
        box = gr.Textbox(
            elem_id="chat-input",
            placeholder=i18n(TYPE_YOUR_QUESTION),
            show_label=False,
            autofocus=True,
            scale=8,
        )
        send = gr.Button(i18n(SEND), elem_id="chat-send", variant="primary", scale=1)
    with gr.Row():
        new = gr.Button(i18n(NEW_CONVERSATION), elem_id="new-conversation", size="sm")
    turn = {
        "fn": partial(chat_turn, services),
        "inputs": [box, history, conversation, message_ids, language],
        "outputs": [chatbot, history, conversation, box, message_ids],
    }
    # A message sent while an answer is on its way stays in the box (the turn leaves the box
    # alone once it has taken its message) and is sent when that answer is complete.
    gr.on(triggers=[box.submit, send.click], api_name="chat", trigger_mode="always_last", **turn)
    chatbot.example_select(suggestion, outputs=[box], api_visibility="private").then(
        api_visibility="private", **turn
    )
    new.click(
        new_conversation,
        outputs=[chatbot, history, conversation, box],
        api_name="new_conversation",
    ).then(no_message_ids, outputs=[message_ids], api_visibility="private")
    chatbot.like(
        bind(record_feedback, services),
        inputs=[message_ids, conversation],
        outputs=None,
        api_visibility="private",
    )
    poll.tick(
        bind(poll_staff_replies, services),
        inputs=[conversation, message_ids, language],
        outputs=[staff_replies],
        api_visibility="private",
        show_progress="hidden",
    )
    # A State's change event runs only when the tick set a new value.
    staff_replies.change(
        show_staff_replies,
        inputs=[staff_replies, history, message_ids],
        outputs=[chatbot, history, message_ids],
        api_visibility="private",
        show_progress="hidden",
    )
    conversation.change(bind(remember, services), conversation, saved, api_visibility="private")
    # The language first: a restored conversation's staff replies are headed in it.
    page.load(
        bind(on_load, services),
        outputs=[language, chatbot],
        api_visibility="private",
        show_progress="hidden",
    ).then(
        bind(restore_conversation, services),
        inputs=[saved, language],
        outputs=[chatbot, history, conversation, message_ids],
        api_visibility="private",
    )
