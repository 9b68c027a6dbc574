"""The web app served by `chatbot serve`: one FastAPI app with two Gradio pages.

- `/`      the customer chat (public): only the chat, nothing staff-facing.
- `/api/v1` the HTTP API for programs, with API keys (chatbot.api); docs at `/api/docs`.
- `/admin` the staff console (knowledge base, conversations, analytics, audit log) behind a
  login checked against StaffAccounts. Gradio guards the console's page config, its API
  (`/admin/gradio_api/...`: queue, calls, uploads, files, info) and its files with the
  session cookie it sets at `POST /admin/login`; without it they answer 401, and the page
  itself shows only the login form. An address with too many failed sign-ins is refused for a
  while (HTTP 429, see chatbot.staff.login_limit).

What a browser may send and read is bounded in the modules named here: server files
(chatbot.web.files), sessions (chatbot.staff.sessions), other sites, headers and proxies
(chatbot.web.security), health (chatbot.web.health); docs/SECURITY.md says what they promise.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

import gradio as gr
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from gradio.utils import get_upload_folder

from chatbot.api.router import install_api
from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.auth import StaffAccounts
from chatbot.staff.login_limit import LoginLimiter
from chatbot.staff.sessions import StaffSessions
from chatbot.ui.app import CONSOLE_PATH, build_chat_page, build_console, chat_page_i18n, page_css
from chatbot.web.files import guard_files, mark_launched
from chatbot.web.health import add_health_route
from chatbot.web.security.install import install_web_security
from chatbot.web.widget.routes import install_widget
from knowledge_base.limits import MB

log = logging.getLogger(__name__)

# The customer page takes no files (chatbot.web.files refuses its upload route); a second bound.
CHAT_PAGE_MAX_UPLOAD = "1mb"
LOGIN_MESSAGE = "Staff console: sign in with your staff account."
LOGIN_PATHS = (f"{CONSOLE_PATH}/login", f"{CONSOLE_PATH}/login/")


def staff_login(accounts: StaffAccounts) -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's `auth` callable. Async so the argon2 check runs off the event loop."""

    async def check(username: str, password: str) -> bool:
        role = await asyncio.to_thread(accounts.verify, username, password)
        if role is None:
            # Not the typed name: it is often a password typed into the wrong field.
            log.warning("refused a staff sign-in (wrong user name or password)")
        return role is not None

    return check


def create_app(services: Services) -> FastAPI:
    """Build (not run) the FastAPI app; run it with uvicorn."""
    app = FastAPI(title="Support chat", docs_url=None, redoc_url=None, openapi_url=None)
    concurrency = services.settings.server.concurrency

    @app.get(CONSOLE_PATH, include_in_schema=False)
    def console_without_slash() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PATH}/")

    add_health_route(app, services.engine)  # GET /healthz, no sign-in (see chatbot.web.health)
    # The HTTP API (/api/v1, /v1/chat/completions, docs at /api/docs): before the Gradio
    # mounts, as "/" would otherwise take its paths.
    install_api(app, services)
    install_widget(app)  # GET /widget.js, the website widget (see chatbot.web.widget)

    server = services.settings.server
    limiter = LoginLimiter(server.login_max_failures, server.login_window_seconds)

    @app.middleware("http")
    async def limit_sign_ins(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse sign-ins from an address with too many recent failures (see login_limit)."""
        if request.method != "POST" or request.url.path not in LOGIN_PATHS:
            return await call_next(request)
        address = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(address)
        if wait > 0:
            seconds = math.ceil(wait)
            log.warning("refused staff sign-in from %s: too many failures", address)
            return JSONResponse(
                {
                    "detail": "Too many failed sign-ins from this address. "
                    f"Try again in {plural(seconds, 'second')}."
                },
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        response = await call_next(request)
        if response.status_code == 200:
            limiter.succeeded(address)
        elif 400 <= response.status_code < 500:
            limiter.failed(address)
        return response

    console = build_console(services).queue(default_concurrency_limit=concurrency)
    # A password change or removed user ends that user's sessions (see chatbot.staff.sessions).
    staff_sessions = StaffSessions(services.accounts)
    # Mounted before "/", which would otherwise take every path.
    gr.mount_gradio_app(
        app,
        console,
        path=CONSOLE_PATH,
        auth=staff_sessions.guard(staff_login(services.accounts)),
        auth_message=LOGIN_MESSAGE,
        run_history=False,  # no copies of customer conversations in the browser
        max_file_size=int(services.settings.ingest.max_file_mb * MB),
    )
    mark_launched(console)
    staff_sessions.install(app, CONSOLE_PATH)

    # Several customers are answered at once; more wait in Gradio's queue.
    chat = build_chat_page(services).queue(default_concurrency_limit=concurrency)
    gr.mount_gradio_app(
        app,
        chat,
        path="/",
        run_history=False,
        max_file_size=CHAT_PAGE_MAX_UPLOAD,
        # Customers see the support chat only: no API docs, settings or "Built with" links.
        footer_links=[],
        i18n=chat_page_i18n(),  # the page's labels in the browser's language
        css=page_css(services),  # the shop's colour (settings.branding)
        # The public page must not serve the files staff upload to the console (both apps
        # share Gradio's upload folder).
        blocked_paths=[get_upload_folder()],
    )
    mark_launched(chat)
    guard_files(app, services.uploads, CONSOLE_PATH)
    # Last, so it runs first: CORS, cross-site refusal, headers, cookies, trusted proxies.
    install_web_security(app, services.settings.server, eval_paths=[CONSOLE_PATH])
    return app
