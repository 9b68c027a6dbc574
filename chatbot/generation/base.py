"""The generator seam: chat messages in, a stream of text pieces out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypedDict


class ChatMessage(TypedDict):
    role: str  # system | user | assistant
    content: str


class Generator(Protocol):
    """Streams the answer to a chat prompt as text pieces."""

    name: str

    def stream(self, messages: list[ChatMessage], max_new_tokens: int) -> Iterator[str]: ...
