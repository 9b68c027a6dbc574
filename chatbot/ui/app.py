"""The two Gradio pages: the customer chat (public) and the staff console (behind a login,
see chatbot.web). Each tab is built by its own module; no logic here, only layout."""

from __future__ import annotations

import logging
from functools import cache

import gradio as gr

from chatbot.container import Services
from chatbot.i18n import N_, translations
from chatbot.ui.analytics import build_analytics_tab
from chatbot.ui.audit import build_audit_tab
from chatbot.ui.chat import TAB_TEXTS, build_chat_tab
from chatbot.ui.handoff_queue import build_handoff_tab
from chatbot.ui.knowledge import build_knowledge_tab
from chatbot.ui.review import build_review_tab
from chatbot.ui.staff import bind, signed_in_line

log = logging.getLogger(__name__)

TITLE = N_("Support chat")
CONSOLE_TITLE = "Staff console"
CONSOLE_PATH = "/admin"  # where chatbot.web mounts the console


@cache
def chat_page_i18n() -> gr.I18n:
    """The customer page's labels in every supported language, for Gradio to show in the
    browser's (mount the page with it). Keyed by the English text, the catalogs' ids; "zh"
    also serves zh-CN, zh-TW, ... (Gradio looks up "zh" after "zh-CN")."""
    return gr.I18n(**translations((TITLE, *TAB_TEXTS)))


def build_chat_page(services: Services) -> gr.Blocks:
    """The customer page: the chat and nothing else. Built, not launched; mount it with
    `i18n=chat_page_i18n()`. (The browser tab's title stays English: Gradio sets it as is.)"""
    i18n = chat_page_i18n()
    with gr.Blocks(title=TITLE) as page:
        gr.Markdown("## " + i18n(TITLE))
        with gr.Tabs():
            build_chat_tab(services, page, i18n)
    return page


def build_console(services: Services) -> gr.Blocks:
    """The staff console: knowledge base, conversations, analytics, audit log. Built, not
    launched; chatbot.web mounts it behind the staff login."""
    with gr.Blocks(title=CONSOLE_TITLE) as console:
        with gr.Row():
            who = gr.Markdown(elem_id="console-user")
            gr.Button(
                "Sign out",
                link=f"{CONSOLE_PATH}/logout",
                size="sm",
                scale=0,
                elem_id="console-logout",
            )
        with gr.Tabs():
            build_knowledge_tab(services, console)
            build_review_tab(services, console)
            build_handoff_tab(services, console)
            build_analytics_tab(services)
            build_audit_tab(services, console)
        console.load(bind(signed_in_line, services), outputs=[who], api_visibility="private")
    return console


def build_app(services: Services) -> gr.Blocks:
    """The staff console (the name older code uses); the customer page is build_chat_page."""
    return build_console(services)
