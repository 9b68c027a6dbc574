"""The two Gradio pages: the customer chat (public) and the staff console (behind a login,
see chatbot.web). Each tab is built by its own module; no logic here, only layout."""

from __future__ import annotations

import logging

import gradio as gr

from chatbot.container import Services
from chatbot.ui.analytics import build_analytics_tab
from chatbot.ui.audit import build_audit_tab
from chatbot.ui.chat import build_chat_tab
from chatbot.ui.handoff_queue import build_handoff_tab
from chatbot.ui.knowledge import build_knowledge_tab
from chatbot.ui.review import build_review_tab
from chatbot.ui.staff import bind, signed_in_line

log = logging.getLogger(__name__)

TITLE = "Support chat"
CONSOLE_TITLE = "Staff console"
CONSOLE_PATH = "/admin"  # where chatbot.web mounts the console


def build_chat_page(services: Services) -> gr.Blocks:
    """The customer page: the chat and nothing else. Built, not launched."""
    with gr.Blocks(title=TITLE) as page:
        gr.Markdown(f"## {TITLE}")
        with gr.Tabs():
            build_chat_tab(services, page)
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
