"""The "Audit log" tab: recent staff actions (who changed what, when). Admins only."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.staff.actor import Forbidden
from chatbot.ui.events import bind
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready

AUDIT_HEADERS = ["time", "actor", "action", "target", "details"]
# Percent of the table's width per column (chatbot.ui.tables).
AUDIT_WIDTHS = [15, 11, 17, 24, 32]

Row = list[Any]


def audit_table(
    services: Services,
    request: gr.Request | None = None,
    zone: str | None = None,
    *,
    limit: int = 200,
) -> tuple[str, list[Row]]:
    """(caption, rows in AUDIT_HEADERS order, newest first, times in `zone`). Agents get a
    refusal instead."""
    try:
        entries = services.staff.audit_log(current_actor(services, request), limit)
    except Forbidden as exc:
        return refusal(exc), []
    rows = [[fmt_time(e.created_at, zone), e.actor, e.action, e.target, e.details] for e in entries]
    return f"The latest {len(rows)} staff actions, newest first.", rows


def build_audit_tab(services: Services, demo: gr.Blocks, zone: gr.State | None = None) -> gr.Tab:
    """The Audit log tab; it fills when the page opens, in the browser's time zone when
    `zone` (chatbot.ui.times.track_browser_zone) is given."""
    ready = page_ready(demo, zone)
    with gr.Tab("Audit log", id="audit") as tab:
        # A tab built on its own shows UTC.
        zone = zone if zone is not None else gr.State(None)
        with gr.Row():
            caption = gr.Markdown(elem_id="audit-caption")
            reload = gr.Button("Refresh", elem_id="audit-refresh", size="sm", scale=0)
        table = console_table(
            AUDIT_HEADERS, AUDIT_WIDTHS, elem_id="audit-entries", label="Audit log"
        )
        show = bind(audit_table, services)
        reload.click(show, inputs=[zone], outputs=[caption, table], api_name="audit_log")
        for event in (tab.select, ready):
            event(show, inputs=[zone], outputs=[caption, table], api_visibility="private")
    return tab
