"""A deterministic generator for tests: replays scripted replies and records every prompt."""

from __future__ import annotations

from collections.abc import Iterator

from chatbot.generation.base import ChatMessage


class ScriptedGenerator:
    """Returns the scripted replies in order (the last one repeats), streamed word by word.

    With no script it echoes the first line of the last passage found in the prompt, which is
    what a well-behaved model does for a single relevant FAQ entry.
    """

    name = "scripted"

    def __init__(self, replies: list[str] | None = None, fail_after: int | None = None) -> None:
        self.replies = list(replies or [])
        self.prompts: list[list[ChatMessage]] = []
        self.fail_after = fail_after

    def stream(self, messages: list[ChatMessage], max_new_tokens: int) -> Iterator[str]:
        self.prompts.append(messages)
        if self.replies:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        else:
            reply = f"Scripted answer to: {messages[-1]['content'].splitlines()[-1]}"
        for i, word in enumerate(reply.split(" ")):
            if self.fail_after is not None and i >= self.fail_after:
                raise RuntimeError("scripted generator failure")
            yield word if i == 0 else f" {word}"
