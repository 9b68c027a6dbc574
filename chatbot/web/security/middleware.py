"""The ASGI middleware that puts `policy` into effect on every HTTP request and response.

Cross-site request forgery: a page on another site can make the browser send a form or a
multipart upload (no CORS preflight) with the staff session cookie. Browsers say where such
a request comes from (`Origin`, else `Referer`), so a request that changes data is refused
unless it comes from this site itself or from an allowed origin. Requests with neither
header do not come from a web page (scripts, the Gradio client) and carry no one's browser
cookies unasked, so they pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.core.origins import normalize_origin
from chatbot.web.security.policy import content_security_policy, harden_cookie, security_headers

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SHOWN_CHARS = 200  # of a refused origin, in the reply and the log


def own_origin(scope: Scope, headers: Headers) -> str | None:
    """The origin the browser addressed: scheme (from a trusted proxy where there is one)
    and the Host header."""
    host = headers.get("host")
    if not host and scope.get("server"):
        server_host, port = scope["server"]
        host = f"{server_host}:{port}"
    return normalize_origin(f"{scope.get('scheme', 'http')}://{host}") if host else None


def request_source(headers: Headers) -> str | None:
    """Where the browser says the request comes from; None when it says nothing."""
    origin = headers.get("origin")
    if origin is not None:
        return origin
    referer = headers.get("referer")
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:
        return referer
    return f"{parts.scheme}://{parts.netloc}"


class SiteSecurityMiddleware:
    def __init__(
        self, app: ASGIApp, allowed_origins: Sequence[str], eval_paths: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)
        self.eval_paths = tuple(p.rstrip("/") for p in eval_paths)
        self.csp = content_security_policy(list(allowed_origins), allow_eval=False)
        self.csp_eval = content_security_policy(list(allowed_origins), allow_eval=True)

    def _allows_eval(self, path: str) -> bool:
        return any(path == p or path.startswith(f"{p}/") for p in self.eval_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        csp = self.csp_eval if self._allows_eval(scope["path"]) else self.csp
        added = security_headers(csp, https)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers[name] = value
                cookies = headers.getlist("set-cookie")
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", harden_cookie(cookie, https))
            await send(message)

        refusal = self.cross_site_refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def cross_site_refusal(self, scope: Scope) -> Response | None:
        """A 403 for a data-changing request sent by another site's page, else None."""
        if scope["method"] in SAFE_METHODS:
            return None
        headers = Headers(scope=scope)
        source = request_source(headers)
        if source is None:
            return None
        own = own_origin(scope, headers)
        origin = normalize_origin(source)
        if origin is not None and (origin == own or origin in self.allowed):
            return None
        shown = source[:SHOWN_CHARS]
        log.warning("refused a cross-site %s %s from %r", scope["method"], scope["path"], shown)
        return JSONResponse(
            {
                "detail": f"Refused a cross-site request: this {scope['method']} comes from "
                f"a page on {shown}, not from this site ({own or 'unknown'}). Requests that "
                "change data must come from this site's own pages; to let another site's "
                "pages send them, add its origin to CHATBOT_SERVER__ALLOWED_ORIGINS."
            },
            status_code=403,
        )
