"""The staff console's live updates, time zone and table layout: the stamps an open console
polls (one query, unchanged while nothing happens), the timer's handler and how it is wired
(States only; never a box staff type into), times in the browser's zone in every table and
transcript, and column widths on every table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from sqlalchemy import event

from chatbot.container import Services
from chatbot.storage import repositories as repo
from chatbot.storage.queue_queries import QueueStamp
from chatbot.ui import build_console
from chatbot.ui import handoff_queue as hq
from chatbot.ui import review as ui
from chatbot.ui import review_actions as act
from chatbot.ui.audit import audit_table
from chatbot.ui.documents import documents_table
from chatbot.ui.knowledge import upload_files
from chatbot.ui.live import POLL_SECONDS, poll_console
from chatbot.ui.tables import console_table
from chatbot.ui.times import (
    BROWSER_ZONE_JS,
    fmt_time,
    utc_offset,
    zone_caption,
    zone_name,
)
from chatbot.ui.training import POLL_SECONDS as TRAIN_POLL_SECONDS
from chatbot.ui.transcript import render_transcript
from tests.unit.conversation_data import Turn, add_conversation

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
SHANGHAI = "Asia/Shanghai"


def is_skip(value: Any) -> bool:
    return value == gr.skip()


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.engine, "before_cursor_execute", record)


def handed_off(services: Services, question: str = "I want a human") -> str:
    return add_conversation(services.sessions, T0, [Turn(question, "handoff")])


def customer_writes(services: Services, conversation_id: str, text: str) -> None:
    with services.sessions.begin() as s:
        conv = repo.get_conversation(s, conversation_id)
        assert conv is not None
        repo.add_user_message(s, conv, text)


# ---- time zones -----------------------------------------------------------------------------
def test_the_browsers_zone_is_checked_and_anything_else_is_utc() -> None:
    assert zone_name("Asia/Shanghai") == "Asia/Shanghai"
    assert zone_name("America/Argentina/Buenos_Aires") == "America/Argentina/Buenos_Aires"
    for odd in (None, "", 8, "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "localtime"):
        assert zone_name(odd) == "UTC", odd
    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in BROWSER_ZONE_JS


def test_times_show_in_the_zone_with_naive_values_taken_as_utc() -> None:
    assert fmt_time(T0) == "2025-03-10 09:00:00"
    assert fmt_time(T0, SHANGHAI) == "2025-03-10 17:00:00"
    assert fmt_time(T0.replace(tzinfo=None), SHANGHAI) == "2025-03-10 17:00:00"
    assert fmt_time(T0, "not a zone") == "2025-03-10 09:00:00"
    # Summer time counts: Berlin is UTC+2 in July, UTC+1 in January.
    assert fmt_time(datetime(2025, 7, 1, 9, tzinfo=UTC), "Europe/Berlin").endswith("11:00:00")
    assert utc_offset("Asia/Kolkata", T0) == "UTC+05:30"
    assert utc_offset("America/St_Johns", T0) == "UTC-02:30"
    assert zone_caption(SHANGHAI) == "Times are in your time zone, Asia/Shanghai (UTC+08:00)."
    assert zone_caption("nowhere") == "Times are in UTC."


def test_transcripts_and_tables_show_times_in_the_zone(services: Services, tmp_path: Path) -> None:
    cid = add_conversation(
        services.sessions, T0, [Turn("Where is my parcel?", "handoff")], notes=[("ann", "Hi")]
    )
    md = render_transcript(services, cid, SHANGHAI)
    assert "started 2025-03-10 17:00:00" in md and "· 2025-03-10 17:00:01" in md
    assert "09:00:00" not in md
    assert "started 2025-03-10 09:00:00" in render_transcript(services, cid)

    rows, dropdown, *_ = ui.search_page(
        services, "", "", "any", "any", "", "any", 1, None, None, SHANGHAI
    )
    assert rows[0][0] == "2025-03-10 17:00:00"
    assert dropdown["choices"][0][0].startswith("2025-03-10 17:00:00 · ")
    queue_rows, choices, _ = hq.queue_table(services, zone=SHANGHAI)
    assert queue_rows[0][0] == "2025-03-10 17:00:01" and choices[0][0].startswith("2025-03-10 17")

    services.audit.record("ann", "conversation.note", cid)
    [entry] = services.audit.recent(1)
    _, audit_rows = audit_table(services, zone="Asia/Kolkata")
    assert audit_rows[0][0] == fmt_time(entry.created_at, "Asia/Kolkata")
    assert audit_rows[0][0] != fmt_time(entry.created_at)

    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nOpen on Sundays?,No.\n", encoding="utf-8")
    upload_files(services, [str(faq)])
    [doc] = services.kb.documents()
    assert (
        documents_table(services, "Asia/Kolkata")[0][-1]
        == fmt_time(doc.uploaded_at, "Asia/Kolkata")[:16]
    )

    # The actions that show the transcript again show it in the zone too.
    status, md = act.save_labels(services, cid, ["resolved"], None, SHANGHAI)
    assert status.startswith("✅") and "started 2025-03-10 17:00:00" in md
    _, md, _ = hq.reply(services, cid, "On its way.", None, SHANGHAI)
    assert "started 2025-03-10 17:00:00" in md


# ---- what an open console polls -------------------------------------------------------------
def test_stamps_change_with_what_the_console_shows_in_one_query(services: Services) -> None:
    waiting = handed_off(services)
    other = add_conversation(services.sessions, T0, [Turn("Opening hours?", "answer")])
    log = services.conversations

    with statements(services) as run:
        first = log.live_stamps([waiting, other, "missing"])
    assert len(run) == 1, run
    assert first.queue.waiting == 1 and first.queue.last_message_id is not None
    assert set(first.conversations) == {waiting, other}
    assert log.live_stamps([]).queue == first.queue
    assert log.live_stamps([waiting, other]) == first  # nothing happened: nothing differs

    def changed(action: Any) -> tuple[bool, bool]:
        """Whether the queue's and the waiting conversation's stamps changed by `action`."""
        before = log.live_stamps([waiting])
        action()
        after = log.live_stamps([waiting])
        return (
            after.queue != before.queue,
            after.conversations[waiting] != before.conversations[waiting],
        )

    assert changed(lambda: customer_writes(services, waiting, "Hello?")) == (True, True)
    assert changed(lambda: log.add_note(waiting, "ann", "Calling back")) == (False, True)
    assert changed(lambda: log.set_labels(waiting, ["resolved"])) == (False, True)
    shown = log.transcript(other)
    assert shown is not None
    answer = next(m for m in shown.messages if m.role == "assistant")
    before = log.live_stamps([other]).conversations[other]
    log.rate_message(answer.id, -1, "Too vague")
    assert log.live_stamps([other]).conversations[other] != before
    # A message elsewhere changes neither the queue nor the waiting conversation.
    assert changed(lambda: customer_writes(services, other, "Thanks")) == (False, False)
    assert changed(lambda: log.mark_handled(waiting, "ann")) == (True, True)
    assert log.live_stamps([]).queue.waiting == 0


def test_a_poll_changes_nothing_until_something_happened(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = handed_off(services)
    queue, shown = poll_console(services, None, [None], [cid])
    assert isinstance(queue, QueueStamp) and shown[0] == cid

    with statements(services) as run:
        out = poll_console(services, queue, [shown, None], [cid, None])
    assert len(run) == 1 and all(is_skip(v) for v in out)

    customer_writes(services, cid, "My order number is 4711")
    new_queue, new_shown, nothing = poll_console(services, queue, [shown, None], [cid, None])
    assert new_queue != queue and new_shown[0] == cid and new_shown != shown
    assert is_skip(nothing)
    # Another conversation chosen: its transcript is looked at again.
    other = handed_off(services, "Call me please")
    capsys.readouterr()
    grown, picked = poll_console(services, new_queue, [new_shown], [other])
    assert grown.waiting == 2 and picked[0] == other
    # More customers waiting than the page saw: staff are told (a toast; printed here).
    assert "2 customers waiting for a person." in capsys.readouterr().out


def test_queue_summary_and_tab_label_count_the_customers_waiting(services: Services) -> None:
    assert hq.refresh_queue(services)[3:] == (hq.EMPTY_QUEUE, gr.update(label="Handoff queue"))
    first = handed_off(services)
    handed_off(services, "A person please")
    rows, dropdown, ids, summary, label = hq.refresh_queue(services, first)
    assert summary == "2 customers waiting for a person, longest waiting first."
    assert label["label"] == "Handoff queue · 2 customers waiting"
    assert dropdown["value"] == first and len(rows) == len(ids) == 2
    assert hq.tab_label(1) == "Handoff queue · 1 customer waiting"
    assert hq.waiting_summary(hq.QUEUE_LIMIT).startswith("200+ customers waiting")


# ---- the console's wiring -------------------------------------------------------------------
def listeners(console: gr.Blocks, block: gr.components.Component, name: str) -> list[Any]:
    return [fn for fn in console.fns.values() if (block._id, name) in fn.targets]


def by_id(console: gr.Blocks, elem_id: str) -> Any:
    [block] = [b for b in console.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    return block


def test_the_console_polls_into_states_and_never_into_what_staff_type(services: Services) -> None:
    console = build_console(services)
    # The Train tab has its own timer (a running training's progress), at its own pace.
    assert TRAIN_POLL_SECONDS != POLL_SECONDS
    timers = [b for b in console.blocks.values() if isinstance(b, gr.Timer)]
    assert sorted(t.value for t in timers) == sorted([POLL_SECONDS, TRAIN_POLL_SECONDS])
    [timer] = [t for t in timers if t.value != TRAIN_POLL_SECONDS]
    assert timer.value == POLL_SECONDS
    [tick] = listeners(console, timer, "tick")
    assert tick.show_progress == "hidden" and tick.api_visibility == "private"
    assert tick.outputs and all(isinstance(b, gr.State) for b in tick.outputs)
    # Queue, Conversations transcript, Handoff queue transcript.
    assert len(tick.outputs) == 3

    typed = {by_id(console, i)._id for i in ("handoff-reply-text", "review-note", "review-answer")}
    refreshed: set[str] = set()
    for state in tick.outputs:
        [on_change] = listeners(console, state, "change")
        assert on_change.show_progress == "hidden"
        assert not {b._id for b in on_change.outputs} & typed
        refreshed |= {getattr(b, "elem_id", None) or "" for b in on_change.outputs}
    assert {"handoff-queue", "handoff-transcript", "review-transcript"} <= refreshed

    # The browser's zone: read by js into a hidden textbox (a State input would be the
    # server's copy), then kept in a State that the tabs fill themselves on.
    [zone_load] = [fn for fn in console.fns.values() if fn.js == BROWSER_ZONE_JS]
    assert [type(b) for b in zone_load.inputs] == [gr.Textbox]
    [zone] = zone_load.outputs
    assert isinstance(zone, gr.State)
    filled = {
        getattr(b, "elem_id", None) for fn in listeners(console, zone, "change") for b in fn.outputs
    }
    assert {"kb-documents", "review-conversations", "handoff-queue", "audit-entries"} <= filled
    assert "console-zone" in filled
    # The public API takes no zone: a State is no API parameter.
    api = console.get_api_info()["named_endpoints"]  # type: ignore[index]
    assert [p["parameter_name"] for p in api["/audit_log"]["parameters"]] == []


def test_every_console_table_has_a_width_for_each_column(services: Services) -> None:
    console = build_console(services)
    tables = [b for b in console.blocks.values() if isinstance(b, gr.Dataframe)]
    assert {t.elem_id for t in tables} >= {
        "kb-documents",
        "review-conversations",
        "handoff-queue",
        "an-top",
        "an-unanswered",
        "audit-entries",
    }
    for t in tables:
        headers = t.value["headers"]
        widths = t.column_widths
        assert len(widths) == len(headers), t.elem_id
        assert all(w.endswith("%") for w in widths), t.elem_id
        assert sum(int(w[:-1]) for w in widths) <= 100, t.elem_id
        assert t.wrap, t.elem_id
    assert by_id(console, "review-conversations").max_chars == ui.TITLE_CHARS
    with pytest.raises(ValueError, match="one share per column"):
        console_table(["a", "b"], [50], label="x", elem_id="x")
    with pytest.raises(ValueError, match="at most 100%"):
        console_table(["a", "b"], [60, 50], label="x", elem_id="x")
