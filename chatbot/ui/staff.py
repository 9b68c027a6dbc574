"""Who is signed in to the staff console and what their role allows.

Console handlers take a `request: gr.Request | None = None` parameter: Gradio fills it in on
every call through the web app (also API calls), with `request.username` set by the login.
`None` means a direct Python call (tests, scripts in the same process), which is trusted.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import gradio as gr

from chatbot.container import Services

P = ParamSpec("P")
R = TypeVar("R")

# Actor recorded in the audit log for a direct Python call (no web request).
LOCAL_ACTOR = "local"


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


def username(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def actor(request: gr.Request | None) -> str:
    """The name to record in the audit log for this call."""
    if request is None:
        return LOCAL_ACTOR
    return username(request) or "anonymous"


def admin_refusal(services: Services, request: gr.Request | None, doing: str) -> str | None:
    """None when the caller may do an admin-only thing (`doing`, e.g. "delete documents"),
    else the markdown message to show instead."""
    if request is None:
        return None
    name = username(request)
    if not name:
        return f"⛔ Sign in to the staff console to {doing}."
    role = services.accounts.role_of(name)
    if role == "admin":
        return None
    if role is None:
        return f"⛔ {name} is no longer a staff user; sign in again to {doing}."
    return f"⛔ Only an admin can {doing}; you are signed in as {name} ({role}). Ask an admin."


def signed_in_line(services: Services, request: gr.Request | None) -> str:
    """The console header: who is signed in, with which role."""
    name = username(request)
    if not name:
        return "Not signed in."
    role = services.accounts.role_of(name) or "no role"
    return f"Signed in as **{name}** ({role})"
