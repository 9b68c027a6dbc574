"""The "Webhooks" tab: the receivers told about handoffs, customers writing after a handoff
and thumbs-down ratings; add, remove, test-send, and the latest deliveries. Admins only (the
staff actions refuse agents; this tab shows the refusal)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.notify.hooks import SUBSCRIBABLE, WebhookError
from chatbot.staff.actor import Forbidden
from chatbot.ui.events import bind
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready

HOOK_HEADERS = ["id", "url", "events", "active", "last delivery"]
HOOK_WIDTHS = [6, 40, 30, 8, 16]
DELIVERY_HEADERS = ["id", "webhook", "event", "status", "attempts", "time", "last result"]
DELIVERY_WIDTHS = [6, 8, 22, 10, 8, 16, 30]

Row = list[Any]


def webhook_tables(
    services: Services, request: gr.Request | None = None, zone: str | None = None
) -> tuple[str, list[Row], list[Row]]:
    """(caption, webhook rows, the latest deliveries' rows); a refusal for agents."""
    hooks = services.staff.webhooks
    try:
        actor = current_actor(services, request)
        found = hooks.list(actor)
        sent = hooks.deliveries(actor, limit=50)
    except Forbidden as exc:
        return refusal(exc), [], []
    hook_rows = [
        [
            h.id,
            h.url,
            ", ".join(h.events),
            "yes" if h.active else "paused",
            f"{h.last_status} {fmt_time(h.last_at, zone)}" if h.last_at else "none yet",
        ]
        for h in found
    ]
    delivery_rows = [
        [
            d.id,
            d.webhook_id,
            d.event,
            d.status,
            d.attempts,
            fmt_time(d.delivered_at or d.next_attempt_at, zone),
            str(d.last_status_code or "") or (d.last_error or ""),
        ]
        for d in sent
    ]
    caption = f"{len(hook_rows)} webhooks; the latest {len(delivery_rows)} deliveries below."
    return caption, hook_rows, delivery_rows


def add_webhook(
    services: Services, url: str, events: list[str], request: gr.Request | None = None
) -> str:
    """The outcome for staff to read: the new webhook's secret (shown once) or why not."""
    try:
        new = services.staff.webhooks.add(current_actor(services, request), url, events or [])
    except Forbidden as exc:
        return refusal(exc)
    except WebhookError as exc:
        return f"**Not added:** {exc}"
    return (
        f"Added webhook {new.info.id}. Its signing secret, shown only now: `{new.secret}` "
        "(the receiver checks each delivery's signature with it)."
    )


def _change(
    services: Services, webhook_id: float | None, request: gr.Request | None, remove: bool
) -> str:
    if webhook_id is None:
        return "Enter a webhook id from the table."
    hooks = services.staff.webhooks
    try:
        actor = current_actor(services, request)
        if remove:
            gone = hooks.remove(actor, int(webhook_id))
            return f"Removed webhook {gone.id} ({gone.url})."
        hooks.send_test(actor, int(webhook_id))
        return f"Queued a test delivery to webhook {int(webhook_id)}."
    except Forbidden as exc:
        return refusal(exc)
    except WebhookError as exc:
        return f"**Not done:** {exc}"


def remove_webhook(
    services: Services, webhook_id: float | None, request: gr.Request | None = None
) -> str:
    """Remove the webhook `webhook_id` and its deliveries."""
    return _change(services, webhook_id, request, remove=True)


def test_webhook(
    services: Services, webhook_id: float | None, request: gr.Request | None = None
) -> str:
    """Queue a test delivery to the webhook `webhook_id`."""
    return _change(services, webhook_id, request, remove=False)


def build_webhooks_tab(services: Services, demo: gr.Blocks, zone: gr.State | None = None) -> gr.Tab:
    ready = page_ready(demo, zone)
    with gr.Tab("Webhooks", id="webhooks") as tab:
        zone = zone if zone is not None else gr.State(None)
        with gr.Row():
            caption = gr.Markdown(elem_id="webhooks-caption")
            reload = gr.Button("Refresh", elem_id="webhooks-refresh", size="sm", scale=0)
        hooks = console_table(HOOK_HEADERS, HOOK_WIDTHS, elem_id="webhooks-list", label="Webhooks")
        with gr.Row():
            url = gr.Textbox(label="URL (http:// or https://)", elem_id="webhook-url", scale=3)
            events = gr.CheckboxGroup(
                [str(e) for e in SUBSCRIBABLE], label="Events", elem_id="webhook-events", scale=3
            )
            add = gr.Button("Add webhook", elem_id="webhook-add", scale=1)
        with gr.Row():
            chosen = gr.Number(label="Webhook id", precision=0, elem_id="webhook-id", scale=1)
            test = gr.Button("Send a test", elem_id="webhook-test", scale=1)
            remove = gr.Button("Remove", variant="stop", elem_id="webhook-remove", scale=1)
        outcome = gr.Markdown(elem_id="webhook-outcome")
        sent = console_table(
            DELIVERY_HEADERS, DELIVERY_WIDTHS, elem_id="webhook-deliveries", label="Deliveries"
        )
        show = bind(webhook_tables, services)
        tables = [caption, hooks, sent]
        reload.click(show, inputs=[zone], outputs=tables, api_visibility="private")
        for event in (tab.select, ready):
            event(show, inputs=[zone], outputs=tables, api_visibility="private")
        add.click(
            bind(add_webhook, services),
            inputs=[url, events],
            outputs=[outcome],
            api_visibility="private",
        ).then(show, inputs=[zone], outputs=tables, api_visibility="private")
        for button, handler in ((test, test_webhook), (remove, remove_webhook)):
            button.click(
                bind(handler, services),
                inputs=[chosen],
                outputs=[outcome],
                api_visibility="private",
            ).then(show, inputs=[zone], outputs=tables, api_visibility="private")
    return tab
