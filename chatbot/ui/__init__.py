"""Gradio web UI: the customer chat page and the staff console (knowledge base, conversation
review, analytics, audit log)."""

from chatbot.ui.app import build_chat_page, build_console

__all__ = ["build_chat_page", "build_console"]
