"""Installs the cross-site and proxy protections on the FastAPI app (`create_app` calls it
last: middleware added last runs first, so these see every request and every response,
Gradio's included)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chatbot.settings import ServerSettings
from chatbot.web.security.middleware import SiteSecurityMiddleware


def install_web_security(
    app: FastAPI, server: ServerSettings, eval_paths: Sequence[str] = ()
) -> None:
    """CORS for the allowed origins only, the cross-site refusal, security headers and
    cookie attributes on every response, and forwarded headers from trusted proxies only.
    `eval_paths` are the path prefixes whose pages may run `eval` (see policy)."""
    origins = list(server.allowed_origins)
    # With Starlette's CORSMiddleware on the parent app, the mounted Gradio apps add no CORS
    # headers of their own (they would echo any Origin, with credentials, to a Host that is
    # not localhost). No allowed origins: no CORS headers at all, so only this site reads.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=bool(origins),
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(SiteSecurityMiddleware, allowed_origins=origins, eval_paths=eval_paths)
    # X-Forwarded-For/-Proto name the client and the scheme only when a trusted proxy sent
    # them; from anyone else they are ignored (the sign-in limit counts the real peer).
    if server.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(server.trusted_proxies))
