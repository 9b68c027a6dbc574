"""Who is calling: the API key in `Authorization: Bearer <key>`, checked on every request
(a revoked key is refused at once), counted against its rate limit, and turned into the
caller's role; staff keys act as an `Actor` for the staff actions, which check the role."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from chatbot.api.errors import ApiError
from chatbot.api.turns import TurnSlots
from chatbot.container import Services
from chatbot.staff.actor import ADMIN, AGENT, Actor
from chatbot.staff.api_keys import CUSTOMER, ApiKeyInfo
from chatbot.staff.rate_limit import Limiter

STAFF_ROLES = (ADMIN, AGENT)
CONVERSATION_TOKEN = "X-Conversation-Token"


@dataclass(frozen=True)
class Caller:
    key: ApiKeyInfo

    @property
    def is_customer(self) -> bool:
        return self.key.role == CUSTOMER

    @property
    def actor(self) -> Actor:
        """The staff actor behind a staff key, named after the key in the audit log."""
        return Actor(f"api:{self.key.name}", self.key.role if not self.is_customer else None)


@dataclass
class ApiContext:
    services: Services
    limiter: Limiter
    turns: TurnSlots


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.api
    return found


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key: `Authorization: Bearer <key>` (admins create keys with "
            "`chatbot keys create`).",
            {"WWW-Authenticate": "Bearer"},
        )
    return key.strip()


async def current_key(request: Request, ctx: ApiContext = Depends(context)) -> Caller:
    """The calling key, checked and counted; 401 for none or a revoked or unknown key, 429
    (with Retry-After) once it used up its rate."""
    key = _bearer(request)
    info = await run_in_threadpool(ctx.services.staff.keys.authenticate, key)
    if info is None:
        raise ApiError(
            401, "unauthorized", "Unknown or revoked API key.", {"WWW-Authenticate": "Bearer"}
        )
    # In a thread: with Redis this is a network round trip.
    wait = await run_in_threadpool(ctx.limiter.hit, info.id, info.rate_per_minute)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"Rate limit of {info.rate_per_minute} requests per minute reached; retry in {wait} s.",
            {"Retry-After": str(wait)},
        )
    return Caller(info)


async def staff_key(caller: Caller = Depends(current_key)) -> Caller:
    """A staff (agent or admin) key; 403 for a customer key."""
    if caller.key.role not in STAFF_ROLES:
        raise ApiError(403, "forbidden", "This endpoint is for staff keys (agent or admin) only.")
    return caller


def conversation_access(
    caller: Caller, ctx: ApiContext, conversation_id: str, token: str | None
) -> None:
    """A customer key reaches only a conversation whose token it presents (the token
    `POST /api/v1/conversations` returned); staff keys reach every conversation."""
    if not caller.is_customer:
        return
    if token is None or ctx.services.tokens.verify(token) != conversation_id:
        raise ApiError(
            403,
            "forbidden",
            f"Send the conversation's token in the {CONVERSATION_TOKEN} header.",
        )
