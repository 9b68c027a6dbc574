"""The generator seam: chat messages in, a stream of text pieces out.

A generator also says how much text its model can read (`context_tokens`, counted the way
`count_tokens` counts a prompt), so the dialogue can cut a prompt to fit before sending it.
Its stream ends the model's work when it is closed (the customer left) and raises
`GenerationTimeout` once the turn's deadline has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypedDict


class ChatMessage(TypedDict):
    role: str  # system | user | assistant
    content: str


class GenerationTimeout(TimeoutError):
    """The answer was not finished by the turn's deadline; generation has been stopped."""


class GeneratorUnavailable(RuntimeError):
    """The engine could not be reached (an inference server down, refusing or too slow). An
    expected outage, not a bug: the message says what to check, so it is logged without a
    traceback, and the customer gets the polite error reply."""


class Generator(Protocol):
    """Streams the answer to a chat prompt as text pieces."""

    name: str

    def warm_up(self) -> None:
        """Loads the model now (a no-op once loaded), so the first customer does not wait."""
        ...

    def context_tokens(self) -> int:
        """The most tokens the model reads at once: prompt and answer together."""
        ...

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """The prompt's length in tokens, as the model will see it."""
        ...

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        """The answer in pieces. `deadline` is a `time.monotonic()` value: past it, generation
        stops and `GenerationTimeout` is raised. Closing the iterator stops generation too."""
        ...
