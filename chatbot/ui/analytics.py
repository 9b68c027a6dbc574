"""The "Analytics" tab: activity, outcomes, ratings and latency for a period; how many
questions each language had; the questions customers ask most and those the bot could not
answer (grouped by meaning, across languages), each unanswered group one click from becoming
an FAQ entry; and a download of the conversations."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from chatbot.container import Services
from chatbot.core.language_names import language_label
from chatbot.core.wording import plural
from chatbot.staff import analytics, export, export_files
from chatbot.staff.analytics import AnalyticsReport, Period, QuestionGroup
from chatbot.ui.staff import actor, admin_refusal, bind
from chatbot.ui.tables import console_table
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError

log = logging.getLogger(__name__)

LAST_7, LAST_30, LAST_90, CUSTOM = "Last 7 days", "Last 30 days", "Last 90 days", "From / to"
PERIODS = [LAST_7, LAST_30, LAST_90, CUSTOM]
PERIOD_DAYS = {LAST_7: 7, LAST_30: 30, LAST_90: 90}
QUESTION_HEADERS = ["#", "asked", "question (most typical wording)", "other wordings"]
TIMING_HEADERS = ["measure", "p50 (ms)", "p95 (ms)", "answers"]
LANGUAGE_HEADERS = ["language", "questions", "share", "unanswered"]
# Percent of a table's width per column (chatbot.ui.tables): a long question wraps in its
# column instead of squeezing the counts next to it into a letter per line.
QUESTION_WIDTHS = [6, 9, 43, 40]
TIMING_WIDTHS = [34, 22, 22, 20]
LANGUAGE_WIDTHS = [34, 22, 20, 22]
OUTCOME_ORDER = ["answered", "declined", "handed off", "errors"]
ANY_OUTCOME = "any"

Row = list[Any]


# ---- period ---------------------------------------------------------------------------------
def _parse_day(value: Any, label: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, int | float):  # a gr.DateTime timestamp
        return datetime.fromtimestamp(value, UTC).date()
    text = str(value or "").strip()
    if not text:
        raise ValueError(f"choose the {label} date")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{label}: {text!r} is not a date (YYYY-MM-DD)") from None


def resolve_period(choice: str | None, first: Any = None, last: Any = None) -> Period:
    """The period the selector describes: the last 7/30/90 days including today (UTC), or
    whole days from `first` to `last`, both included. Raises ValueError with a message."""
    if choice in PERIOD_DAYS:
        return Period.last_days(PERIOD_DAYS[choice])
    return Period.between(_parse_day(first, "from"), _parse_day(last, "to"))


# ---- tables and plots -----------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def per_day_frame(report: AnalyticsReport) -> pd.DataFrame:
    """Long form for one line per series: day, series, count."""
    rows = []
    for d in report.per_day:
        day = pd.Timestamp(d.day)
        rows.append({"day": day, "series": "conversations", "count": d.conversations})
        rows.append({"day": day, "series": "messages", "count": d.messages})
    return pd.DataFrame(rows, columns=["day", "series", "count"])


def outcome_frame(report: AnalyticsReport) -> pd.DataFrame:
    shares = report.outcomes.shares()
    return pd.DataFrame(
        {
            "outcome": OUTCOME_ORDER,
            "share (%)": [round(shares[o] * 100, 1) for o in OUTCOME_ORDER],
        }
    )


def timing_rows(report: AnalyticsReport) -> list[Row]:
    return [
        [name, _ms(p.p50), _ms(p.p95), p.count]
        for name, p in (
            ("full answer", report.latency_ms),
            ("first token", report.first_token_ms),
        )
    ]


def language_rows(report: AnalyticsReport) -> list[Row]:
    """Questions per language, most asked first: "zh (中文)", count, share, unanswered."""
    total = sum(x.questions for x in report.languages)
    return [
        [language_label(x.language), x.questions, _pct(x.questions / total), x.unanswered]
        for x in report.languages
    ]


def question_rows(groups: list[QuestionGroup]) -> list[Row]:
    return [
        [i, g.count, g.representative, "\n".join(g.examples)] for i, g in enumerate(groups, start=1)
    ]


def summary_markdown(report: AnalyticsReport) -> str:
    p, o, r = report.period, report.outcomes, report.ratings
    last_day = p.days()[-1]
    shares = o.shares()
    lines = [
        f"**{p.start:%Y-%m-%d} to {last_day:%Y-%m-%d}** (UTC): "
        f"{plural(report.conversations, 'conversation')}, "
        f"{plural(report.messages, 'message')}, {plural(o.total, 'bot answer')}.",
        f"Answered {_pct(shares['answered'] if o.total else None)} · "
        f"declined {_pct(shares['declined'] if o.total else None)} · "
        f"handed off {_pct(shares['handed off'] if o.total else None)}"
        + (f" · errors {o.errors}" if o.errors else ""),
        f"Ratings: 👍 {r.up} · 👎 {r.down} ({_pct(r.positive_share)} positive)",
    ]
    return "\n\n".join(lines)


def group_choices(groups: list[QuestionGroup]) -> list[tuple[str, str]]:
    return [
        (f"{i}. {g.representative} (asked {plural(g.count, 'time')})", str(i - 1))
        for i, g in enumerate(groups, 1)
    ]


# ---- handlers -------------------------------------------------------------------------------
def show_report(
    services: Services, choice: str | None, first: Any = None, last: Any = None
) -> tuple[Any, ...]:
    """Everything the tab shows for a period: (summary, per-day plot, outcome plot, timing
    rows, questions per language, top questions, top unanswered, unanswered groups (state),
    group dropdown)."""
    try:
        period = resolve_period(choice, first, last)
    except ValueError as exc:
        empty = pd.DataFrame()
        return (f"❌ {exc}", empty, empty, [], [], [], [], [], gr.update(choices=[], value=None))
    report = analytics.build_report(services.sessions, services.kb.embedder, period)
    return (
        summary_markdown(report),
        per_day_frame(report),
        outcome_frame(report),
        timing_rows(report),
        language_rows(report),
        question_rows(report.top_questions),
        question_rows(report.top_unanswered),
        report.top_unanswered,
        gr.update(choices=group_choices(report.top_unanswered), value=None),
    )


def _group(groups: list[QuestionGroup] | None, choice: str | None) -> QuestionGroup | None:
    try:
        return (groups or [])[int(choice or "")]
    except (ValueError, IndexError):
        return None


def pick_group(groups: list[QuestionGroup] | None, choice: str | None) -> str:
    """The group's wordings, one per line, to become the new entry's questions."""
    group = _group(groups, choice)
    return "" if group is None else "\n".join(group.questions)


def add_to_faq(
    services: Services,
    groups: list[QuestionGroup] | None,
    choice: str | None,
    questions: str,
    answer: str,
    request: gr.Request | None = None,
) -> str:
    """Save an unanswered group as a new FAQ entry (in answers at once). `questions` are the
    group's wordings as edited by staff, one per line."""
    wordings = [q.strip() for q in (questions or "").splitlines() if q.strip()]
    if not wordings:
        group = _group(groups, choice)
        if group is None:
            return "Choose an unanswered question group first."
        wordings = group.questions
    if not (answer or "").strip():
        return "Type the answer customers should get."
    try:
        entry = services.kb.save_faq_entry(None, wordings, answer, category=None, url=None)
    except EntryError as exc:
        return f"❌ {exc}"
    services.audit.record(
        actor(request),
        "kb.save_faq_entry",
        entry.entry_id,
        f"added from analytics (unanswered questions), {plural(len(entry.questions), 'phrasing')}",
    )
    return (
        f"✅ Added `{entry.entry_id}` to “{MANUAL_DOCUMENT}” with "
        f"{plural(len(entry.questions), 'phrasing')}; it is in answers now."
    )


