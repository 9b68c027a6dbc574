"""Customer feedback: thumbs up / down (with a reason) on each bot answer in the chat, stored on
the message, shown in the transcript and usable as a review filter."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.helpers import special_args

from chatbot.container import Services
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.storage.review_search import ReviewFilters
from chatbot.ui import build_chat_page
from chatbot.ui.chat import (
    FEEDBACK_OPTIONS,
    NOTHING_TO_RESTORE,
    STAFF_PREFIX,
    ChatMessage,
    chat_turn,
    check_for_staff_replies,
    feedback_rating,
    load_conversation,
    record_feedback,
    restore_conversation,
)
from chatbot.ui.events import bind
from chatbot.ui.render import customer_text
from chatbot.ui.review import render_transcript

FAQ_CSV = (
    "id,question,answer\n"
    "refunds,How do I get a refund?,Refunds go back to your card within 5 days.\n"
    "shipping,How long does delivery take?,Delivery takes 3 to 5 working days.\n"
)


@pytest.fixture
def loaded(services: Services, generator: ScriptedGenerator) -> Services:
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    generator.replies = ["Delivery takes 3 to 5 working days."]
    return services


def like(index: int, liked: bool | str) -> gr.LikeData:
    """What Gradio passes for a click on message `index`'s thumbs (or a reason option)."""
    return gr.LikeData(None, {"index": index, "value": ["..."], "liked": liked})


# The chat's per-session values: history, conversation id, message ids.
State = tuple[list[ChatMessage], str | None, list[int | None]]
NEW: State = ([], None, [])


def turn(
    services: Services, text: str, state: State
) -> tuple[list[ChatMessage], str, list[int | None]]:
    history, conversation_id, ids = state
    steps = list(chat_turn(services, text, history, conversation_id, ids))
    history, kept, conversation_id, _, ids = steps[-1]
    assert kept == history  # the server's copy is what the customer sees
    assert len(ids) == len(history) and conversation_id
    return history, conversation_id, ids


def ratings(services: Services, conversation_id: str) -> list[tuple[int | None, str | None]]:
    t = services.conversations.transcript(conversation_id)
    assert t is not None
    return [(m.rating, m.rating_reason) for m in t.messages if m.role == "assistant"]


def test_reply_carries_the_stored_message_id(loaded: Services) -> None:
    reply = loaded.dialogue.respond("How do I get a refund?")
    assert reply.message_id is None
    list(reply)
    t = loaded.conversations.transcript(reply.conversation_id)
    assert t is not None
    assert reply.message_id == t.messages[-1].id and t.messages[-1].role == "assistant"


def test_chat_keeps_one_message_id_per_bubble(loaded: Services) -> None:
    state = NEW
    steps = list(chat_turn(loaded, "How do I get a refund?", [], None, []))
    assert [s[4] for s in steps[:-1]] == [[None, None]] * (len(steps) - 1)  # while streaming
    state = turn(loaded, "How do I get a refund?", state)
    history, conversation_id, ids = turn(loaded, "", state)  # an unstored prompt
    assert ids[-1] is None
    history, conversation_id, ids = turn(loaded, "How long does delivery take?", state)
    t = loaded.conversations.transcript(conversation_id)
    assert t is not None
    stored = [m.id for m in t.messages if m.role == "assistant"]
    assert ids == [None, stored[0], None, stored[1]]
    # Ids drifted from the history (e.g. an old client state): padded, never misaligned.
    steps = list(chat_turn(loaded, "thanks", history, conversation_id, None))
    assert steps[-1][4][:4] == [None] * 4


