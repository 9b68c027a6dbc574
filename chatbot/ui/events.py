"""Handlers with the services filled in, for Gradio events."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from chatbot.container import Services

P = ParamSpec("P")
R = TypeVar("R")


def bind(fn: Callable[Concatenate[Services, P], R], services: Services) -> Callable[P, R]:
    """`fn` with `services` filled in, for a Gradio event.

    Unlike `functools.partial`, Gradio still sees the parameters' type hints, so it passes
    `gr.Request` (and `gr.Progress`) to handlers that ask for them. Not for generators.
    """

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(services, *args, **kwargs)

    signature = inspect.signature(fn)
    bound.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    return bound