def export_conversations(
    services: Services,
    fmt: str | None,
    since: Any = None,
    until: Any = None,
    outcome: str | None = None,
    request: gr.Request | None = None,
) -> tuple[str | None, str]:
    """Write the matching conversations to a private file for download (admins only),
    deleted after `privacy.export_keep_seconds` (chatbot.staff.export_files). Returns (file path
    or None, markdown message)."""
    refusal = admin_refusal(services, request, "export conversations")
    if refusal:
        return None, refusal
    fmt = fmt or "csv"
    try:
        flt = export.ExportFilter(
            since=_parse_day(since, "from") if since else None,
            until=_parse_day(until, "to") if until else None,
            outcome=None if outcome in (None, "", ANY_OUTCOME) else outcome,
        )
    except ValueError as exc:
        return None, f"❌ {exc}"
    keep = services.settings.privacy.export_keep_seconds
    try:
        root = export_files.exports_root(get_upload_folder())
    except export_files.ExportFolderError as exc:
        return None, f"❌ {exc}"
    export_files.remove_expired(root, keep)
    span = f"{flt.since or 'start'}_to_{flt.until or 'now'}"
    path, out = export_files.open_export(root, f"conversations_{span}.{fmt}")
    try:
        with out:
            count = export.write_export(services.sessions, out, fmt, flt)
    except BaseException:
        export_files.remove_export(path)
        raise
    export_files.remove_later(path, keep)
    services.audit.record(
        actor(request),
        "conversations.export",
        path.name,
        f"{plural(count, 'conversation')}; format {fmt}; since {flt.since or '-'}; "
        f"until {flt.until or '-'}; outcome {flt.outcome or ANY_OUTCOME}",
    )
    minutes = max(1, round(keep / 60))
    message = f"✅ {plural(count, 'conversation')} exported (downloadable for {minutes} min)."
    return str(path), message