def test_thumbs_and_reasons_are_stored_and_can_be_taken_back(loaded: Services) -> None:
    history, cid, ids = turn(loaded, "How do I get a refund?", NEW)
    history, cid, ids = turn(loaded, "How long does delivery take?", (history, cid, ids))

    record_feedback(loaded, ids, cid, like(1, True))
    record_feedback(loaded, ids, cid, like(3, False))
    assert ratings(loaded, cid) == [(1, None), (-1, None)]

    record_feedback(loaded, ids, cid, like(3, "Wrong answer"))
    assert ratings(loaded, cid) == [(1, None), (-1, "Wrong answer")]
    record_feedback(loaded, ids, cid, like(1, ""))  # clicked again: taken back
    assert ratings(loaded, cid) == [(None, None), (-1, "Wrong answer")]
    record_feedback(loaded, ids, cid, like(3, True))  # changed their mind: reason dropped
    assert ratings(loaded, cid) == [(None, None), (1, None)]

    # A customer message, a position past the end, or another conversation's message: ignored.
    record_feedback(loaded, ids, cid, like(0, False))
    record_feedback(loaded, ids, cid, like(9, False))
    _, other, other_ids = turn(loaded, "How do I get a refund?", NEW)
    record_feedback(loaded, other_ids, cid, like(1, False))
    assert ratings(loaded, cid) == [(None, None), (1, None)]
    assert ratings(loaded, other) == [(None, None)]


def test_feedback_options_map_to_ratings() -> None:
    assert FEEDBACK_OPTIONS[:2] == ("Like", "Dislike")
    assert feedback_rating(True) == (1, None)
    assert feedback_rating(False) == (-1, None)
    assert feedback_rating("Didn't answer my question") == (-1, "Didn't answer my question")
    assert feedback_rating("") == (None, None)


def test_ratings_show_in_the_transcript_and_filter_the_review(loaded: Services) -> None:
    _, liked, liked_ids = turn(loaded, "How do I get a refund?", NEW)
    _, disliked, disliked_ids = turn(loaded, "How long does delivery take?", NEW)
    _, unrated, _ = turn(loaded, "How do I get a refund?", NEW)
    record_feedback(loaded, liked_ids, liked, like(1, True))
    record_feedback(loaded, disliked_ids, disliked, like(1, "Hard to understand"))

    assert "customer 👍" in render_transcript(loaded, liked)
    assert "customer 👎 “Hard to understand”" in render_transcript(loaded, disliked)
    assert "customer 👍" not in render_transcript(loaded, unrated)

    def ids(rating: str) -> list[str]:
        rows, _ = loaded.conversations.search(ReviewFilters(rating=rating))
        return [r.id for r in rows]

    assert ids("thumbs up") == [liked]
    assert ids("thumbs down") == [disliked]
    assert ids("any rating") == [disliked, liked]


def test_rate_message_checks_its_input(loaded: Services) -> None:
    _, cid, _ = turn(loaded, "How do I get a refund?", NEW)
    t = loaded.conversations.transcript(cid)
    assert t is not None
    user_id, bot_id = t.messages[0].id, t.messages[1].id
    assert not loaded.conversations.rate_message(user_id, 1)
    assert not loaded.conversations.rate_message(10_000, 1)
    assert not loaded.conversations.rate_message(bot_id, 1, conversation_id="other")
    with pytest.raises(ValueError, match="a rating is"):
        loaded.conversations.rate_message(bot_id, 5)
    assert loaded.conversations.rate_message(bot_id, -1, "  " + "x" * 900)
    assert ratings(loaded, cid) == [(-1, "x" * 500)]


def test_customer_sees_staff_replies_after_checking(loaded: Services) -> None:
    history, cid, ids = turn(loaded, "talk to a human", NEW)
    loaded.conversations.reply_as_staff(cid, "ann", "Hi, Ann here. [Click](http://x.example)")
    history, ids = load_conversation(loaded, cid)
    assert [m["role"] for m in history] == ["user", "assistant", "assistant"]
    assert history[-1]["content"].startswith(STAFF_PREFIX)
    assert "\\[Click\\](http://x.example)" in history[-1]["content"]
    assert ids[0] is None and all(isinstance(i, int) for i in ids[1:])
    assert load_conversation(loaded, None) == ([], [])


