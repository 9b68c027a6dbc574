"""Staff review: filtered search and paging, notes and labels, the handoff queue with staff
replies, FAQ changes made from a conversation, and the console handlers that show them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import gradio as gr
import pytest
from gradio.helpers import special_args

from chatbot.container import Services
from chatbot.staff.actor import LOCAL
from chatbot.staff.review import customer_questions
from chatbot.storage import repositories as repo
from chatbot.storage.review_search import LABELS, ReviewError, ReviewFilters
from chatbot.ui import handoff_queue as hq
from chatbot.ui import review as ui
from chatbot.ui import review_actions as act
from chatbot.ui.events import bind
from knowledge_base.entries import EntryError

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
FAQ_CSV = (
    "id,question,answer\n"
    "refunds,How do I get a refund?,Refunds go back to your card within 5 days.\n"
    "shipping,How long does delivery take?,Delivery takes 3 to 5 working days.\n"
    "hours,When are you open?,We are open 9 to 5 on weekdays.\n"
)


def as_user(name: str) -> gr.Request:
    return gr.Request(username=name)


def add_conversation(
    services: Services,
    when: datetime,
    turns: list[tuple[str, str | None]],
    *,
    answer: str = "Here is what our help articles say.",
    contact: str | None = None,
    language: str | None = None,
) -> str:
    """A stored conversation started at `when`: (customer text, bot decision or None) turns,
    messages a minute apart; `language` is every customer message's."""
    with services.sessions.begin() as s:
        conv = repo.create_conversation(s, "web", turns[0][0])
        conv.created_at = conv.updated_at = when
        at = when
        for text, decision in turns:
            repo.add_user_message(s, conv, text, language=language).created_at = at
            at += timedelta(minutes=1)
            if decision:
                reason = {"answer": "matched", "fallback": "low_score"}.get(decision, "requested")
                bot = repo.add_assistant_message(
                    s,
                    conv.id,
                    content=answer if decision == "answer" else "Sorry, I can't help.",
                    decision=decision,
                    reason=reason,
                    sources=[],
                    latency_ms=10.0,
                    first_token_ms=None,
                )
                if decision == "handoff":  # as the dialogue does on a handoff
                    repo.mark_needs_human(s, conv.id, reason)
                bot.created_at = at
                at += timedelta(minutes=1)
        if contact:
            conv.contact = contact
        return conv.id


def bot_ids(services: Services, conversation_id: str) -> list[int]:
    t = services.conversations.transcript(conversation_id)
    assert t is not None
    return [m.id for m in t.messages if m.role == "assistant"]


@pytest.fixture
def stored(services: Services) -> dict[str, str]:
    """Five conversations on different days with different outcomes, ratings and labels."""
    ids = {
        "refund": add_conversation(
            services, T0, [("I want a REFUND for order 12", "answer"), ("thanks", "answer")]
        ),
        "declined": add_conversation(
            services, T0 + timedelta(days=1), [("Do you sell zebras?", "fallback")]
        ),
        "handoff": add_conversation(
            services,
            T0 + timedelta(days=2),
            [("Where is my parcel?", "fallback"), ("talk to a human", "handoff")],
            contact="jane@example.com",
        ),
        "percent": add_conversation(
            services, T0 + timedelta(days=3), [("Is there 100% cotton_wool?", "answer")]
        ),
        "silent": add_conversation(services, T0 + timedelta(days=4), [("hello?", None)]),
    }
    log = services.conversations
    assert log.rate_message(bot_ids(services, ids["refund"])[0], 1)
    assert log.rate_message(bot_ids(services, ids["declined"])[0], -1, "Didn't answer my question")
    log.set_labels(ids["declined"], ["missing-faq"])
    log.set_labels(ids["refund"], ["good-answer", "resolved"])
    return ids


def found(services: Services, **filters: object) -> list[str]:
    rows, total = services.conversations.search(ReviewFilters(**filters), 1, 50)  # type: ignore[arg-type]
    assert total == len(rows)
    return [r.id for r in rows]


