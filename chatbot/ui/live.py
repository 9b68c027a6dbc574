"""Live updates of the staff console: the handoff queue and the open transcripts follow what
customers do without anyone pressing Refresh.

One timer per open console asks, every POLL_SECONDS, for the stamps of what the page shows
(`ConversationLog.live_stamps`: one small query) and compares them with the ones it saw
last. Nothing else runs while nothing changed. A stamp that changed goes to a gr.State, and
the State's change event rebuilds only what it stands for (the queue, or one transcript),
as the customer page does for staff replies (chatbot.ui.chat.poll_staff_replies): a timer
writing to the shown components directly would redraw them, loading status and all, every
few seconds. No refresh ever writes to a box staff type into (a reply, a note).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.storage.queue_queries import QueueStamp

POLL_SECONDS = 5
# What a transcript's State holds: the conversation shown and its stamp (None: not found).
TranscriptSeen = tuple[str, Any] | None


def waiting_news(count: int) -> str:
    """The toast when more customers wait for a person than the page last saw."""
    return f"{plural(count, 'customer')} waiting for a person."


def poll_console(
    services: Services,
    queue_seen: QueueStamp | None,
    transcripts_seen: Sequence[TranscriptSeen],
    chosen: Sequence[str | None],
) -> list[Any]:
    """For the timer: the queue's new stamp, then each transcript's new (id, stamp), where
    they differ from what the page saw (`queue_seen`, `transcripts_seen`, one per
    conversation dropdown value in `chosen`); gr.skip() for each that did not change. A
    queue that grew since the page last looked also raises a toast."""
    stamps = services.conversations.live_stamps([c for c in chosen if c])
    out: list[Any] = []
    if stamps.queue == queue_seen:
        out.append(gr.skip())
    else:
        if queue_seen is not None and stamps.queue.waiting > queue_seen.waiting:
            gr.Info(waiting_news(stamps.queue.waiting))
        out.append(stamps.queue)
    for conversation_id, seen in zip(chosen, transcripts_seen, strict=True):
        now = (
            (conversation_id, stamps.conversations.get(conversation_id))
            if conversation_id
            else None
        )
        out.append(gr.skip() if now == seen else now)
    return out


class LiveConsole:
    """What the console's timer watches. Tabs ask for the States to listen to (`queue`,
    `transcript`) while they are built; `start` then adds the timer, inside the page."""

    def __init__(self) -> None:
        self._queue: gr.State | None = None
        self._transcripts: list[tuple[gr.Dropdown, gr.State]] = []

    def queue(self) -> gr.State:
        """A State whose change event fires when the handoff queue changed (a customer
        handed off, handled, or writing in a handed-off conversation)."""
        if self._queue is None:
            self._queue = gr.State(None)
        return self._queue

    def transcript(self, choice: gr.Dropdown) -> gr.State:
        """A State whose change event fires when the conversation chosen in `choice` changed
        (a message, rating, note, label, handoff or handled mark)."""
        seen = gr.State(None)
        self._transcripts.append((choice, seen))
        return seen

    def start(self, services: Services) -> gr.Timer:
        """The timer, polling for everything the tabs asked to watch."""
        timer = gr.Timer(POLL_SECONDS)
        queue = self.queue()
        choices = [choice for choice, _ in self._transcripts]
        seen = [state for _, state in self._transcripts]

        def tick(queue_seen: QueueStamp | None, *values: Any) -> Any:
            out = poll_console(services, queue_seen, values[: len(seen)], values[len(seen) :])
            # Gradio takes a lone output's value as it is, not in a list.
            return out if len(out) > 1 else out[0]

        timer.tick(
            tick,
            inputs=[queue, *seen, *choices],
            outputs=[queue, *seen],
            api_visibility="private",
            show_progress="hidden",
        )
        return timer
