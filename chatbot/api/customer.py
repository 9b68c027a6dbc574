"""The customer's endpoints (any key): start a conversation, send a message and get the
answer (streamed as Server-Sent Events, or as one JSON object), read the conversation back,
rate an answer. A turn runs exactly as on the chat page: `services.dialogue.respond`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from chatbot.api.auth import (
    CONVERSATION_TOKEN,
    ApiContext,
    Caller,
    context,
    conversation_access,
    current_key,
)
from chatbot.api.errors import ApiError, ApiRoute, as_api_error
from chatbot.api.schemas import (
    ERROR_RESPONSES,
    Answer,
    ConversationCreated,
    ConversationIn,
    ConversationOut,
    ErrorBody,
    MessageIn,
    MessageOut,
    Ok,
    RatingIn,
    SourceOut,
)
from chatbot.api.turns import release_with
from chatbot.core.i18n import gettext_for
from chatbot.core.vocabulary import DecisionKind
from chatbot.dialogue.replies import ERROR_TEXT, Reply
from chatbot.staff.conversations import MessageView
from chatbot.web.widget import customer_id

log = logging.getLogger(__name__)

CHANNEL = "api"
# A comment line every so often while the answer is not ready, so proxies keep the stream.
PING_SECONDS = 10.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Token = Annotated[str | None, Header(alias=CONVERSATION_TOKEN)]

router = APIRouter(route_class=ApiRoute, tags=["customer"], responses=ERROR_RESPONSES)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def answer_of(reply: Reply, shown: str) -> Answer:
    return Answer(
        conversation_id=reply.conversation_id,
        message_id=reply.message_id,
        decision=str(reply.decision),
        answer_mode=str(reply.answer_mode),
        text=reply.text or shown,
        sources=[SourceOut(title=s.title, url=s.url, page=s.page) for s in reply.sources],
    )


def _exists(ctx: ApiContext, conversation_id: str) -> None:
    if ctx.services.conversations.transcript(conversation_id) is None:
        raise ApiError(404, "not_found", f"No conversation {conversation_id}.")


async def pieces_with_pings(
    pieces: Iterator[str], ping_seconds: float
) -> AsyncIterator[str | None]:
    """The reply's pieces, read in a worker thread (the model blocks), with None whenever
    `ping_seconds` pass without one."""
    done = object()
    while True:
        step = asyncio.ensure_future(run_in_threadpool(next, pieces, done))
        while not step.done():
            await asyncio.wait({step}, timeout=ping_seconds)
            if not step.done():
                yield None
        piece = step.result()
        if piece is done:
            return
        assert isinstance(piece, str)
        yield piece


async def close_reply(reply: Reply) -> None:
    """Stop the reply and store what was shown, also when the client went away: shielded,
    as the stream's task is being cancelled then."""
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(reply.close)


async def event_stream(
    reply: Reply, ping_seconds: float, release: Callable[[], None] = lambda: None
) -> AsyncIterator[str]:
    """`delta` events, then `final`; `error` instead of `final` when the turn fails (the
    customer's message is stored either way: `respond` committed it first). `release`
    frees the turn's slot once the reply is closed."""
    shown = ""
    try:
        async for piece in pieces_with_pings(iter(reply), ping_seconds):
            if piece is None:
                yield ": ping\n\n"
            elif piece:
                shown += piece
                yield sse("delta", {"text": piece})
        yield sse("final", answer_of(reply, shown).model_dump(mode="json"))
    except Exception as exc:
        log.exception("API turn failed")
        err = as_api_error(exc)
        message = gettext_for(reply.language)(ERROR_TEXT) if err.status == 500 else err.message
        yield sse(
            "error", {"code": "turn_failed" if err.status == 500 else err.code, "message": message}
        )
    finally:
        await close_reply(reply)
        release()


def verified_customer(ctx: ApiContext, body: ConversationIn) -> str | None:
    """The customer id the shop's site signed, checked; None when none was sent."""
    if body.customer_id is None:
        if body.customer_signature is not None or body.customer_expires is not None:
            raise ApiError(
                422, "invalid_request", "customer_signature and customer_expires need customer_id."
            )
        return None
    secret = ctx.services.settings.widget.customer_id_secret
    try:
        return customer_id.verify(
            secret.get_secret_value() if secret else None,
            body.customer_id,
            body.customer_signature,
            body.customer_expires,
        )
    except customer_id.CustomerIdRefused as refused:
        log.warning("refused a customer id: %s", refused.code)
        raise ApiError(refused.status, refused.code, refused.message) from None


