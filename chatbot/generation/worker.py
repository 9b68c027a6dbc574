"""Streaming from an engine that writes on a thread of its own (llama.cpp's callback, an HTTP
client's blocking read): the worker puts text pieces on a queue and the customer's turn reads
them, keeping the turn's deadline even while the engine is silent."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from chatbot.generation.base import GenerationTimeout

POLL_SECONDS = 0.1  # how often a silent engine's turn looks at its deadline

Produce = Callable[[Callable[[str], None], threading.Event], None]


def _reraise(exc: BaseException) -> NoReturn:
    raise exc


def stream_from_worker(
    produce: Produce,
    deadline: float | None,
    on_error: Callable[[BaseException], NoReturn] = _reraise,
) -> Iterator[str]:
    """Run `produce(emit, stop)` on a thread named "generate" and yield what it emits.

    `produce` calls `emit(text)` for each piece and should end soon after `stop` is set, which
    happens however the stream ends (finished, closed by the consumer, past `deadline`,
    failed). Past `deadline` this raises GenerationTimeout; an exception raised by `produce`
    is passed to `on_error`, which raises (by default, the exception itself)."""
    pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            produce(lambda text: pieces.put(("text", text)), stop)
        except BaseException as exc:
            pieces.put(("error", exc))
        finally:
            pieces.put(("end", None))

    worker = threading.Thread(target=run, name="generate", daemon=True)
    worker.start()
    try:
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise GenerationTimeout("the answer was not finished in time")
            try:
                kind, value = pieces.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if kind == "text":
                yield value
            elif kind == "error":
                on_error(value)
            else:
                break
    finally:
        stop.set()
    worker.join()
