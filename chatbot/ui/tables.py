"""The staff console's read-only tables, laid out so that every column stays readable.

Without widths a table sizes each column by its content: one long cell (a customer's
question, a failure reason) takes the whole width and squeezes the other columns into a
letter per line, or pushes them out of sight to the right. Here each column gets a share of
the table's width (percentages, summing to under 100 so no scrollbar is needed), long text
wraps inside its column, and a cell longer than `max_chars` is cut with "…"; clicking it
shows all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

# Characters a cell shows before it is cut; the whole text is one click away.
CELL_CHARS = 160


def column_widths(shares: Sequence[int]) -> list[str | int]:
    """Percent shares of the table's width as Gradio column widths ("12%")."""
    return [f"{share}%" for share in shares]


def console_table(
    headers: Sequence[str],
    shares: Sequence[int],
    *,
    label: str,
    elem_id: str,
    max_chars: int | None = CELL_CHARS,
    max_height: int = 500,
) -> gr.Dataframe:
    """A read-only table whose columns take `shares` percent of its width (one per header)."""
    if len(shares) != len(headers) or sum(shares) > 100:
        raise ValueError(f"{elem_id}: one share per column, at most 100% in all")
    return gr.Dataframe(
        headers=list(headers),
        column_widths=column_widths(shares),
        wrap=True,
        max_chars=max_chars,
        interactive=False,
        label=label,
        elem_id=elem_id,
        max_height=max_height,
    )
