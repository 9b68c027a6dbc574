"""Gradio web UI: chat, knowledge-base management and conversation review."""

from chatbot.ui.app import build_app

__all__ = ["build_app"]
