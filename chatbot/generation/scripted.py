"""A deterministic generator for tests: replays scripted replies and records every prompt."""

from __future__ import annotations

import time
from collections.abc import Iterator

from chatbot.generation.base import ChatMessage, GenerationTimeout

# Tokens the chat template adds around each message (role markers), as real templates do.
MESSAGE_OVERHEAD_TOKENS = 4


class ScriptedGenerator:
    """Returns the scripted replies in order (the last one repeats), streamed word by word.

    With no script it echoes the first line of the last passage found in the prompt, which is
    what a well-behaved model does for a single relevant FAQ entry. A token is a word here.
    `delay_s` waits after each word (a slow model); `outcomes` records how each stream ended:
    complete, closed (the consumer stopped reading), timeout or failed.
    """

    name = "scripted"

    def __init__(
        self,
        replies: list[str] | None = None,
        fail_after: int | None = None,
        *,
        context: int = 8192,
        delay_s: float = 0.0,
    ) -> None:
        self.replies = list(replies or [])
        self.prompts: list[list[ChatMessage]] = []
        self.fail_after = fail_after
        self.context = context
        self.delay_s = delay_s
        self.outcomes: list[str] = []

    def warm_up(self) -> None:
        """Nothing to load."""

    def context_tokens(self) -> int:
        return self.context

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return sum(len(m["content"].split()) + MESSAGE_OVERHEAD_TOKENS for m in messages)

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        self.prompts.append(messages)
        if self.replies:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        else:
            reply = f"Scripted answer to: {messages[-1]['content'].splitlines()[-1]}"
        outcome = "closed"
        try:
            for i, word in enumerate(reply.split(" ")[:max_new_tokens]):
                if deadline is not None and time.monotonic() >= deadline:
                    outcome = "timeout"
                    raise GenerationTimeout("scripted generator ran past the deadline")
                if self.fail_after is not None and i >= self.fail_after:
                    outcome = "failed"
                    raise RuntimeError("scripted generator failure")
                yield word if i == 0 else f" {word}"
                if self.delay_s:
                    time.sleep(self.delay_s)
            outcome = "complete"
        finally:
            self.outcomes.append(outcome)