# ---- layout ---------------------------------------------------------------------------------
def question_table(label: str, elem_id: str) -> gr.Dataframe:
    """A table of question groups (`question_rows`): the top ones, or the unanswered ones."""
    return console_table(QUESTION_HEADERS, QUESTION_WIDTHS, label=label, elem_id=elem_id)


def build_analytics_tab(services: Services) -> gr.Tab:
    # Exports a stopped server left behind are deleted when the console starts.
    export_files.sweep(get_upload_folder(), services.settings.privacy.export_keep_seconds)
    with gr.Tab("Analytics", id="analytics") as tab:
        with gr.Row():
            period = gr.Radio(PERIODS, value=LAST_7, label="Period", elem_id="an-period", scale=3)
            first = gr.DateTime(
                include_time=False, type="string", label="From", elem_id="an-from", scale=1
            )
            last = gr.DateTime(
                include_time=False, type="string", label="To", elem_id="an-to", scale=1
            )
            show = gr.Button("Show", variant="primary", elem_id="an-show", scale=0)
        summary = gr.Markdown(elem_id="an-summary")
        with gr.Row():
            per_day = gr.LinePlot(
                x="day",
                y="count",
                color="series",
                title="Conversations and messages per day",
                x_title="day (UTC)",
                y_title="count",
                elem_id="an-per-day",
            )
            outcomes = gr.BarPlot(
                x="outcome",
                y="share (%)",
                title="Bot answers by outcome",
                sort=OUTCOME_ORDER,
                y_lim=[0, 100],
                elem_id="an-outcomes",
            )
        with gr.Row():
            timings = console_table(
                TIMING_HEADERS, TIMING_WIDTHS, label="Answer latency", elem_id="an-latency"
            )
            languages = console_table(
                LANGUAGE_HEADERS,
                LANGUAGE_WIDTHS,
                label="Customer questions by language",
                elem_id="an-languages",
            )
        top = question_table(
            "Top questions (grouped by meaning, across languages)", elem_id="an-top"
        )
        unanswered = question_table(
            "Top unanswered questions (declined or handed off)", elem_id="an-unanswered"
        )
        groups = gr.State([])
        with gr.Accordion("Add an unanswered question to the FAQ", open=False):
            group = gr.Dropdown(
                choices=[], value=None, label="Unanswered group", elem_id="an-group"
            )
            questions = gr.Textbox(
                label="Questions (one per line; edit as needed)",
                lines=4,
                elem_id="an-faq-questions",
            )
            answer = gr.Textbox(label="Answer", lines=4, elem_id="an-faq-answer")
            save = gr.Button("Save to FAQ", variant="primary", elem_id="an-faq-save")
            faq_status = gr.Markdown(elem_id="an-faq-status")
        with gr.Accordion("Export conversations", open=False):
            with gr.Row():
                fmt = gr.Radio(list(export.FORMATS), value="csv", label="Format")
                since = gr.DateTime(include_time=False, type="string", label="Started from")
                until = gr.DateTime(include_time=False, type="string", label="Started until")
                outcome = gr.Dropdown(
                    [ANY_OUTCOME, *export.OUTCOMES], value=ANY_OUTCOME, label="Outcome"
                )
            run_export = gr.Button("Export", elem_id="an-export")
            download = gr.File(label="Download", interactive=False, elem_id="an-download")
            export_status = gr.Markdown(elem_id="an-export-status")

        report_outputs = [
            summary,
            per_day,
            outcomes,
            timings,
            languages,
            top,
            unanswered,
            groups,
            group,
        ]
        show.click(
            bind(show_report, services),
            inputs=[period, first, last],
            outputs=report_outputs,
            api_name="analytics",
        )
        tab.select(
            bind(show_report, services),
            inputs=[period, first, last],
            outputs=report_outputs,
            api_visibility="private",
        )
        group.input(
            pick_group, inputs=[groups, group], outputs=[questions], api_visibility="private"
        )
        save.click(
            bind(add_to_faq, services),
            inputs=[groups, group, questions, answer],
            outputs=[faq_status],
            api_name="add_unanswered_to_faq",
        )
        run_export.click(
            bind(export_conversations, services),
            inputs=[fmt, since, until, outcome],
            outputs=[download, export_status],
            api_name="export_conversations",
        )
    return tab
