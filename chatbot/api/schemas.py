"""The API's request and response bodies (they are also its OpenAPI documentation)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["unauthorized"])
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every endpoint: the error body and when it comes.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        401: "No API key, or an unknown or revoked one",
        403: "The key's role may not do this, or the conversation token is missing",
        422: "Invalid request",
        429: "Rate limit reached (see Retry-After)",
        500: "Unexpected server error (logged)",
    }.items()
}


# The last second of the year 9999: any later Unix time is not a date.
MAX_UNIX_SECONDS = 253_402_300_799


class ConversationIn(BaseModel):
    """Optional: who the customer is on the shop's site, signed by the shop's backend."""

    customer_id: str | None = Field(
        default=None,
        max_length=128,
        description="The signed-in customer's id on the shop's site; needs "
        "customer_signature and customer_expires. Refused unless the server has "
        "CHATBOT_WIDGET__CUSTOMER_ID_SECRET set.",
    )
    customer_signature: str | None = Field(
        default=None,
        max_length=128,
        description="HMAC-SHA256 (hex) of `<customer_id>.<customer_expires>` with the "
        "shop's secret.",
    )
    customer_expires: int | None = Field(
        default=None,
        ge=0,
        le=MAX_UNIX_SECONDS,
        description="Unix time (seconds) after which the signature is refused.",
    )


class ConversationCreated(BaseModel):
    id: str
    token: str = Field(
        description="Send it back as the X-Conversation-Token header (customer keys must)."
    )


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    stream: bool = Field(
        default=True,
        description="true: Server-Sent Events (`delta`, then `final` or `error`); "
        "false: one JSON answer (the `final` event).",
    )


class SourceOut(BaseModel):
    title: str
    url: str | None = None
    page: int | None = None


class Answer(BaseModel):
    """The bot's answer (the `final` event of a stream)."""

    conversation_id: str | None
    message_id: int | None
    decision: str = Field(examples=["answer", "fallback", "handoff"])
    answer_mode: str = Field(examples=["generated", "approved", "passage", "canned"])
    text: str
    sources: list[SourceOut]


class MessageOut(BaseModel):
    id: int
    author: Literal["customer", "bot", "staff"]
    text: str
    created_at: datetime
    sources: list[SourceOut] = []
    rating: Literal["up", "down"] | None = None


class ConversationOut(BaseModel):
    id: str
    created_at: datetime
    handed_off: bool
    customer_id: str | None = Field(
        default=None,
        description="The signed-in customer's verified id (staff keys only; null for "
        "customer keys and anonymous customers).",
    )
    messages: list[MessageOut]


class RatingIn(BaseModel):
    rating: Literal["up", "down"] | None = Field(description="null takes the rating back")
    reason: str | None = Field(default=None, max_length=500)


class Ok(BaseModel):
    ok: bool = True


class DocumentOut(BaseModel):
    id: int
    name: str
    source_type: str
    size_bytes: int
    passages: int
    entries: int
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime | None


class UploadOut(BaseModel):
    name: str
    status: str
    passages: int
    message: str


class ConversationRow(BaseModel):
    id: str
    title: str
    channel: str
    created_at: datetime
    updated_at: datetime
    messages: int
    needs_human: bool
    handled: bool
    last_decision: str | None
    labels: list[str]
    thumbs_up: int
    thumbs_down: int
    language: str | None


class ConversationPage(BaseModel):
    page: int
    page_size: int
    total: int
    items: list[ConversationRow]


class HandoffOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    waiting_since: datetime
    handoff_reason: str | None
    contact: str | None
    last_customer_message: str
    messages: int
    language: str | None = None
