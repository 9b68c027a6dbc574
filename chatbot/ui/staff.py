"""Who is signed in to the staff console, as the staff actions' `Actor`.

Console handlers take a `request: gr.Request | None = None` parameter: Gradio fills it in on
every call through the web app (also API calls), with `request.username` set by the login.
`None` means a direct Python call (tests, scripts in the same process), which is trusted.
Each handler resolves the caller once with `current_actor` (as a FastAPI route would with a
dependency) and hands it to the staff action, which checks the role; a refusal
(chatbot.staff.actor.Forbidden) is shown with `refusal`.
"""

from __future__ import annotations

import gradio as gr

from chatbot.container import Services
from chatbot.staff.actor import LOCAL, Actor, Forbidden

# Actor recorded in the audit log for a direct Python call (no web request).
LOCAL_ACTOR = LOCAL.name
# A request without a signed-in user: audited under this name, refused anything admin-only.
ANONYMOUS = Actor("anonymous", None, signed_in=False, agent="staff")


def username(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def current_actor(services: Services, request: gr.Request | None) -> Actor:
    """The staff user behind this call, with their current role (looked up now: a role
    changed or a user removed since the sign-in counts at once)."""
    if request is None:
        return LOCAL
    name = username(request)
    if not name:
        return ANONYMOUS
    return Actor(name, services.accounts.role_of(name))


def refusal(exc: Forbidden) -> str:
    """A refused action as the console shows it (markdown)."""
    return f"⛔ {exc}"


def signed_in_line(services: Services, request: gr.Request | None) -> str:
    """The console header: who is signed in, with which role."""
    name = username(request)
    if not name:
        return "Not signed in."
    role = services.accounts.role_of(name) or "no role"
    return f"Signed in as **{name}** ({role})"
