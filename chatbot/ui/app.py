"""The two Gradio pages: the customer chat (public) and the staff console (behind a login,
see chatbot.web.app). Each tab is built by its own module; no logic here, only layout."""

from __future__ import annotations

import logging

import gradio as gr

from chatbot.container import Services
from chatbot.ui.analytics import build_analytics_tab
from chatbot.ui.api_keys import build_api_keys_tab
from chatbot.ui.audit import build_audit_tab
from chatbot.ui.chat_page import build_chat_page, chat_page_i18n, page_css
from chatbot.ui.events import bind
from chatbot.ui.handoff_queue import build_handoff_tab
from chatbot.ui.knowledge import build_knowledge_tab
from chatbot.ui.live import LiveConsole
from chatbot.ui.review import build_review_tab
from chatbot.ui.staff import signed_in_line
from chatbot.ui.times import track_browser_zone, zone_caption
from chatbot.ui.training import build_training_tab
from chatbot.ui.webhooks import build_webhooks_tab

log = logging.getLogger(__name__)

CONSOLE_TITLE = "Staff console"
CONSOLE_PATH = "/admin"  # where chatbot.web.app mounts the console
__all__ = [
    "CONSOLE_PATH",
    "build_chat_page",
    "build_console",
    "chat_page_i18n",
    "page_css",
]


def build_console(services: Services) -> gr.Blocks:
    """The staff console: knowledge base, conversations, handoff queue, analytics, audit log.
    Built, not launched; chatbot.web.app mounts it behind the staff login. Times are shown in
    the browser's time zone; the handoff queue and open transcripts update by themselves."""
    with gr.Blocks(title=CONSOLE_TITLE) as console:
        with gr.Row():
            who = gr.Markdown(elem_id="console-user")
            zone_line = gr.Markdown(elem_id="console-zone")
            gr.Button(
                "Sign out",
                link=f"{CONSOLE_PATH}/logout",
                size="sm",
                scale=0,
                elem_id="console-logout",
            )
        # The tabs fill themselves once the browser has told its zone.
        zone = track_browser_zone(console)
        live = LiveConsole()
        with gr.Tabs():
            build_knowledge_tab(services, console, zone)
            build_review_tab(services, console, zone, live)
            build_handoff_tab(services, console, zone, live)
            build_analytics_tab(services)
            build_webhooks_tab(services, console, zone)
            build_api_keys_tab(services, console, zone)
            build_training_tab(services, console, zone)
            build_audit_tab(services, console, zone)
        live.start(services)
        console.load(bind(signed_in_line, services), outputs=[who], api_visibility="private")
        zone.change(zone_caption, inputs=[zone], outputs=[zone_line], api_visibility="private")
    return console
