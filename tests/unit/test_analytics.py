"""Analytics over a small synthetic set of conversations, and the analytics tab's handlers."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest
from gradio.blocks import BlockFunction

from chatbot.container import Services
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.staff import analytics, export_files
from chatbot.staff.analytics import (
    LanguageCount,
    Outcomes,
    Period,
    QuestionGroup,
    Ratings,
    group_questions,
)
from chatbot.staff.question_groups import group_threshold
from chatbot.ui.analytics import (
    CUSTOM,
    LANGUAGE_HEADERS,
    LAST_7,
    QUESTION_HEADERS,
    add_to_faq,
    build_analytics_tab,
    language_rows,
    pick_group,
    resolve_period,
    show_report,
)
from knowledge_base.embedders import HashEmbedder
from knowledge_base.multilingual import LanguageRoutedEmbedder, UseEmbedder
from tests.unit.conversation_data import Turn, add_conversation, at

PERIOD = Period.between(date(2024, 3, 1), date(2024, 3, 3))


@pytest.fixture
def history(services: Services) -> Services:
    """Five conversations inside 1-3 March 2024 and two just outside it."""
    s = services.sessions
    add_conversation(
        s,
        at("2024-03-01", 10),
        [
            Turn("How do I return an item?", latency_ms=100, first_token_ms=40, rating=1),
            Turn("How long does a refund take?", latency_ms=300, first_token_ms=60, rating=-1),
        ],
    )
    add_conversation(
        s,
        at("2024-03-01", 15),
        [
            Turn("Do you ship to Canada?", "fallback", latency_ms=200, first_token_ms=20),
            Turn(
                "Do you ship to Canada",
                "handoff",
                reason="repeated_declines",
                latency_ms=400,
                first_token_ms=30,
            ),
        ],
    )
    add_conversation(
        s,
        at("2024-03-02"),
        [Turn("How do I return an item", latency_ms=500, first_token_ms=70, rating=1)],
    )
    add_conversation(
        s,
        at("2024-03-03"),
        [
            Turn("talk to a human", "handoff", latency_ms=10, first_token_ms=5),
            # The contact confirmation answers no question: counted nowhere.
            Turn("my email is [email]", "handoff", reason="contact", latency_ms=1),
        ],
    )
    add_conversation(
        s,
        at("2024-03-03", 18),
        [
            Turn("Do you deliver to Canada?", "fallback", latency_ms=600, first_token_ms=80),
            Turn("How do I return an item?", status="error", latency_ms=700, rating=-1),
        ],
    )
    # Outside the period: the evening before, and the first second after it.
    add_conversation(s, at("2024-02-29", 23), [Turn("Do you ship to Canada?", "fallback")])
    add_conversation(s, at("2024-03-04", 0), [Turn("How do I return an item?")])
    return services


def report(services: Services, **kwargs: object) -> analytics.AnalyticsReport:
    return analytics.build_report(
        services.sessions,
        services.kb.embedder,
        PERIOD,
        **kwargs,  # type: ignore[arg-type]
    )


# ---- periods ----------------------------------------------------------------------------
def test_period_last_days_is_whole_utc_days_ending_today() -> None:
    period = Period.last_days(7, today=date(2024, 3, 10))
    assert period.start == datetime(2024, 3, 4, tzinfo=UTC)
    assert period.end == datetime(2024, 3, 11, tzinfo=UTC)
    assert len(period.days()) == 7


def test_period_between_includes_both_days_and_rejects_reversed() -> None:
    assert PERIOD.days() == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    assert PERIOD.end == datetime(2024, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError):
        Period.between(date(2024, 3, 3), date(2024, 3, 1))
    naive = Period(datetime(2024, 1, 1), datetime(2024, 1, 2))
    assert naive.start.tzinfo is UTC


# ---- numbers ----------------------------------------------------------------------------
def test_conversations_and_messages_per_day(history: Services) -> None:
    r = report(history)
    assert [(d.day.isoformat(), d.conversations, d.messages) for d in r.per_day] == [
        ("2024-03-01", 2, 8),
        ("2024-03-02", 1, 2),
        ("2024-03-03", 2, 8),
    ]
    assert (r.conversations, r.messages) == (5, 18)


def test_outcome_shares_among_bot_answers(history: Services) -> None:
    outcomes = report(history).outcomes
    assert outcomes == Outcomes(answered=3, declined=2, handed_off=2, errors=1)
    assert outcomes.total == 8
    shares = outcomes.shares()
    assert shares["answered"] == pytest.approx(3 / 8)
    assert shares["declined"] == pytest.approx(2 / 8)
    assert shares["handed off"] == pytest.approx(2 / 8)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_rating_ratio(history: Services) -> None:
    ratings = report(history).ratings
    assert ratings == Ratings(up=2, down=2)
    assert ratings.positive_share == pytest.approx(0.5)
    assert Ratings().positive_share is None


def test_latency_percentiles_over_completed_answers(history: Services) -> None:
    r = report(history)
    # Completed answers (no error, no contact confirmation): 10 100 200 300 400 500 600.
    assert r.latency_ms.count == 7
    assert r.latency_ms.p50 == pytest.approx(300)
    assert r.latency_ms.p95 == pytest.approx(570)  # linear between 500 and 600
    assert r.first_token_ms.count == 7
    assert r.first_token_ms.p50 == pytest.approx(40)
    assert r.first_token_ms.p95 == pytest.approx(77)


def test_customer_questions_skip_contact_details_and_cap_newest_first(
    history: Services,
) -> None:
    with history.sessions() as s:
        asked = analytics.customer_questions(s, PERIOD)
        newest = analytics.customer_questions(s, PERIOD, limit=2)
        unanswered = analytics.customer_questions(s, PERIOD, unanswered=True)
    assert len(asked) == 8 and "my email is [email]" not in asked
    assert newest == ["How do I return an item?", "Do you deliver to Canada?"]
    # Declined, or handed off after declines; not the request for a person, not the error.
    assert sorted(unanswered) == [
        "Do you deliver to Canada?",
        "Do you ship to Canada",
        "Do you ship to Canada?",
    ]


def test_top_questions_and_unanswered_are_grouped_by_meaning(history: Services) -> None:
    r = report(history)
    top = [(g.count, g.representative.rstrip("?")) for g in r.top_questions]
    assert top[:2] == [(3, "Do you ship to Canada"), (3, "How do I return an item")]
    assert sum(g.count for g in r.top_questions) == 8
    [unanswered] = r.top_unanswered
    assert unanswered.count == 3
    assert unanswered.representative.rstrip("?") == "Do you ship to Canada"
    assert unanswered.examples == ["Do you deliver to Canada?"]


def test_grouping_threshold_is_a_parameter(history: Services) -> None:
    strict = report(history, threshold=0.99)
    assert sorted(g.count for g in strict.top_unanswered) == [1, 2]


def test_empty_period_reports_zeros(services: Services) -> None:
    r = report(services)
    assert r.conversations == 0 and r.outcomes.total == 0
    assert r.outcomes.shares()["answered"] == 0
    assert r.latency_ms.p50 is None and r.first_token_ms.count == 0
    assert r.top_questions == [] and r.top_unanswered == []


def test_turns_from_the_dialogue_manager_are_counted(
    services: Services, generator: ScriptedGenerator
) -> None:
    csv = "id,question,answer\nacct-reset,How do I reset my password?,Use Forgot password.\n"
    services.kb.ingest_bytes("faq.csv", csv.encode())
    before = datetime.now(UTC).date()
    for question in ("How do I reset my password?", "What is the capital of Mongolia?"):
        reply = services.dialogue.respond(question)
        "".join(reply)
    after = datetime.now(UTC).date()
    # Today's report; yesterday's too when the turns were stored on both sides of midnight.
    days = 1 + (after - before).days
    period = Period.last_days(days, today=after)
    r = analytics.build_report(services.sessions, services.kb.embedder, period)
    assert r.outcomes.answered == 1 and r.outcomes.declined == 1
    assert r.latency_ms.count == 2 and r.latency_ms.p50 is not None
    assert [g.representative for g in r.top_unanswered] == ["What is the capital of Mongolia?"]


# ---- grouping ---------------------------------------------------------------------------
def test_group_questions_groups_paraphrases_with_a_central_representative() -> None:
    questions = [
        "How do I reset my password?",
        "How do I reset my password",
        "how do i reset my password?",
        "How do I reset my own password?",
        "How do I reset my password please?",
        "Please, how do I reset my password?",
        "How do I reset my password now?",
        "Do gift cards expire?",
        "Do gift cards ever expire?",
        "Where is my parcel?",
    ]
    groups = group_questions(questions, HashEmbedder(), top=10)
    password, gift, parcel = groups
    assert password.count == 7
    assert password.representative == "How do I reset my password?"  # most common wording
    assert len(password.examples) == 3  # capped
    assert "how do i reset my password?" not in password.examples  # same wording, counted
    assert (gift.count, parcel.count) == (2, 1)
    assert gift.representative in {"Do gift cards expire?", "Do gift cards ever expire?"}
    assert parcel == QuestionGroup(1, "Where is my parcel?", [])
    assert group_questions(questions, HashEmbedder(), top=1) == [password]
    assert group_questions(["  ", ""], HashEmbedder()) == []


# ---- languages ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def routed() -> LanguageRoutedEmbedder:
    """What the knowledge base uses: an English model (here the hash embedder) joined with
    the real multilingual USE model."""
    return LanguageRoutedEmbedder(HashEmbedder(), UseEmbedder())


def test_questions_are_grouped_across_languages(routed: LanguageRoutedEmbedder) -> None:
    questions = [
        "如何重置密码",
        "我怎么重置密码？",
        "How do I reset my password?",
        "How do I reset my password please?",
        "How do I reset my password?",
        "Where is my order?",
        "我的订单在哪里",
        "Do gift cards expire?",
        "Can I pay with a gift card?",
    ]
    groups = group_questions(questions, routed)
    as_sets = [(g.count, set(g.questions)) for g in groups]
    assert as_sets[0] == (5, set(questions[:4]))
    assert as_sets[1] == (2, {"Where is my order?", "我的订单在哪里"})
    # Two English questions are compared by the English model, which tells these apart
    # (the multilingual one alone scores them close).
    assert sorted(as_sets[2:], key=str) == [
        (1, {"Can I pay with a gift card?"}),
        (1, {"Do gift cards expire?"}),
    ]
    # Without the multilingual model the Chinese wordings have nothing in common with the
    # English ones.
    english_only = group_questions(questions, HashEmbedder())
    assert all(len(g.questions) < 4 for g in english_only)


def test_report_groups_chinese_and_english_and_counts_questions_per_language(
    services: Services, routed: LanguageRoutedEmbedder
) -> None:
    s = services.sessions
    add_conversation(
        s,
        at("2024-03-01"),
        [Turn("如何重置密码", language="zh"), Turn("我的订单在哪里", "fallback", language="zh")],
    )
    add_conversation(
        s, at("2024-03-02"), [Turn("How do I reset my password?", "fallback", language="en")]
    )
    # Stored before languages were recorded: counted as unknown, grouped all the same.
    add_conversation(s, at("2024-03-03"), [Turn("Wie setze ich mein Passwort zurück?")])
    r = analytics.build_report(s, routed, PERIOD)
    top, order = r.top_questions
    assert (top.count, set(top.questions)) == (
        3,
        {"如何重置密码", "How do I reset my password?", "Wie setze ich mein Passwort zurück?"},
    )
    assert order == QuestionGroup(1, "我的订单在哪里", [])
    assert r.languages == [
        LanguageCount("zh", 2, 1),
        LanguageCount("en", 1, 1),
        LanguageCount(None, 1, 0),
    ]
    assert language_rows(r) == [
        ["zh (中文)", 2, "50%", 1],
        ["en (English)", 1, "25%", 1],
        ["unknown", 1, "25%", 0],
    ]
    assert len(language_rows(r)[0]) == len(LANGUAGE_HEADERS)


def test_the_multilingual_model_groups_on_its_own_scale(routed: LanguageRoutedEmbedder) -> None:
    # Its translations score lower than the English models' paraphrases.
    assert group_threshold(routed.multilingual) < analytics.DEFAULT_GROUP_THRESHOLD
    assert group_threshold(routed.english) == analytics.DEFAULT_GROUP_THRESHOLD


# ---- the tab ----------------------------------------------------------------------------
def test_resolve_period() -> None:
    before = datetime.now(UTC).date()
    last_7 = resolve_period(LAST_7).days()
    after = datetime.now(UTC).date()
    # Ending today, whichever side of midnight "today" was read.
    assert len(last_7) == 7 and last_7[-1] in {before, after}
    assert resolve_period(CUSTOM, "2024-03-01", "2024-03-03") == PERIOD
    with pytest.raises(ValueError, match="choose the from date"):
        resolve_period(CUSTOM, None, "2024-03-03")
    with pytest.raises(ValueError, match="not a date"):
        resolve_period(CUSTOM, "March", "2024-03-03")


def test_show_report_fills_plots_tables_and_the_faq_picker(history: Services) -> None:
    (summary, per_day, outcomes, timings, languages, top, unanswered, groups, picker) = show_report(
        history, CUSTOM, "2024-03-01", "2024-03-03"
    )
    assert "5 conversations, 18 messages, 8 bot answers" in summary
    assert "👍 2 · 👎 2 (50% positive)" in summary
    assert isinstance(per_day, pd.DataFrame) and list(per_day.columns) == [
        "day",
        "series",
        "count",
    ]
    assert len(per_day) == 6
    shares = dict(zip(outcomes["outcome"], outcomes["share (%)"], strict=True))
    assert shares["answered"] == 37.5 and shares["handed off"] == 25.0
    assert timings[0] == ["full answer", "300", "570", 7]
    # These messages were stored without a language (as before languages were recorded).
    assert languages == [["unknown", 8, "100%", 3]]
    assert len(top[0]) == len(QUESTION_HEADERS)
    assert unanswered[0][:2] == [1, 3]
    assert len(groups) == 1 and picker["choices"] == [
        (f"1. {groups[0].representative} (asked 3 times)", "0")
    ]
    error = show_report(history, CUSTOM, "2024-03-05", "2024-03-01")
    assert error[0].startswith("❌")


def test_add_unanswered_group_to_faq_answers_it_at_once(history: Services) -> None:
    *_, groups, _ = show_report(history, CUSTOM, "2024-03-01", "2024-03-03")
    questions = pick_group(groups, "0")
    assert questions.splitlines()[1] == "Do you deliver to Canada?"
    no_answer = add_to_faq(history, groups, "0", questions, "")
    assert no_answer == "Type the answer customers should get."
    assert add_to_faq(history, groups, None, "", "We ship worldwide.").startswith("Choose")
    message = add_to_faq(history, groups, "0", questions, "Yes, we ship to Canada.")
    assert message.startswith("✅ Added `"), message
    hits = history.kb.search("Do you ship to Canada?", k=1)
    assert hits and hits[0].answer == "Yes, we ship to Canada."
    [entry] = history.audit.recent(1)
    assert (entry.actor, entry.action) == ("local", "kb.save_faq_entry")


def tab_event(blocks: gr.Blocks, fn_name: str, trigger: str) -> BlockFunction:
    [event] = [
        fn
        for fn in blocks.fns.values()
        if getattr(fn.fn, "__name__", None) == fn_name and trigger in [t[1] for t in fn.targets]
    ]
    return event


def test_opening_the_tab_shows_the_last_7_days_and_old_exports_are_swept(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tab as wired: selecting it (and its Show button) reports the period its picker
    starts with, the last 7 days, one value per output; building it removes the exports a
    stopped server left behind in Gradio's upload folder."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # Gradio's upload folder
    root = export_files.exports_root(tmp_path)
    left_behind, _ = export_files.open_export(root, "old.csv")
    recent, _ = export_files.open_export(root, "recent.csv")
    long_ago = time.time() - services.settings.privacy.export_keep_seconds - 60
    os.utime(left_behind.parent, (long_ago, long_ago))
    # Three days ago is inside the last 7 days and ten days ago outside, whichever side of
    # midnight the report reads "today".
    now = datetime.now(UTC)
    add_conversation(services.sessions, now - timedelta(days=3), [Turn("Do you ship to Canada?")])
    add_conversation(services.sessions, now - timedelta(days=10), [Turn("Too old to count")])

    with gr.Blocks() as console, gr.Tabs():
        tab = build_analytics_tab(services)
    assert isinstance(tab, gr.Tab)
    assert not left_behind.exists() and recent.exists()

    for event in (
        tab_event(console, "show_report", "select"),
        tab_event(console, "show_report", "click"),
    ):
        period, first, last = event.inputs
        assert isinstance(period, gr.Radio) and isinstance(first, gr.DateTime)
        assert isinstance(last, gr.DateTime) and event.fn is not None
        assert [period.label, first.label, last.label] == ["Period", "From", "To"]
        assert (period.value, first.value, last.value) == (LAST_7, None, None)
        shown = event.fn(period.value, first.value, last.value)
        assert len(shown) == len(event.outputs)
        summary = shown[0]
        assert "1 conversation, 2 messages, 1 bot answer" in summary, summary
        assert shown[5][0][2] == "Do you ship to Canada?"  # the top question's wording


def test_the_last_day_boundary_is_exclusive(services: Services) -> None:
    end = datetime(2024, 3, 4, tzinfo=UTC)
    add_conversation(services.sessions, end - timedelta(microseconds=1), [Turn("late one")])
    add_conversation(services.sessions, end, [Turn("next day")])
    with services.sessions() as s:
        assert analytics.customer_questions(s, PERIOD) == ["late one"]
