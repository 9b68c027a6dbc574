"""The "Conversations" tab: search conversations with filters, page through the results, read
one transcript (with customer ratings and staff notes) and review it: labels, notes, and
turning a customer's question into FAQ changes (chatbot.ui.review_actions). Times are in the
staff member's time zone (chatbot.ui.times); the open transcript follows new messages by
itself (chatbot.ui.live)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import date
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.dates import NotADay, parse_day
from chatbot.core.language_names import language_label
from chatbot.storage.review_search import (
    LABELS,
    OUTCOMES,
    RATINGS,
    ReviewError,
    ReviewFilters,
    ReviewRow,
)
from chatbot.ui import review_actions as act
from chatbot.ui.events import bind
from chatbot.ui.live import LiveConsole
from chatbot.ui.render import escape_text
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready
from chatbot.ui.transcript import GROUNDING, NOTHING_CHOSEN, render_transcript

__all__ = [
    "CONVERSATION_HEADERS",
    "GROUNDING",
    "NOTHING_CHOSEN",
    "build_review_tab",
    "conversations_table",
    "language_choices",
    "next_page",
    "parse_filters",
    "previous_page",
    "render_transcript",
    "search_page",
    "select_row",
]

CONVERSATION_HEADERS = [
    "started",
    "title",
    "channel",
    "language",
    "messages",
    "last decision",
    "needs human",
    "rating",
    "labels",
]
# Percent of the table's width per column (chatbot.ui.tables): room for the title, and none
# of the short columns after it pushed out of sight.
CONVERSATION_WIDTHS = [14, 25, 7, 9, 8, 10, 8, 8, 10]
# A long first message is cut in the table; the full text is one click (or the transcript)
# away.
TITLE_CHARS = 90
ANY = "any"
OUTCOME_CHOICES = [ANY, *OUTCOMES]
RATING_CHOICES = [ANY, *RATINGS]
LABEL_CHOICES = [ANY, *LABELS]
ALL_LANGUAGES = "all"
PAGE_SIZE = 20

Row = list[Any]
# What a search puts on screen: table rows, conversation dropdown, ids in row order, the
# "page x of y" line and the page number.
SearchResult = tuple[list[Row], Any, list[str], str, int]


# ---- search and paging -------------------------------------------------------------------
def _day(value: str | None, which: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_day(value)
    except NotADay:
        raise ReviewError(f"the {which} date must look like 2025-01-31, not “{value}”") from None


def parse_filters(
    date_from: str | None,
    date_to: str | None,
    outcome: str | None,
    rating: str | None,
    text: str | None,
    label: str | None,
    language: str | None = None,
) -> ReviewFilters:
    """The filter controls as ReviewFilters ("any", "all" and blanks mean no filter);
    ReviewError for a date that is not YYYY-MM-DD."""
    return ReviewFilters(
        date_from=_day(date_from, "from"),
        date_to=_day(date_to, "to"),
        outcome=None if outcome in (None, "", ANY) else outcome,
        rating=None if rating in (None, "", ANY) else rating,
        text=(text or "").strip(),
        label=None if label in (None, "", ANY) else label,
        language=None if language in (None, "", ANY, ALL_LANGUAGES) else language,
    )


def _rating_cell(r: ReviewRow) -> str:
    parts = ([f"👍 {r.thumbs_up}"] if r.thumbs_up else []) + (
        [f"👎 {r.thumbs_down}"] if r.thumbs_down else []
    )
    return " ".join(parts)


def _needs_human_cell(r: ReviewRow) -> str:
    if not r.needs_human:
        return ""
    return "handled" if r.handled else "yes"


def conversations_table(
    services: Services,
    limit: int = PAGE_SIZE,
    filters: ReviewFilters | None = None,
    page: int = 1,
    zone: str | None = None,
) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    """One page of conversations matching `filters`, newest first, times in `zone`.

    Returns (table rows in CONVERSATION_HEADERS order, dropdown choices as (label, id),
    the ids in row order).
    """
    rows, _ = services.conversations.search(filters, page, limit)
    return _table(rows, zone)


def _table(
    found: list[ReviewRow], zone: str | None = None
) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    rows = [
        [
            fmt_time(c.created_at, zone),
            c.title,
            c.channel,
            language_label(c.language) if c.language else "",
            c.messages,
            c.last_decision or "",
            _needs_human_cell(c),
            _rating_cell(c),
            ", ".join(c.labels),
        ]
        for c in found
    ]
    choices = [(f"{fmt_time(c.created_at, zone)} · {c.title[:60]}", c.id) for c in found]
    return rows, choices, [c.id for c in found]


def search_page(
    services: Services,
    date_from: str | None,
    date_to: str | None,
    outcome: str | None,
    rating: str | None,
    text: str | None,
    label: str | None,
    page: float | None = 1,
    current: str | None = None,
    language: str | None = None,
    zone: str | None = None,
) -> SearchResult:
    """Run the search for one page (clamped to the pages there are), times in `zone`; the
    conversation dropdown keeps `current` when it is still listed."""
    try:
        filters = parse_filters(date_from, date_to, outcome, rating, text, label, language)
        wanted = max(1, int(page or 1))
        found, total = services.conversations.search(filters, wanted, PAGE_SIZE)
        pages = max(1, -(-total // PAGE_SIZE))
        if wanted > pages:
            wanted = pages
            found, total = services.conversations.search(filters, wanted, PAGE_SIZE)
    except ReviewError as exc:
        return [], gr.update(choices=[], value=None), [], f"❌ {escape_text(str(exc))}", 1
    rows, choices, ids = _table(found, zone)
    if total:
        first = (wanted - 1) * PAGE_SIZE + 1
        info = (
            f"Page {wanted} of {pages} · conversations {first}-{first + len(rows) - 1} "
            f"of {total:,} (newest first)"
        )
    else:
        info = "No conversations match."
    value = current if current in ids else None
    return rows, gr.update(choices=choices, value=value), ids, info, wanted


def _paging(move: Callable[[int], int], doc: str) -> Callable[..., SearchResult]:
    """`search_page` on the page `move` makes of the page asked for: the same parameters, so
    Gradio passes them alike."""

    @functools.wraps(search_page)
    def handler(*args: Any, **kwargs: Any) -> SearchResult:
        asked = _SEARCH_PAGE.bind(*args, **kwargs)
        asked.apply_defaults()
        asked.arguments["page"] = move(int(asked.arguments["page"] or 1))
        return search_page(*asked.args, **asked.kwargs)

    handler.__doc__ = doc
    return handler


_SEARCH_PAGE = inspect.signature(search_page)
previous_page = _paging(lambda page: page - 1, "The page before the one shown.")
next_page = _paging(lambda page: page + 1, "The page after the one shown.")
first_page = _paging(lambda page: 1, "A new search starts on page 1.")


def language_choices(services: Services, current: str | None = None) -> Any:
    """The language filter's choices: "all", then the languages conversations are in (most
    conversations first), each shown as "zh (中文)"; keeps `current` when it is listed."""
    codes = services.conversations.languages()
    choices = [(ALL_LANGUAGES, ALL_LANGUAGES), *((language_label(c), c) for c in codes)]
    value = current if current in codes else ALL_LANGUAGES
    return gr.update(choices=choices, value=value)


def select_row(ids: list[str], evt: gr.SelectData) -> str | None:
    """Map a clicked table row to its conversation id (ids are kept in row order)."""
    row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    return ids[row] if isinstance(row, int) and 0 <= row < len(ids) else None


# ---- the tab -------------------------------------------------------------------------------
def build_review_tab(
    services: Services,
    demo: gr.Blocks,
    zone: gr.State | None = None,
    live: LiveConsole | None = None,
) -> gr.Tab:
    """The Conversations tab; it fills when the page opens, in the browser's time zone when
    `zone` (chatbot.ui.times.track_browser_zone) is given; with `live` the open transcript
    follows new messages by itself."""
    ready = page_ready(demo, zone)
    with gr.Tab("Conversations", id="conversations") as tab:
        # A tab built on its own shows UTC.
        zone = zone if zone is not None else gr.State(None)
        ids = gr.State([])
        with gr.Row():
            date_from = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="review-from", scale=1)
            date_to = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="review-to", scale=1)
            outcome = gr.Dropdown(
                OUTCOME_CHOICES, value=ANY, label="Outcome", elem_id="review-outcome", scale=1
            )
            rating = gr.Dropdown(
                RATING_CHOICES, value=ANY, label="Customer rating", elem_id="review-rating", scale=1
            )
            label = gr.Dropdown(
                LABEL_CHOICES, value=ANY, label="Label", elem_id="review-label", scale=1
            )
            # Choices are the languages conversations are in, read when the tab is shown.
            language = gr.Dropdown(
                [ALL_LANGUAGES],
                value=ALL_LANGUAGES,
                label="Language",
                elem_id="review-language",
                scale=1,
            )
        with gr.Row():
            text = gr.Textbox(
                label="Search messages",
                placeholder="Words any message of the conversation contains",
                elem_id="review-search-text",
                scale=5,
            )
            search = gr.Button("Search", elem_id="review-search", variant="primary", scale=1)
        table = console_table(
            CONVERSATION_HEADERS,
            CONVERSATION_WIDTHS,
            elem_id="review-conversations",
            label="Conversations (newest first)",
            max_chars=TITLE_CHARS,
            max_height=420,
        )
        with gr.Row():
            prev = gr.Button("◀ Previous", elem_id="review-prev", size="sm", scale=0)
            page = gr.Number(
                value=1, precision=0, minimum=1, label="Page", elem_id="review-page", scale=0
            )
            nxt = gr.Button("Next ▶", elem_id="review-next", size="sm", scale=0)
            info = gr.Markdown(elem_id="review-page-info")
        choice = gr.Dropdown(choices=[], label="Conversation", elem_id="review-choice")
        transcript = gr.Markdown(NOTHING_CHOSEN, elem_id="review-transcript")
        panel = act.build_review_panel(services, choice, transcript, zone)

        inputs = [date_from, date_to, outcome, rating, text, label, page, choice, language, zone]
        outputs = [table, choice, ids, info, page]
        # Every event that fills the list (or picks from it) runs in one queue, one at a time,
        # in the order it was triggered: the refresh on page load / tab select (the filters as
        # they were then) can otherwise finish after a search started later and overwrite it.
        in_order: dict[str, Any] = {"concurrency_id": "review-list", "concurrency_limit": 1}
        private: dict[str, Any] = {"api_visibility": "private"}
        ordered = {**private, **in_order}
        gr.on(
            [search.click, text.submit, date_from.submit, date_to.submit],
            bind(first_page, services),
            inputs=inputs,
            outputs=outputs,
            api_name="conversations",
            **in_order,
        )
        for control in (outcome, rating, label, language):
            control.input(bind(first_page, services), inputs, outputs, **ordered)
        page.submit(bind(search_page, services), inputs, outputs, **ordered)
        prev.click(bind(previous_page, services), inputs, outputs, **ordered)
        nxt.click(bind(next_page, services), inputs, outputs, **ordered)
        tab.select(bind(search_page, services), inputs, outputs, **ordered)
        ready(bind(search_page, services), inputs, outputs, **ordered)
        for shown in (tab.select, ready):
            shown(bind(language_choices, services), [language], [language], **private)
        table.select(select_row, inputs=[ids], outputs=[choice], **ordered)
        show = bind(render_transcript, services)
        choice.change(show, inputs=[choice, zone], outputs=[transcript], api_name="transcript")
        choice.change(bind(act.load_review, services), inputs=[choice], outputs=panel, **private)
        if live is not None:
            # Only the transcript: the labels, note and answer boxes stay as staff left them.
            live.transcript(choice).change(
                show, [choice, zone], [transcript], **private, show_progress="hidden"
            )
    return tab
