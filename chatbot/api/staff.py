"""The staff endpoints (agent and admin keys): the knowledge base's documents, the
conversations, the handoff queue, the export. Each goes through the staff service layer
(`services.staff`) as the console does, so the roles and the audit log are the console's:
an agent key may upload a new document but not delete one, nor export."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.responses import FileResponse
from gradio.utils import get_upload_folder
from starlette.concurrency import run_in_threadpool

from chatbot.api.auth import ApiContext, Caller, context, staff_key
from chatbot.api.errors import ApiError, ApiRoute
from chatbot.api.schemas import (
    ERROR_RESPONSES,
    ConversationPage,
    ConversationRow,
    DocumentOut,
    HandoffOut,
    Ok,
    UploadOut,
)
from chatbot.staff import export, export_files
from chatbot.staff.conversation_actions import ExportFilterError
from chatbot.storage.review_search import ReviewError, ReviewFilters
from knowledge_base.limits import MB

router = APIRouter(route_class=ApiRoute, tags=["staff"], responses=ERROR_RESPONSES)
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@router.get("/api/v1/kb/documents", response_model=list[DocumentOut])
async def list_documents(
    caller: Caller = Depends(staff_key), ctx: ApiContext = Depends(context)
) -> list[DocumentOut]:
    """The knowledge base's documents, as the console lists them."""
    docs = await run_in_threadpool(ctx.services.kb.documents)
    return [
        DocumentOut(
            id=d.id,
            name=d.name,
            source_type=d.source_type,
            size_bytes=d.size_bytes,
            passages=d.passages,
            entries=d.entries,
            status=d.status,
            error=d.error,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )
        for d in docs
    ]


@router.post("/api/v1/kb/documents", response_model=UploadOut)
async def upload_document(
    file: UploadFile, caller: Caller = Depends(staff_key), ctx: ApiContext = Depends(context)
) -> UploadOut:
    """Upload one file (multipart field `file`) into the knowledge base. Replacing a
    document of the same name is an admin's; every outcome is in the audit log."""
    limit = int(ctx.services.settings.ingest.max_file_mb * MB)
    # One byte over the limit is enough for the knowledge base to refuse it by its size.
    data = await file.read(limit + 1)
    name = file.filename or "upload"
    result = await run_in_threadpool(
        ctx.services.staff.knowledge.upload, caller.actor, name, lambda: data
    )
    if not result.ok:
        status = 403 if result.status == "refused" else 422
        raise ApiError(
            status, "upload_refused" if status == 403 else "upload_failed", result.message
        )
    return UploadOut(
        name=result.name, status=result.status, passages=result.passages, message=result.message
    )


@router.delete("/api/v1/kb/documents/{name}", response_model=Ok)
async def delete_document(
    name: str, caller: Caller = Depends(staff_key), ctx: ApiContext = Depends(context)
) -> Ok:
    """Delete a document and its passages (admins only)."""
    deleted = await run_in_threadpool(
        ctx.services.staff.knowledge.delete_document, caller.actor, name
    )
    if not deleted:
        raise ApiError(404, "not_found", f"No document {name!r}.")
    return Ok()


@router.get("/api/v1/conversations", response_model=ConversationPage)
async def list_conversations(
    caller: Caller = Depends(staff_key),
    ctx: ApiContext = Depends(context),
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    date_from: date | None = None,
    date_to: date | None = None,
    outcome: str | None = None,
    rating: str | None = None,
    text: str = "",
    label: str | None = None,
    language: str | None = None,
) -> ConversationPage:
    """The conversations matching the console's review filters, newest first, one page."""
    filters = ReviewFilters(date_from, date_to, outcome, rating, text, label, language)
    try:
        rows, total = await run_in_threadpool(
            ctx.services.conversations.search, filters, page, page_size
        )
    except ReviewError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    items = [
        ConversationRow(
            id=r.id,
            title=r.title,
            channel=r.channel,
            created_at=r.created_at,
            updated_at=r.updated_at,
            messages=r.messages,
            needs_human=r.needs_human,
            handled=r.handled,
            last_decision=r.last_decision,
            labels=list(r.labels),
            thumbs_up=r.thumbs_up,
            thumbs_down=r.thumbs_down,
            language=r.language,
        )
        for r in rows
    ]
    return ConversationPage(page=page, page_size=page_size, total=total, items=items)


@router.get("/api/v1/handoffs", response_model=list[HandoffOut])
async def handoff_queue(
    caller: Caller = Depends(staff_key),
    ctx: ApiContext = Depends(context),
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    language: str | None = None,
) -> list[HandoffOut]:
    """Conversations waiting for a person, longest waiting first (the console's queue); only
    those in `language` (a code such as `zh`) when given."""
    queue = await run_in_threadpool(
        ctx.services.conversations.handoff_queue, limit, language or None
    )
    return [
        HandoffOut(
            id=q.id,
            title=q.title,
            created_at=q.created_at,
            waiting_since=q.waiting_since,
            handoff_reason=q.handoff_reason,
            contact=q.contact,
            last_customer_message=q.last_customer_message,
            messages=q.messages,
            language=q.language,
        )
        for q in queue
    ]


@router.get(
    "/api/v1/export",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_conversations(
    caller: Caller = Depends(staff_key),
    ctx: ApiContext = Depends(context),
    format: Literal["csv", "jsonl"] = "csv",
    since: date | None = None,
    until: date | None = None,
    outcome: str | None = None,
    language: str | None = None,
) -> FileResponse:
    """The conversations started from `since` to `until` (UTC days, both included) as CSV
    or JSON lines (admins only; the export is in the audit log, as from the console)."""

    def make_filter() -> export.ExportFilter:
        return export.ExportFilter(since=since, until=until, outcome=outcome, language=language)

    try:
        done = await run_in_threadpool(
            ctx.services.staff.conversations.export,
            caller.actor,
            format,
            make_filter,
            # The console's folder: one sweep removes both front ends' expired exports.
            get_upload_folder(),
        )
    except ExportFilterError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    except export_files.ExportFolderError as exc:
        raise ApiError(503, "export_unavailable", str(exc)) from None
    return FileResponse(done.path, media_type=MEDIA_TYPES[format], filename=done.path.name)