# ---- search --------------------------------------------------------------------------------
def test_search_without_filters_lists_newest_first_with_details(
    services: Services, stored: dict[str, str]
) -> None:
    rows, total = services.conversations.search()
    assert total == 5
    assert [r.id for r in rows] == [
        stored[k] for k in ("silent", "percent", "handoff", "declined", "refund")
    ]
    refund = rows[-1]
    assert (refund.messages, refund.last_decision, refund.thumbs_up, refund.thumbs_down) == (
        4,
        "answer",
        1,
        0,
    )
    assert refund.labels == ("resolved", "good-answer")  # vocabulary order
    assert rows[0].last_decision is None and rows[0].messages == 1
    handoff = rows[2]
    assert handoff.needs_human and not handoff.handled


def test_filters_by_date_outcome_rating_text_and_label(
    services: Services, stored: dict[str, str]
) -> None:
    s = stored
    day = T0.date()
    assert found(services, date_from=day + timedelta(days=1), date_to=day + timedelta(days=2)) == [
        s["handoff"],
        s["declined"],
    ]
    assert found(services, date_to=day) == [s["refund"]]
    assert found(services, date_from=day + timedelta(days=5)) == []

    assert found(services, outcome="answered") == [s["percent"], s["refund"]]
    assert found(services, outcome="declined") == [s["handoff"], s["declined"]]
    assert found(services, outcome="handed off") == [s["handoff"]]
    assert found(services, outcome="needs human") == [s["handoff"]]

    assert found(services, rating="thumbs up") == [s["refund"]]
    assert found(services, rating="thumbs down") == [s["declined"]]
    assert found(services, rating="any rating") == [s["declined"], s["refund"]]

    # Case-insensitive, over every message; % and _ are plain characters.
    assert found(services, text="refund") == [s["refund"]]
    assert found(services, text="  Talk To  ") == [s["handoff"]]
    assert found(services, text="100%") == [s["percent"]]
    assert found(services, text="n_w") == [s["percent"]]
    assert found(services, text="0%c") == []
    assert found(services, text="can't help") == [s["handoff"], s["declined"]]

    assert found(services, label="missing-faq") == [s["declined"]]
    assert found(services, label="resolved") == [s["refund"]]
    assert found(services, label="wrong-answer") == []

    assert found(services, outcome="declined", text="parcel") == [s["handoff"]]
    assert found(services, outcome="declined", rating="thumbs down", label="missing-faq") == [
        s["declined"]
    ]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (ReviewFilters(outcome="great"), "unknown outcome 'great'"),
        (ReviewFilters(rating="5 stars"), "unknown rating '5 stars'"),
        (ReviewFilters(label="urgent"), "unknown label(s) 'urgent'"),
    ],
)
def test_unknown_filter_values_are_refused(
    services: Services, filters: ReviewFilters, message: str
) -> None:
    with pytest.raises(ReviewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        services.conversations.search(filters)


def test_paging_is_newest_first_without_gaps_or_repeats(services: Services) -> None:
    # 45 conversations; some start at the same moment (ties are broken by id).
    ids = [
        add_conversation(services, T0 + timedelta(hours=i // 2), [(f"question {i}", "answer")])
        for i in range(45)
    ]
    pages = [services.conversations.search(None, page, 20) for page in (1, 2, 3, 4)]
    assert [total for _, total in pages] == [45] * 4
    assert [len(rows) for rows, _ in pages] == [20, 20, 5, 0]
    listed = [r for rows, _ in pages for r in rows]
    assert sorted(r.id for r in listed) == sorted(ids)
    keys = [(r.created_at, r.id) for r in listed]
    assert keys == sorted(keys, reverse=True)

    rows, total = services.conversations.search(ReviewFilters(text="question 1"), 2, 5)
    assert total == 11  # "question 1", "question 10" ... "question 19"
    assert len(rows) == 5


# ---- notes, labels, handled, staff replies ------------------------------------------------
def test_notes_and_labels_show_in_the_transcript(
    services: Services, stored: dict[str, str]
) -> None:
    cid = stored["declined"]
    log = services.conversations
    log.add_note(cid, "ann", "Customer wants zebras; we have none.")
    log.add_note(cid, "bob", "Added a FAQ entry about **animals**.")
    assert log.set_labels(cid, ["needs-follow-up", " Missing-FAQ ", "needs-follow-up"]) == (
        "missing-faq",
        "needs-follow-up",
    )
    t = log.transcript(cid)
    assert t is not None
    assert [(n.author, n.text) for n in t.notes] == [
        ("ann", "Customer wants zebras; we have none."),
        ("bob", "Added a FAQ entry about **animals**."),
    ]
    assert t.labels == ("missing-faq", "needs-follow-up")
    md = ui.render_transcript(services, cid)
    assert "Labels: `missing-faq` `needs-follow-up`" in md
    assert "#### Staff notes" in md
    assert "**ann** · " in md and "Added a FAQ entry about \\*\\*animals\\*\\*." in md
    assert "customer 👎 “Didn't answer my question”" in md

    assert log.set_labels(cid, []) == ()
    assert services.conversations.transcript(cid).labels == ()  # type: ignore[union-attr]
    with pytest.raises(ReviewError, match="unknown label\\(s\\) 'spam': choose from wrong-answer"):
        log.set_labels(cid, ["resolved", "spam"])
    with pytest.raises(ReviewError, match="needs some text"):
        log.add_note(cid, "ann", "   ")
    with pytest.raises(ReviewError, match="was not found"):
        log.add_note("nope", "ann", "hello")
    assert set(LABELS) == {
        "wrong-answer",
        "missing-faq",
        "resolved",
        "good-answer",
        "needs-follow-up",
    }


def test_handoff_queue_is_oldest_first_and_mark_handled_removes(services: Services) -> None:
    # Started first, but handed off last.
    late = add_conversation(
        services,
        T0,
        [("q", "answer"), ("q2", "answer"), ("q3", "answer"), ("get me a person", "handoff")],
    )
    early = add_conversation(
        services,
        T0 + timedelta(minutes=1),
        [("I need a human now", "handoff"), ("my email is a@b.example", None)],
        contact="a@b.example",
    )
    add_conversation(services, T0 + timedelta(minutes=2), [("fine thanks", "answer")])

    queue = services.conversations.handoff_queue()
    assert [q.id for q in queue] == [early, late]
    first = queue[0]
    assert first.contact == "a@b.example"
    assert first.handoff_reason == "requested"
    assert first.last_customer_message == "my email is a@b.example"
    assert first.messages == 3
    assert first.waiting_since == T0 + timedelta(minutes=2)
    assert queue[1].last_customer_message == "get me a person"

    services.conversations.mark_handled(early, "ann")
    assert [q.id for q in services.conversations.handoff_queue()] == [late]
    t = services.conversations.transcript(early)
    assert t is not None and t.handled_by == "ann" and t.handled_at is not None
    assert "✅ handled by **ann**" in ui.render_transcript(services, early)
    assert ui.parse_filters("", "", "needs human", "any", "", "any").outcome == "needs human"
    assert found(services, outcome="needs human") == [late]
    assert set(found(services, outcome="handed off")) == {early, late}

    # The customer asks for a person again: back in the queue.
    with services.sessions.begin() as s:
        repo.add_assistant_message(
            s,
            early,
            content="Connecting you.",
            decision="handoff",
            reason="requested",
            sources=[],
            latency_ms=1.0,
            first_token_ms=None,
        )
        repo.mark_needs_human(s, early, "requested")  # as the dialogue does on a handoff
    assert {q.id for q in services.conversations.handoff_queue()} == {early, late}

    fine = found(services, outcome="answered", text="fine thanks")[0]
    with pytest.raises(ReviewError, match="not handed off"):
        services.conversations.mark_handled(fine, "ann")


def test_staff_reply_is_stored_in_the_conversation(services: Services) -> None:
    cid = add_conversation(services, T0, [("talk to a human please", "handoff")])
    message_id = services.conversations.reply_as_staff(cid, "ann", "Hi, Ann here: *refunded*.")
    t = services.conversations.transcript(cid)
    assert t is not None
    last = t.messages[-1]
    assert (last.id, last.role, last.decision, last.reason, last.answer_mode) == (
        message_id,
        "assistant",
        "staff",
        "ann",
        "staff",
    )
    assert last.content == "Hi, Ann here: *refunded*."
    md = ui.render_transcript(services, cid)
    assert "**🧑‍💼 Staff reply** by ann" in md
    assert "Hi, Ann here: \\*refunded\\*." in md
    # The dialogue sees it as part of the conversation.
    with services.sessions() as s:
        assert repo.history(s, cid)[-1] == ("assistant", "Hi, Ann here: *refunded*.")
    with pytest.raises(ReviewError, match="needs some text"):
        services.conversations.reply_as_staff(cid, "ann", " ")


# ---- FAQ from a conversation ---------------------------------------------------------------
@pytest.fixture
def with_faq(services: Services) -> Services:
    result = services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode())
    assert result.ok, result.message
    return services


def test_question_becomes_a_new_phrasing_and_is_found_first(with_faq: Services) -> None:
    question = "My parcel arrived broken, can I get my money back?"
    entry = with_faq.staff.knowledge.add_phrasing(LOCAL, "c", "refunds", question)
    assert entry.questions == ("How do I get a refund?", question)
    assert entry.answer == "Refunds go back to your card within 5 days."
    hit = with_faq.kb.search(question)[0]
    assert (hit.entry_id, hit.kind) == ("refunds", "question")
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)

    with pytest.raises(EntryError, match="no FAQ entry 'missing'"):
        with_faq.staff.knowledge.add_phrasing(LOCAL, "c", "missing", question)


def test_question_becomes_a_new_entry(with_faq: Services) -> None:
    question = "Do you deliver to Iceland?"
    entry = with_faq.staff.knowledge.add_entry_from_conversation(
        LOCAL, "c", question, "Yes, in 7 to 10 days."
    )
    assert entry.entry_id.startswith("manual-do-you-deliver-to-iceland")
    hit = with_faq.kb.search(question)[0]
    assert (hit.entry_id, hit.answer) == (entry.entry_id, "Yes, in 7 to 10 days.")
    with pytest.raises(EntryError, match="needs an answer"):
        with_faq.staff.knowledge.add_entry_from_conversation(LOCAL, "c", "Another question?", "  ")


def test_corrected_answer_is_what_search_returns(with_faq: Services) -> None:
    entry = with_faq.staff.knowledge.correct_answer(
        LOCAL, None, "hours", "We are open 8 to 8, every day."
    )
    assert entry.questions == ("When are you open?",)
    hit = with_faq.kb.search("When are you open?")[0]
    assert (hit.entry_id, hit.answer) == ("hours", "We are open 8 to 8, every day.")


def test_customer_questions_know_the_entry_that_answered(with_faq: Services) -> None:
    answered = with_faq.dialogue.respond("How do I get a refund?")
    list(answered)
    declined = with_faq.dialogue.respond("zebra quantum violin", answered.conversation_id)
    list(declined)
    questions = customer_questions(with_faq.conversations, answered.conversation_id)
    assert [(q.text, q.answered_entry) for q in questions] == [
        ("How do I get a refund?", "refunds"),
        ("zebra quantum violin", None),
    ]
    assert customer_questions(with_faq.conversations, "nope") == []


# ---- languages -----------------------------------------------------------------------------
def test_handoff_queue_shows_and_filters_by_language(services: Services) -> None:
    zh = add_conversation(services, T0, [("转人工", "handoff")], language="zh")
    en = add_conversation(
        services, T0 + timedelta(minutes=1), [("a person please", "handoff")], language="en"
    )
    rows, _, ids, summary, label = hq.refresh_queue(services)
    assert ids == [zh, en]
    assert [r[1] for r in rows] == ["zh (中文)", "en (English)"]
    assert summary == "2 customers waiting for a person, longest waiting first."

    rows, _, ids, summary, label = hq.refresh_queue(services, language="zh")
    assert ids == [zh] and [r[2] for r in rows] == ["转人工"]
    assert summary == "1 customer in zh (中文) waiting for a person, longest waiting first."
    # The tab's label still counts everyone waiting: nobody is hidden behind the filter.
    assert label["label"] == "Handoff queue · 2 customers waiting"
    assert hq.refresh_queue(services, language="all")[2] == [zh, en]
    assert hq.refresh_queue(services, language="de")[3] == (
        "Nobody in de (Deutsch) is waiting for a person."
    )
    # Marking handled keeps the filter.
    *_, ids, summary, label, _ = hq.mark_handled(services, zh, as_user("bob"), language="zh")
    assert ids == [] and label["label"] == "Handoff queue · 1 customer waiting"
    assert [q.id for q in services.conversations.handoff_queue(language="en")] == [en]


def test_customer_messages_keep_their_language_and_the_conversation_follows_the_latest(
    services: Services,
) -> None:
    with services.sessions.begin() as s:
        conv = repo.create_conversation(s, "web", "退货要多久")
        assert conv.language is None
        first = repo.add_user_message(s, conv, "退货要多久", language="zh")
        assert (first.language, conv.language) == ("zh", "zh")
        # Nothing detected (an order number): the conversation keeps its language.
        repo.add_user_message(s, conv, "12345", language=None)
        assert conv.language == "zh"
        repo.add_user_message(s, conv, "thanks", language="en")
        conversation_id = conv.id
    t = services.conversations.transcript(conversation_id)
    assert t is not None and t.language == "en"
    assert [m.language for m in t.messages] == ["zh", None, "en"]
    [summary] = services.conversations.recent()
    assert summary.language == "en"


def test_filter_by_language_lists_only_conversations_in_it(
    services: Services, stored: dict[str, str]
) -> None:
    later = T0 + timedelta(days=5)
    zh = add_conversation(services, later, [("退货要多久", "answer")], language="zh")
    zh_declined = add_conversation(
        services, later + timedelta(days=1), [("运费是多少", "fallback")], language="zh"
    )
    en = add_conversation(
        services, later + timedelta(days=2), [("How long is shipping?", "answer")], language="en"
    )
    assert found(services, language="zh") == [zh_declined, zh]
    assert found(services, language="en") == [en]
    assert found(services, language="de") == []
    assert found(services, language="zh", outcome="declined") == [zh_declined]
    assert len(found(services)) == len(stored) + 3  # no filter: every language, and none
    # The filter's choices: the languages conversations are in, most conversations first.
    assert services.conversations.languages() == ["zh", "en"]


def test_console_shows_languages_and_filters_by_them(
    services: Services, stored: dict[str, str]
) -> None:
    zh = add_conversation(
        services, T0 + timedelta(days=5), [("退货要多久", "answer")], language="zh"
    )
    choices = ui.language_choices(services)
    assert choices["choices"] == [("all", "all"), ("zh (中文)", "zh")]
    assert choices["value"] == "all"
    assert ui.language_choices(services, "zh")["value"] == "zh"
    assert ui.language_choices(services, "ko")["value"] == "all"

    column = ui.CONVERSATION_HEADERS.index("language")
    rows, _, ids, info, _ = ui.search_page(services, "", "", "any", "any", "", "any", 1, None, "zh")
    assert ids == [zh] and rows[0][column] == "zh (中文)"
    assert info == "Page 1 of 1 · conversations 1-1 of 1 (newest first)"
    rows, _, ids, _, _ = ui.first_page(services, "", "", "any", "any", "", "any", 3, None, "all")
    assert len(ids) == len(stored) + 1
    assert rows[ids.index(stored["refund"])][column] == ""  # stored without a language
    *_, ids, _, page = ui.next_page(services, "", "", "any", "any", "", "any", 1, None, "zh")
    assert (ids, page) == ([zh], 1)
    assert ui.parse_filters("", "", "any", "any", "", "any", "zh").language == "zh"
    assert ui.parse_filters("", "", "any", "any", "", "any", "all").language is None

    transcript = ui.render_transcript(services, zh)
    assert "language **zh (中文)**" in transcript
    assert "· zh (中文)" in transcript  # on the customer's message too


# ---- console handlers ----------------------------------------------------------------------
def test_search_page_handler_renders_rows_and_clamps_pages(
    services: Services, stored: dict[str, str]
) -> None:
    rows, dropdown, ids, info, page = ui.search_page(
        services, "", "", "any", "any", "", "any", 1, stored["refund"]
    )
    assert len(rows) == 5 and all(len(r) == len(ui.CONVERSATION_HEADERS) for r in rows)
    assert ids[0] == stored["silent"] and page == 1
    assert info == "Page 1 of 1 · conversations 1-5 of 5 (newest first)"
    assert dropdown["value"] == stored["refund"]
    refund = rows[ids.index(stored["refund"])]
    assert refund[6:] == ["", "👍 1", "resolved, good-answer"]
    declined = rows[ids.index(stored["declined"])]
    assert declined[5:] == ["fallback", "", "👎 1", "missing-faq"]
    assert rows[ids.index(stored["handoff"])][6] == "yes"

    *_, page = ui.next_page(services, "", "", "any", "any", "", "any", 1, None)
    assert page == 1  # there is only one page
    *_, page = ui.previous_page(services, "", "", "any", "any", "", "any", 1, None)
    assert page == 1

    rows, _, ids, info, _ = ui.search_page(
        services, "2025-03-11", "2025-03-11", "declined", "thumbs down", "zebra", "missing-faq"
    )
    assert ids == [stored["declined"]]
    rows, _, ids, info, _ = ui.search_page(services, "", "", "any", "any", "unicorn", "any")
    assert rows == [] and info == "No conversations match."
    rows, _, _, info, _ = ui.search_page(services, "10/03/2025", "", "any", "any", "", "any")
    assert rows == [] and info.startswith("❌ the from date must look like 2025-01-31")


def test_paging_handlers_move_between_pages(services: Services) -> None:
    for i in range(ui.PAGE_SIZE + 3):
        add_conversation(services, T0 + timedelta(minutes=i), [(f"q{i}", "answer")])
    values = ("", "", "any", "any", "", "any")
    rows, _, _, info, page = ui.next_page(services, *values, 1, None)
    assert (len(rows), page) == (3, 2)
    assert info == f"Page 2 of 2 · conversations 21-23 of {ui.PAGE_SIZE + 3} (newest first)"
    rows, _, _, _, page = ui.previous_page(services, *values, 2, None)
    assert (len(rows), page) == (ui.PAGE_SIZE, 1)
    rows, _, _, _, page = ui.search_page(services, *values, 9, None)
    assert (len(rows), page) == (3, 2)
    assert ui.parse_filters("2025-03-10", " ", "any", "thumbs up", " x ", "resolved") == (
        ReviewFilters(date(2025, 3, 10), None, None, "thumbs up", "x", "resolved")
    )


def test_review_panel_handlers_use_the_signed_in_name(with_faq: Services) -> None:
    services = with_faq
    reply = services.dialogue.respond("How do I get a refund?")
    list(reply)
    cid = reply.conversation_id
    labels, question, entry, answer, note, status = act.load_review(services, cid)
    assert labels == [] and note == "" and status == ""
    assert question["value"] == services.conversations.transcript(cid).messages[0].id  # type: ignore[union-attr]
    assert entry["value"] == "refunds" and "refunds" in entry["choices"]
    assert answer == "Refunds go back to your card within 5 days."
    message_id = question["value"]

    status, md = act.save_labels(services, cid, ["good-answer"], request=as_user("ann"))
    assert status == "✅ Labels saved: good-answer." and "Labels: `good-answer`" in md
    status, md, box = act.add_note(services, cid, "Looks right.", request=as_user("ann"))
    assert status == "✅ Note added." and box == "" and "**ann** · " in md
    status, _, box = act.add_note(services, cid, "", request=as_user("ann"))
    assert status.startswith("❌") and box == ""
    assert act.add_note(services, None, "x")[0] == act.NO_CONVERSATION

    status = act.correct_answer(services, cid, "refunds", "Refunds take 3 days.", as_user("ann"))
    assert status.startswith("✅ Saved the corrected answer of `refunds`")
    assert services.kb.search("How do I get a refund?")[0].answer == "Refunds take 3 days."
    assert act.pick_entry(services, "refunds") == "Refunds take 3 days."
    assert act.pick_question(services, cid, message_id)[0]["value"] == "refunds"

    # A second question in the same conversation, added as a phrasing, then as a new entry.
    later = services.dialogue.respond("Can I have my money back?", cid)
    list(later)
    asked = act.load_review(services, cid)[1]["choices"]
    second = asked[1][1]
    status = act.add_phrasing(services, cid, second, "refunds", as_user("ann"))
    assert status.startswith("✅ Added the question to `refunds` (2 phrasings)")
    assert services.kb.search("Can I have my money back?")[0].entry_id == "refunds"
    status, dropdown = act.add_new_entry(services, cid, second, "Ask our team.", as_user("ann"))
    assert status.startswith("✅ Added FAQ entry `manual-can-i-have-my-money-back`")
    assert dropdown["value"] == "manual-can-i-have-my-money-back"
    assert act.add_phrasing(services, cid, None, "refunds") == act.NO_QUESTION
    assert act.add_phrasing(services, cid, second, None) == act.NO_ENTRY
    assert act.add_phrasing(services, cid, second, "nope").startswith("❌ there is no FAQ entry")
    assert act.correct_answer(services, cid, "refunds", "").startswith("❌")

    t = services.conversations.transcript(cid)
    assert t is not None and t.notes[0].author == "ann"
    audit = [(e.actor, e.action, e.target, e.details) for e in services.audit.recent()][::-1]
    assert audit == [
        ("ann", "conversation.labels", cid, "good-answer"),
        ("ann", "conversation.note", cid, ""),
        ("ann", "kb.save_faq_entry", "refunds", f"answer corrected from {cid}"),
        ("ann", "kb.save_faq_entry", "refunds", f"phrasing added from {cid}"),
        ("ann", "kb.save_faq_entry", "manual-can-i-have-my-money-back", f"added from {cid}"),
    ]


def test_handoff_tab_handlers(services: Services) -> None:
    cid = add_conversation(
        services, T0, [("I want a human", "handoff"), ("call me on 555-0100", None)]
    )
    rows, dropdown, ids, summary, label = hq.refresh_queue(services, cid)
    assert ids == [cid] and dropdown["value"] == cid
    assert rows[0][1:] == ["", "I want a human", "requested", "", "call me on 555-0100", 3]
    assert summary == "1 customer waiting for a person, longest waiting first."
    assert label["label"] == "Handoff queue · 1 customer waiting"

    status, md, box = hq.reply(services, cid, "We will call you today.", as_user("bob"))
    assert status.startswith("✅ Reply sent") and box == ""
    assert "Staff reply** by bob" in md and "We will call you today." in md
    status, rows, dropdown, ids, summary, label, md = hq.mark_handled(services, cid, as_user("bob"))
    assert status == "✅ Marked as handled."
    assert rows == [] and ids == [] and summary == hq.EMPTY_QUEUE
    assert label["label"] == "Handoff queue"
    # The handled conversation stays chosen (with its transcript), no longer in the queue.
    assert dropdown["value"] == cid
    assert dropdown["choices"] == [("not waiting any more · I want a human", cid)]
    assert "handled by **bob**" in md
    assert hq.mark_handled(services, None)[0] == act.NO_CONVERSATION
    assert hq.reply(services, cid, "  ", None)[0].startswith("❌")
    t = services.conversations.transcript(cid)
    assert t is not None and t.handled_by == "bob" and t.messages[-1].reason == "bob"
    # Without a signed-in user (a direct call) the agent is "staff".
    assert act.staff_name(None) == "staff"


def test_tabs_build_and_gradio_passes_the_request(services: Services) -> None:
    with gr.Blocks() as demo, gr.Tabs():
        ui.build_review_tab(services, demo)
        hq.build_handoff_tab(services, demo)
    elem_ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert {
        "review-from",
        "review-to",
        "review-outcome",
        "review-rating",
        "review-label",
        "review-search-text",
        "review-conversations",
        "review-prev",
        "review-next",
        "review-page",
        "review-transcript",
        "review-labels",
        "review-note",
        "review-question",
        "review-entry",
        "review-answer",
        "handoff-queue",
        "handoff-reply-text",
        "handoff-handled",
    } <= elem_ids
    request = as_user("ann")
    handlers: list[tuple[Callable[..., object], list[object]]] = [
        (act.save_labels, ["c", []]),
        (act.add_note, ["c", "text"]),
        (act.add_new_entry, ["c", 1, "answer"]),
        (act.add_phrasing, ["c", 1, "e"]),
        (act.correct_answer, ["c", "e", "answer"]),
        (hq.reply, ["c", "text"]),
        (hq.mark_handled, ["c"]),
    ]
    # Handlers that show a transcript also take the browser's time zone, after the request.
    zoned = {act.save_labels, act.add_note, hq.reply, hq.mark_handled}
    # ... and the queue's handlers its language filter, after the zone.
    filtered = {hq.mark_handled}
    for fn, inputs in handlers:
        zone = ["Asia/Shanghai"] if fn in zoned else []
        zone += ["zh"] if fn in filtered else []
        args, *_ = special_args(bind(fn, services), [*inputs, *zone], request=request)  # type: ignore[arg-type]
        assert args == [*inputs, request, *zone], fn.__name__
