"""`POST /v1/chat/completions`, OpenAI's chat protocol, so tools that speak it can use the
bot (any API key; a customer key is enough).

The last `user` message is the customer's message; the rest of `messages` is ignored, as the
bot keeps the conversation itself. Each request starts a conversation unless it names one:
the `X-Conversation-Token` header, or the `user` field, holding the token a previous answer
returned (every answer carries it in its `X-Conversation-Token` response header and in
`chatbot.conversation_token`). `model` is echoed back; the bot answers with its own. With
`stream: true` the answer comes as `data: {chat.completion.chunk}` lines, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chatbot.api import customer
from chatbot.api.auth import CONVERSATION_TOKEN, ApiContext, Caller, context, current_key
from chatbot.api.errors import ApiError, ApiRoute, as_api_error
from chatbot.api.schemas import ERROR_RESPONSES
from chatbot.dialogue.replies import Reply

log = logging.getLogger(__name__)
MODEL = "support-bot"

router = APIRouter(route_class=ApiRoute, tags=["OpenAI-compatible"], responses=ERROR_RESPONSES)


class TextPart(BaseModel):
    type: str = "text"
    text: str = ""


class ChatMessageIn(BaseModel):
    role: str
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
    model: str = MODEL
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(
        default=None, description="A conversation token from an earlier answer: continue it."
    )


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: str = "stop"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Completion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Usage()
    chatbot: dict[str, Any] = Field(
        default_factory=dict,
        description="The bot's own fields: conversation_id, conversation_token, message_id, "
        "decision, sources.",
    )


def _extra(ctx: ApiContext, reply: Reply, shown: str) -> dict[str, Any]:
    answer = customer.answer_of(reply, shown).model_dump(mode="json")
    cid = reply.conversation_id
    answer["conversation_token"] = ctx.services.tokens.mint(cid) if cid else None
    return answer


def _chunk(cid: str, created: int, model: str, delta: dict[str, str], finish: str | None) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _chunks(
    ctx: ApiContext,
    reply: Reply,
    completion_id: str,
    created: int,
    model: str,
    release: Callable[[], None],
) -> AsyncIterator[str]:
    shown = ""
    try:
        yield _chunk(completion_id, created, model, {"role": "assistant", "content": ""}, None)
        async for piece in customer.pieces_with_pings(iter(reply), customer.PING_SECONDS):
            if piece is None:
                yield ": ping\n\n"
            elif piece:
                shown += piece
                yield _chunk(completion_id, created, model, {"content": piece}, None)
        yield _chunk(completion_id, created, model, {}, "stop")
    except Exception as exc:
        log.exception("API turn failed (chat completions)")
        err = as_api_error(exc)
        code = "turn_failed" if err.status == 500 else err.code
        yield f"data: {json.dumps({'error': {'code': code, 'message': err.message}})}\n\n"
    finally:
        await customer.close_reply(reply)
        release()
    yield "data: [DONE]\n\n"


@router.post("/v1/chat/completions", response_model=Completion)
async def chat_completions(
    body: CompletionRequest,
    token: Annotated[str | None, Header(alias=CONVERSATION_TOKEN)] = None,
    caller: Caller = Depends(current_key),
    ctx: ApiContext = Depends(context),
) -> Any:
    """One customer turn in OpenAI's chat-completions format (streamed with `stream`)."""
    text = next((m.text() for m in reversed(body.messages) if m.role == "user"), "").strip()
    if not text:
        raise ApiError(422, "invalid_request", "Send at least one user message with text.")
    presented = token or body.user
    conversation_id = ctx.services.tokens.verify(presented) if presented else None
    if presented and conversation_id is None:
        raise ApiError(403, "forbidden", "That conversation token is not one this server gave.")
    if conversation_id is None:
        conversation_id = await run_in_threadpool(
            ctx.services.dialogue.start_conversation, customer.CHANNEL
        )
    reply, release = await customer.start_turn(ctx, text, conversation_id)
    headers = {CONVERSATION_TOKEN: ctx.services.tokens.mint(conversation_id)}
    created = int(time.time())
    completion_id = f"chatcmpl-{conversation_id}-{created}"
    if body.stream:
        return StreamingResponse(
            _chunks(ctx, reply, completion_id, created, body.model, release),
            media_type="text/event-stream",
            headers={**customer.SSE_HEADERS, **headers},
        )
    try:
        shown = await run_in_threadpool(lambda: "".join(reply))
    finally:
        await run_in_threadpool(reply.close)
        release()
    completion = Completion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[Choice(message=CompletionMessage(content=reply.text or shown))],
        chatbot=_extra(ctx, reply, shown),
    )
    return JSONResponse(completion.model_dump(mode="json"), headers=headers)
