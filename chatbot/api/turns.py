"""How many API turns are answered at once: `CHATBOT_SERVER__CONCURRENCY`, as on the chat page.

Without a limit every request starts generating at once, they all share the CPU, and the
slowest run past the turn timeout. With it the rest wait their turn (a turn's timeout starts
when it gets its slot, as on the page) before their message is stored.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable


class TurnSlots:
    """`await slots.take()` waits for a free slot and returns its release; release it once
    the answer is finished (`release_with` also releases it if the answer object is dropped
    without being finished, such as a stream the client left before it began)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0
        self._free = asyncio.Semaphore(size)

    async def take(self) -> Callable[[], None]:
        await self._free.acquire()
        self.in_use += 1
        loop = asyncio.get_running_loop()
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            # A finalizer may run on any thread; the semaphore belongs to the loop's.
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._give_back()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._give_back)

        return release

    def _give_back(self) -> None:
        self.in_use -= 1
        self._free.release()


def release_with(owner: object, release: Callable[[], None]) -> None:
    """Release when `owner` is garbage collected, in case nothing else does."""
    weakref.finalize(owner, release)
