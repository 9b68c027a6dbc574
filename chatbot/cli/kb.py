"""`chatbot kb ...`: list, show and delete documents; rebuild the search index."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Annotated

import typer

from chatbot.core.wording import human_size, plural

if TYPE_CHECKING:
    from knowledge_base.records import DocumentInfo
    from knowledge_base.service import KnowledgeBase

kb_app = typer.Typer(
    help="Manage the knowledge base: list, show and delete documents, rebuild the index.",
    no_args_is_help=True,
)

LIST_HEADERS = ("name", "type", "passages", "status", "size", "uploaded")


def _kb(ctx: typer.Context) -> KnowledgeBase:
    from chatbot.container import build

    return build(ctx.obj).kb


def document_row(d: DocumentInfo) -> tuple[str, ...]:
    return (
        d.name,
        d.source_type,
        str(d.passages),
        d.status,
        human_size(d.size_bytes),
        d.uploaded_at.strftime("%Y-%m-%d %H:%M"),
    )


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]
    return "\n".join(lines)


@kb_app.command("list")
def list_documents(ctx: typer.Context) -> None:
    """List documents, newest first: name, type, passages, status, size, uploaded."""
    docs = _kb(ctx).documents()
    if not docs:
        typer.echo("The knowledge base has no documents; add some with `chatbot ingest FILE`.")
        return
    typer.echo(format_table(LIST_HEADERS, [document_row(d) for d in docs]))
    failed = [d for d in docs if d.status == "failed"]
    if failed:
        typer.echo("")
        for d in failed:
            typer.echo(f"{d.name} failed: {d.error}")


@kb_app.command("show")
def show(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="Document name, as `kb list` shows it.")],
) -> None:
    """Show the passages a document became, in order."""
    kb = _kb(ctx)
    passages = kb.preview(document)
    if passages is None:
        typer.echo(f"ERROR no such document: {document} (see `chatbot kb list`)", err=True)
        raise typer.Exit(1)
    info = next(d for d in kb.documents() if d.name == document)
    if info.status == "failed":
        typer.echo(f"{document}: failed, {info.error}")
        return
    typer.echo(f"{document}: {info.source_type}, {plural(len(passages), 'passage')}")
    for i, p in enumerate(passages, start=1):
        page = f", page {p.page}" if p.page is not None else ""
        typer.echo(f"\n[{i}] {p.kind} {p.entry_id}{page}: {p.title}")
        typer.echo(textwrap.indent(p.text, "    "))


@kb_app.command("delete")
def delete(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="Document name, as `kb list` shows it.")],
) -> None:
    """Delete a document; its passages leave the answers at once."""
    from chatbot.container import build
    from chatbot.staff.actor import CLI

    if not build(ctx.obj).staff.knowledge.delete_document(CLI, document):
        typer.echo(f"ERROR no such document: {document} (see `chatbot kb list`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted {document}")


@kb_app.command("reindex")
def reindex(ctx: typer.Context) -> None:
    """Rebuild the search index from the embeddings stored in the database (no re-encoding)."""
    kb = _kb(ctx)
    count = kb.reindex()
    typer.echo(
        f"index rebuilt from the database: {plural(count, 'passage')} (revision {kb.revision})"
    )