def test_staff_replies_reach_the_open_page_by_themselves(loaded: Services) -> None:
    history, cid, ids = turn(loaded, "talk to a human", NEW)
    skipped = check_for_staff_replies(loaded, cid, history, ids)
    assert all(isinstance(x, dict) and x.get("__type__") == "update" for x in skipped)
    assert check_for_staff_replies(loaded, None, [], []) == skipped  # no conversation yet

    first = loaded.conversations.reply_as_staff(cid, "ann", "Hi, Ann here.")
    assert loaded.conversations.staff_reply_ids(cid) == [first]
    shown, shown_ids = check_for_staff_replies(loaded, cid, history, ids)
    assert shown[:-1] == history  # the page's chat, with the reply added
    assert shown[-1]["content"] == f"{STAFF_PREFIX}\n\nHi, Ann here."
    assert len(shown_ids) == len(shown) == len(history) + 1
    assert shown_ids[-1] == first
    # Once shown, later ticks change nothing, also after the customer's next turn.
    assert check_for_staff_replies(loaded, cid, shown, shown_ids) == skipped
    history, cid, ids = turn(loaded, "How long does delivery take?", (shown, cid, shown_ids))
    assert check_for_staff_replies(loaded, cid, history, ids) == skipped
    loaded.conversations.reply_as_staff(cid, "ann", "Anything else?")
    shown, _ = check_for_staff_replies(loaded, cid, history, ids)
    assert [m["content"] for m in shown][-3] == customer_text("How long does delivery take?")
    assert "Delivery takes 3 to 5 working days." in shown[-2]["content"]  # with its sources
    assert shown[-1]["content"].endswith("Anything else?")
    assert loaded.conversations.staff_reply_ids("no-such-conversation") == []


def test_a_reloaded_page_gets_its_conversation_back(loaded: Services) -> None:
    _history, cid, ids = turn(loaded, "How long does delivery take?", NEW)
    restored, kept, restored_cid, restored_ids = restore_conversation(
        loaded, loaded.tokens.mint(cid)
    )
    assert restored_cid == cid and kept == restored
    question, answer = (m["content"] for m in restored)
    assert question == customer_text("How long does delivery take?")
    # The answer with the citation it was shown with.
    assert answer.startswith("Delivery takes 3 to 5 working days.\n\n---\n**Sources**")
    assert restored_ids == [None, ids[-1]]
    # Nothing saved, or a conversation that is gone (purged): a fresh start, the page left
    # as it is (a message sent meanwhile stays on screen).
    assert restore_conversation(loaded, None) == NOTHING_TO_RESTORE
    gone = loaded.tokens.mint("no-such-conversation")
    assert restore_conversation(loaded, gone) == NOTHING_TO_RESTORE
    # A plain or forged id is not a way into someone else's conversation.
    assert restore_conversation(loaded, cid) == NOTHING_TO_RESTORE
    assert restore_conversation(loaded, f"{cid}.forged") == NOTHING_TO_RESTORE
    assert restore_conversation(loaded, {"id": cid}) == NOTHING_TO_RESTORE  # type: ignore[arg-type]


def test_chat_page_wires_the_like_event(services: Services) -> None:
    page = build_chat_page(services)
    bots = [b for b in page.blocks.values() if isinstance(b, gr.Chatbot)]
    assert len(bots) == 1
    assert getattr(bots[0], "likeable", False)
    assert tuple(bots[0].feedback_options or ()) == FEEDBACK_OPTIONS
    assert bots[0].group_consecutive_messages is False  # one like index per message
    # The timer brings staff replies: no "Check for replies" button to wonder about.
    assert "chat-reload" not in {getattr(b, "elem_id", None) for b in page.blocks.values()}
    assert bots[0].buttons == ["copy"]  # no "share" to Hugging Face, no "copy all"
    assert any(isinstance(b, gr.Timer) for b in page.blocks.values())
    assert any(isinstance(b, gr.BrowserState) for b in page.blocks.values())
    # Gradio fills in the LikeData for the bound handler.
    data = like(1, True)
    args, _, event_index, _ = special_args(
        bind(record_feedback, services), [[None, 5], "c"], event_data=data
    )
    assert event_index == 2 and args[2].liked is True and args[2].index == 1
