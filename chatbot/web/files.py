"""Files and the web app: which server files a browser can make the app read or serve.

Gradio components accept file references (`FileData` with a server `path`) in any event's
input, and Gradio copies the referenced file into its cache. Its check that such a path was
uploaded by a user only runs for apps started with `launch()`; our apps are mounted on
FastAPI, so `mark_launched` turns that check on. On top of it:

- the customer page takes no files at all: its upload and file routes answer 403;
- each console upload is recorded under the session that sent it (`UploadRegistry`), and
  the upload handler ingests only paths its own session uploaded;
- Gradio's upload folder and cache are a fresh private (0700) folder per server process
  (`use_private_upload_folder`), removed when the process ends.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable

import gradio as gr
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from chatbot.staff.upload_registry import UploadRegistry, session_key

log = logging.getLogger(__name__)

API = "/gradio_api"
# Routes of the customer page that read or store files; it needs none of them.
_CUSTOMER_FILE_ROUTES = (f"{API}/upload", f"{API}/file=", f"{API}/upload_progress", "/file=")
_MAX_UPLOAD_REPLY_BYTES = 1_000_000


def mark_launched(blocks: gr.Blocks) -> None:
    """Make Gradio apply its path checks to a mounted app: every file path in an event's
    input must lie in the upload folder (and outside the app's blocked paths), so a client
    cannot name `/etc/passwd` or `/dev/zero`. Gradio skips these checks for apps that were
    not started with `launch()`, which is how it tells a script's own calls from a browser's."""
    blocks.has_launched = True


def use_private_upload_folder() -> str:
    """Point Gradio's upload folder and cache at a new 0700 folder of this process (inside
    GRADIO_TEMP_DIR or the system temp dir), removed at exit. Call before building the app."""
    base = os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="chatbot-files-", dir=base)  # mode 0700
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def guard_files(app: FastAPI, uploads: UploadRegistry, console_path: str) -> None:
    """Refuse the customer page's file routes; record each console upload under its session."""
    console_upload = f"{console_path}{API}/upload"

    @app.middleware("http")
    async def files_guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith(f"{console_path}/") and path.startswith(_CUSTOMER_FILE_ROUTES):
            return JSONResponse(
                {"detail": "The customer chat takes no files and serves none."},
                status_code=403,
            )
        if request.method != "POST" or path != console_upload:
            return await call_next(request)
        response = await call_next(request)
        session = session_key(request.cookies)
        if response.status_code != 200 or session is None:
            return response
        body = b""
        async for chunk in response.body_iterator:  # type: ignore[attr-defined]
            body += chunk if isinstance(chunk, bytes) else chunk.encode()
        if len(body) <= _MAX_UPLOAD_REPLY_BYTES:
            try:
                paths = json.loads(body)
            except ValueError:
                paths = []
            if isinstance(paths, list):
                uploads.record(session, [p for p in paths if isinstance(p, str)])
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(body, status_code=response.status_code, headers=headers)
