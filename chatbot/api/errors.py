"""Every API error is JSON, `{"error": {"code": "...", "message": "..."}}`, with its status.

The handling is on the API's routes only (`ApiRoute`), so the Gradio pages mounted on the
same app keep their own. An unexpected exception is logged with its traceback and answered
with a generic 500: the caller never sees a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from chatbot.dialogue.manager import MessageNotSent
from chatbot.staff.actor import Forbidden

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Something went wrong on the server; it has been logged. Try again."


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg")))
    return "; ".join(parts) or "invalid request"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}


def as_api_error(exc: Exception) -> ApiError:
    """The API's answer to an exception raised by a route or its dependencies."""
    match exc:
        case ApiError():
            return exc
        case RequestValidationError():
            return ApiError(422, "invalid_request", _validation_message(exc))
        case Forbidden():
            return ApiError(403, "forbidden", str(exc))
        case MessageNotSent():
            return ApiError(503, "not_sent", "The message could not be stored; send it again.")
        case HTTPException():
            code = HTTP_CODES.get(exc.status_code, "error")
            return ApiError(exc.status_code, code, str(exc.detail), exc.headers)
        case _:
            log.exception("API request failed", exc_info=exc)
            return ApiError(500, "internal_error", INTERNAL_MESSAGE)


class ApiRoute(APIRoute):
    """A route whose every failure (validation, auth, a service error, a bug) is JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_response(as_api_error(exc))

        return handle
