"""The Gradio app: three tabs, each built by its own module. No logic here, only layout."""

from __future__ import annotations

import gradio as gr

from chatbot.container import Services
from chatbot.ui.chat import build_chat_tab
from chatbot.ui.knowledge import build_knowledge_tab
from chatbot.ui.review import build_review_tab

TITLE = "Support chat"


def build_app(services: Services) -> gr.Blocks:
    """Build (not launch) the web UI. Theme and CSS, if any, go to `launch()` in Gradio 6."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"## {TITLE}")
        with gr.Tabs():
            build_chat_tab(services)
            build_knowledge_tab(services, demo)
            build_review_tab(services, demo)
    return demo
