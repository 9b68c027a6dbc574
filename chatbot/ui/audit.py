"""The "Audit log" tab: recent staff actions (who changed what, when). Admins only."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.ui.staff import admin_refusal, bind

AUDIT_HEADERS = ["time", "actor", "action", "target", "details"]

Row = list[Any]


def audit_table(
    services: Services, request: gr.Request | None = None, *, limit: int = 200
) -> tuple[str, list[Row]]:
    """(caption, rows in AUDIT_HEADERS order, newest first). Agents get a refusal instead."""
    refusal = admin_refusal(services, request, "see the audit log")
    if refusal:
        return refusal, []
    rows = [
        [
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.target,
            e.details,
        ]
        for e in services.audit.recent(limit)
    ]
    return f"The latest {len(rows)} staff actions, newest first.", rows


def build_audit_tab(services: Services, demo: gr.Blocks) -> gr.Tab:
    with gr.Tab("Audit log", id="audit") as tab:
        with gr.Row():
            caption = gr.Markdown(elem_id="audit-caption")
            reload = gr.Button("Refresh", elem_id="audit-refresh", size="sm", scale=0)
        table = gr.Dataframe(
            headers=AUDIT_HEADERS,
            interactive=False,
            wrap=True,
            elem_id="audit-entries",
            label="Audit log",
        )
        show = bind(audit_table, services)
        reload.click(show, outputs=[caption, table], api_name="audit_log")
        for event in (tab.select, demo.load):
            event(show, outputs=[caption, table], api_visibility="private")
    return tab