@router.post(
    "/api/v1/conversations",
    status_code=201,
    response_model=ConversationCreated,
    responses={
        403: {
            "model": ErrorBody,
            "description": "A customer id whose signature is missing, wrong or expired "
            "(invalid_signature, signature_expired), or sent to a server that accepts none "
            "(customer_id_not_accepted)",
        }
    },
)
async def start_conversation(
    body: ConversationIn | None = None,
    caller: Caller = Depends(current_key),
    ctx: ApiContext = Depends(context),
) -> ConversationCreated:
    """Start a conversation; keep its token to send messages and read it back. The body is
    optional: a signed-in customer's id, signed by the shop's backend (see the README,
    "Website widget"), is verified and kept on the conversation for staff."""
    customer = verified_customer(ctx, body or ConversationIn())
    conversation_id = await run_in_threadpool(
        ctx.services.dialogue.start_conversation, CHANNEL, customer
    )
    return ConversationCreated(id=conversation_id, token=ctx.services.tokens.mint(conversation_id))


@router.post(
    "/api/v1/conversations/{conversation_id}/messages",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def send_message(
    conversation_id: str,
    body: MessageIn,
    token: Token = None,
    caller: Caller = Depends(current_key),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The customer's message and the bot's answer: streamed (`stream: true`, Server-Sent
    Events `delta` {text}, then `final` (the Answer) or `error` {code, message}, and
    `: ping` comments while waiting) or one JSON Answer."""
    conversation_access(caller, ctx, conversation_id, token)
    await run_in_threadpool(_exists, ctx, conversation_id)
    reply, release = await start_turn(ctx, body.text, conversation_id)
    if body.stream:
        return StreamingResponse(
            event_stream(reply, PING_SECONDS, release),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    try:
        shown = await run_in_threadpool(lambda: "".join(reply))
    finally:
        await run_in_threadpool(reply.close)
        release()
    return answer_of(reply, shown)


async def start_turn(
    ctx: ApiContext, text: str, conversation_id: str
) -> tuple[Reply, Callable[[], None]]:
    """A turn's Reply once one of the server's turn slots is free, with that slot's release
    (the caller releases it when the answer is finished; dropping the Reply releases it too)."""
    release = await ctx.turns.take()
    try:
        reply = await run_in_threadpool(
            ctx.services.dialogue.respond, text, conversation_id=conversation_id, channel=CHANNEL
        )
    except BaseException:  # not stored, refused, or the client left while it was stored
        release()
        raise
    release_with(reply, release)
    return reply, release


def _citations(ctx: ApiContext, m: MessageView) -> list[SourceOut]:
    """The sources the customer was shown under an answer (a link only where the answer
    policy still allows it), as the chat page shows them again."""
    policy = ctx.services.dialogue.contacts
    return [
        SourceOut(
            title=s.title, url=s.url if s.url and policy.allows_link(s.url) else None, page=s.page
        )
        for s in sorted(m.sources, key=lambda s: s.rank)
        if s.cited
    ]


def _message_out(ctx: ApiContext, m: MessageView) -> MessageOut:
    if m.role != "assistant":
        return MessageOut(id=m.id, author="customer", text=m.content, created_at=m.created_at)
    if m.decision == DecisionKind.STAFF:
        return MessageOut(id=m.id, author="staff", text=m.content, created_at=m.created_at)
    rating = {1: "up", -1: "down"}.get(m.rating or 0)
    return MessageOut(
        id=m.id,
        author="bot",
        text=m.content,
        created_at=m.created_at,
        sources=_citations(ctx, m),
        rating=rating,  # type: ignore[arg-type]
    )


@router.get("/api/v1/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: str,
    token: Token = None,
    caller: Caller = Depends(current_key),
    ctx: ApiContext = Depends(context),
) -> ConversationOut:
    """The conversation as the customer saw it; staff keys also get the signed-in
    customer's id."""
    conversation_access(caller, ctx, conversation_id, token)
    t = await run_in_threadpool(ctx.services.conversations.transcript, conversation_id)
    if t is None:
        raise ApiError(404, "not_found", f"No conversation {conversation_id}.")
    return ConversationOut(
        id=t.id,
        created_at=t.created_at,
        handed_off=t.needs_human,
        customer_id=None if caller.is_customer else t.customer_id,
        messages=[_message_out(ctx, m) for m in t.messages],
    )


@router.post("/api/v1/messages/{message_id}/rating", response_model=Ok)
async def rate_message(
    message_id: int,
    body: RatingIn,
    token: Token = None,
    caller: Caller = Depends(current_key),
    ctx: ApiContext = Depends(context),
) -> Ok:
    """Rate a bot answer up or down (a reason with a thumbs-down), or take it back (null).
    Customer keys send the conversation's token: only its answers can be rated."""
    conversation_id = ctx.services.tokens.verify(token) if token else None
    if caller.is_customer and conversation_id is None:
        raise ApiError(
            403, "forbidden", f"Send the conversation's token in the {CONVERSATION_TOKEN} header."
        )
    rating = {"up": 1, "down": -1, None: None}[body.rating]
    reason = body.reason if rating == -1 else None
    found = await run_in_threadpool(
        ctx.services.conversations.rate_message, message_id, rating, reason, conversation_id
    )
    if not found:
        raise ApiError(404, "not_found", f"No answer {message_id} in this conversation.")
    return Ok()
