"""`GET /widget.js`: the website widget's script, as it is in the package (no build step).

Shops load it from their own pages on every visit, so it may be cached, but only briefly
(`max-age`), and revalidated by its ETag, so a new version of the app reaches every shop's
visitors within minutes without anyone changing their snippet.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi import FastAPI, Request, Response

WIDGET_PATH = "/widget.js"
MEDIA_TYPE = "text/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=300"


def widget_source() -> bytes:
    return files("chatbot.web.widget").joinpath("widget.js").read_bytes()


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def install_widget(app: FastAPI) -> None:
    """Serve the widget; call before the Gradio page mounted at "/" takes every path."""
    source = widget_source()  # read once: the file only changes with the installed app
    etag = f'"{hashlib.sha256(source).hexdigest()[:32]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}

    @app.get(WIDGET_PATH, include_in_schema=False)
    def widget(request: Request) -> Response:
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(source, media_type=MEDIA_TYPE, headers=headers)
