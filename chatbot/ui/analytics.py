"""The "Analytics" tab: activity, outcomes, ratings and latency for a period; how many
questions each language had; the questions customers ask most and those the bot could not
answer (grouped by meaning, across languages), each unanswered group one click from becoming
an FAQ entry; and a download of the conversations (chatbot.ui.export_panel)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from chatbot.container import Services
from chatbot.core.language_names import language_label
from chatbot.core.wording import plural
from chatbot.staff import analytics
from chatbot.staff.analytics import AnalyticsReport, Period, QuestionGroup
from chatbot.ui.events import bind
from chatbot.ui.export_panel import build_export_panel
from chatbot.ui.staff import current_actor
from chatbot.ui.tables import console_table
from chatbot.ui.times import parse_day
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError

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

Row = list[Any]


# ---- period ---------------------------------------------------------------------------------
def resolve_period(choice: str | None, first: Any = None, last: Any = None) -> Period:
    """The period the selector describes: the last 7/30/90 days including today (UTC), or
    whole days from `first` to `last`, both included. Raises ValueError with a message."""
    if choice in PERIOD_DAYS:
        return Period.last_days(PERIOD_DAYS[choice])
    return Period.between(parse_day(first, "from"), parse_day(last, "to"))


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
        entry = services.staff.knowledge.add_unanswered_group(
            current_actor(services, request), wordings, answer
        )
    except EntryError as exc:
        return f"❌ {exc}"
    return (
        f"✅ Added `{entry.entry_id}` to “{MANUAL_DOCUMENT}” with "
        f"{plural(len(entry.questions), 'phrasing')}; it is in answers now."
    )


# ---- layout ---------------------------------------------------------------------------------
def question_table(label: str, elem_id: str) -> gr.Dataframe:
    """A table of question groups (`question_rows`): the top ones, or the unanswered ones."""
    return console_table(QUESTION_HEADERS, QUESTION_WIDTHS, label=label, elem_id=elem_id)


def build_analytics_tab(services: Services) -> gr.Tab:
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
        export_panel = build_export_panel(services)

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
        export_panel.connect(services)
    return tab
