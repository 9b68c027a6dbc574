"""The "Export conversations" panel of the Analytics tab: the matching conversations as a
private file to download (admins only), deleted soon after (chatbot.staff.export_files).
The export is a staff action (`services.staff.conversations.export`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff import export, export_files, export_formats
from chatbot.staff.actor import Forbidden
from chatbot.staff.conversation_actions import ANY_OUTCOME, ExportFilterError
from chatbot.ui.events import bind
from chatbot.ui.review import ALL_LANGUAGES, language_choices
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.times import parse_day


def export_conversations(
    services: Services,
    fmt: str | None,
    since: Any = None,
    until: Any = None,
    outcome: str | None = None,
    language: str | None = None,
    request: gr.Request | None = None,
) -> tuple[str | None, str]:
    """Write the matching conversations to a private file for download (admins only),
    deleted after `privacy.export_keep_seconds` (chatbot.staff.export_files). Returns (file path
    or None, markdown message)."""

    def make_filter() -> export.ExportFilter:
        return export.ExportFilter(
            since=parse_day(since, "from") if since else None,
            until=parse_day(until, "to") if until else None,
            outcome=None if outcome in (None, "", ANY_OUTCOME) else outcome,
            language=None if language in (None, "", ALL_LANGUAGES) else language,
        )

    try:
        done = services.staff.conversations.export(
            current_actor(services, request), fmt or "csv", make_filter, get_upload_folder()
        )
    except Forbidden as exc:
        return None, refusal(exc)
    except (ExportFilterError, export_files.ExportFolderError) as exc:
        return None, f"❌ {exc}"
    minutes = max(1, round(done.keep_seconds / 60))
    count = plural(done.conversations, "conversation")
    return str(done.path), f"✅ {count} exported (downloadable for {minutes} min)."


@dataclass(frozen=True)
class ExportPanel:
    """The panel's components; `connect` adds its event."""

    fmt: gr.Radio
    since: gr.DateTime
    until: gr.DateTime
    outcome: gr.Dropdown
    language: gr.Dropdown
    accordion: gr.Accordion
    run: gr.Button
    download: gr.File
    status: gr.Markdown

    def connect(self, services: Services) -> None:
        self.run.click(
            bind(export_conversations, services),
            inputs=[self.fmt, self.since, self.until, self.outcome, self.language],
            outputs=[self.download, self.status],
            api_name="export_conversations",
        )
        # The languages conversations are in, read when the panel is opened.
        self.accordion.expand(
            bind(language_choices, services),
            [self.language],
            [self.language],
            api_visibility="private",
        )


def build_export_panel(services: Services) -> ExportPanel:
    """The panel, closed at first, where it is built."""
    # Exports a stopped server left behind are deleted when the console starts.
    export_files.sweep(get_upload_folder(), services.settings.privacy.export_keep_seconds)
    with gr.Accordion("Export conversations", open=False) as accordion:
        with gr.Row():
            fmt = gr.Radio(list(export_formats.FORMATS), value="csv", label="Format")
            since = gr.DateTime(include_time=False, type="string", label="Started from")
            until = gr.DateTime(include_time=False, type="string", label="Started until")
            outcome = gr.Dropdown(
                [ANY_OUTCOME, *export.OUTCOME_CHOICES], value=ANY_OUTCOME, label="Outcome"
            )
            language = gr.Dropdown(
                [ALL_LANGUAGES], value=ALL_LANGUAGES, label="Language", elem_id="an-export-language"
            )
        run = gr.Button("Export", elem_id="an-export")
        download = gr.File(label="Download", interactive=False, elem_id="an-download")
        status = gr.Markdown(elem_id="an-export-status")
    return ExportPanel(fmt, since, until, outcome, language, accordion, run, download, status)
