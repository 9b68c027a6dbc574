"""The web app served by `chatbot serve`: one FastAPI app with two Gradio pages.

- `/`      the customer chat (public): only the chat, nothing staff-facing.
- `/admin` the staff console (knowledge base, conversations, analytics, audit log) behind a
  login checked against StaffAccounts. Gradio guards the console's page config, its API
  (`/admin/gradio_api/...`: queue, calls, uploads, files, info) and its files with the
  session cookie it sets at `POST /admin/login`; without it they answer 401, and the page
  itself shows only the login form.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from gradio.utils import get_upload_folder

from chatbot.auth import StaffAccounts
from chatbot.container import Services
from chatbot.ui.app import CONSOLE_PATH, build_chat_page, build_console
from knowledge_base.limits import MB

log = logging.getLogger(__name__)

# The customer page takes no files; this only bounds what Gradio's generic upload route takes.
CHAT_PAGE_MAX_UPLOAD = "1mb"
LOGIN_MESSAGE = "Staff console: sign in with your staff account."


def staff_login(accounts: StaffAccounts) -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's `auth` callable. Async so the argon2 check runs off the event loop."""

    async def check(username: str, password: str) -> bool:
        role = await asyncio.to_thread(accounts.verify, username, password)
        if role is None:
            log.warning("refused staff login for %r", username[:64])
        return role is not None

    return check


def create_app(services: Services) -> FastAPI:
    """Build (not run) the FastAPI app; run it with uvicorn."""
    app = FastAPI(title="Support chat", docs_url=None, redoc_url=None, openapi_url=None)
    concurrency = services.settings.server.concurrency

    @app.get(CONSOLE_PATH, include_in_schema=False)
    def console_without_slash() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PATH}/")

    console = build_console(services).queue(default_concurrency_limit=concurrency)
    # Mounted before "/", which would otherwise take every path.
    gr.mount_gradio_app(
        app,
        console,
        path=CONSOLE_PATH,
        auth=staff_login(services.accounts),
        auth_message=LOGIN_MESSAGE,
        run_history=False,  # no copies of customer conversations in the browser
        max_file_size=int(services.settings.ingest.max_file_mb * MB),
    )

    # Several customers are answered at once; more wait in Gradio's queue.
    chat = build_chat_page(services).queue(default_concurrency_limit=concurrency)
    gr.mount_gradio_app(
        app,
        chat,
        path="/",
        run_history=False,
        max_file_size=CHAT_PAGE_MAX_UPLOAD,
        # The public page must not serve the files staff upload to the console (both apps
        # share Gradio's upload folder).
        blocked_paths=[get_upload_folder()],
    )
    return app
