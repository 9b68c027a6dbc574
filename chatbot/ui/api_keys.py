"""The "API keys" tab: keys for the HTTP API (/api/v1), listed, created (the new key shown
once) and revoked. Admins only: the staff actions refuse everyone else."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.staff.actor import Forbidden
from chatbot.staff.api_keys import DEFAULT_RATE, KEY_ROLES, ApiKeyError
from chatbot.ui.events import bind
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready

KEY_HEADERS = ["id", "name", "prefix", "role", "rate/min", "created", "by", "last used", "revoked"]
KEY_WIDTHS = [5, 15, 14, 9, 8, 14, 9, 13, 13]

Row = list[Any]


def keys_table(
    services: Services, request: gr.Request | None = None, zone: str | None = None
) -> tuple[str, list[Row]]:
    """(caption, rows in KEY_HEADERS order, newest first). Agents get a refusal instead."""
    try:
        keys = services.staff.keys.list(current_actor(services, request))
    except Forbidden as exc:
        return refusal(exc), []

    def when(value: Any) -> str:
        return fmt_time(value, zone) if value is not None else ""

    rows = [
        [
            k.id,
            k.name,
            f"{k.prefix}…",
            k.role,
            k.rate_per_minute,
            when(k.created_at),
            k.created_by,
            when(k.last_used_at),
            when(k.revoked_at),
        ]
        for k in keys
    ]
    active = sum(1 for k in keys if k.active)
    return f"{active} active of {len(keys)} keys, newest first.", rows


def create_key(
    services: Services,
    name: str,
    role: str,
    rate: float | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str, list[Row]]:
    """(message with the new key, shown this once; caption; rows)."""
    try:
        new = services.staff.keys.create(
            current_actor(services, request), (name or "").strip(), role, int(rate or 0)
        )
        message = (
            f"Created {new.info.role} key **{new.info.name}** (id {new.info.id}). Copy it now, "
            f"it is not shown again:\n\n`{new.key}`"
        )
    except Forbidden as exc:
        message = refusal(exc)
    except ApiKeyError as exc:
        message = f"❌ {exc}"
    return (message, *keys_table(services, request, zone))


def revoke_key(
    services: Services,
    key_id: float | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, str, list[Row]]:
    try:
        revoked = services.staff.keys.revoke(current_actor(services, request), int(key_id or 0))
        message = f"Revoked key {revoked.id} ({revoked.name}): it is refused from now on."
    except Forbidden as exc:
        message = refusal(exc)
    except ApiKeyError as exc:
        message = f"❌ {exc}"
    return (message, *keys_table(services, request, zone))


def build_api_keys_tab(services: Services, demo: gr.Blocks, zone: gr.State | None = None) -> gr.Tab:
    """The API keys tab; it fills when the page opens (in the browser's time zone when
    `zone` is given)."""
    ready = page_ready(demo, zone)
    with gr.Tab("API keys", id="api-keys") as tab:
        zone = zone if zone is not None else gr.State(None)
        with gr.Row():
            caption = gr.Markdown(elem_id="keys-caption")
            reload = gr.Button("Refresh", elem_id="keys-refresh", size="sm", scale=0)
        table = console_table(KEY_HEADERS, KEY_WIDTHS, elem_id="keys-list", label="API keys")
        with gr.Row():
            name = gr.Textbox(label="Name", elem_id="keys-name", placeholder="website-widget")
            role = gr.Dropdown(list(KEY_ROLES), value="customer", label="Role", elem_id="keys-role")
            rate = gr.Number(DEFAULT_RATE, label="Requests per minute", precision=0, minimum=1)
            create = gr.Button("Create key", elem_id="keys-create", variant="primary")
        with gr.Row():
            key_id = gr.Number(label="Key id", precision=0, elem_id="keys-id")
            revoke = gr.Button("Revoke key", elem_id="keys-revoke", variant="stop")
        message = gr.Markdown(elem_id="keys-message")
        show = bind(keys_table, services)
        reload.click(show, inputs=[zone], outputs=[caption, table], api_visibility="private")
        for event in (tab.select, ready):
            event(show, inputs=[zone], outputs=[caption, table], api_visibility="private")
        create.click(
            bind(create_key, services),
            inputs=[name, role, rate, zone],
            outputs=[message, caption, table],
            api_visibility="private",
        )
        revoke.click(
            bind(revoke_key, services),
            inputs=[key_id, zone],
            outputs=[message, caption, table],
            api_visibility="private",
        )
    return tab
