"""Answer generation: a Generator protocol, the local transformers backend and a test double."""

from chatbot.generation.base import ChatMessage, Generator

__all__ = ["ChatMessage", "Generator"]
