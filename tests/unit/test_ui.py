"""The Gradio UI handlers, called directly (no browser, no server)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import gradio as gr
import pytest
from gradio.blocks import BlockFunction

from chatbot.container import Services
from chatbot.dialogue.manager import PROMPT_FOR_QUESTION
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.ui import build_chat_page
from chatbot.ui.chat import (
    MASKED_NOTE,
    TYPING,
    ChatMessage,
    chat_turn,
    new_conversation,
    poll_staff_replies,
    restore_conversation,
    show_staff_replies,
)
from chatbot.ui.documents import DOCUMENT_HEADERS
from chatbot.ui.knowledge import delete_document, upload_files
from chatbot.ui.render import customer_text, md_escape
from chatbot.ui.review import (
    CONVERSATION_HEADERS,
    conversations_table,
    render_transcript,
    select_row,
)
from chatbot.ui.transcript import SCORE_NOTE

QUESTION = "How do I reset my password?"
ANSWER = "Click Forgot password on the sign-in page and follow the emailed link."
DELIVERY = "Delivery takes 3 to 5 working days."
FAQ_CSV = (
    "id,question,answer,url\n"
    f'acct-reset,{QUESTION},"{ANSWER}",https://help.example/reset\n'
    f'ship-time,How long does delivery take?,"{DELIVERY}",\n'
)


@pytest.fixture
def faq_file(tmp_path: Path) -> Path:
    path = tmp_path / "uploads" / "faq.csv"
    path.parent.mkdir()
    path.write_text(FAQ_CSV, encoding="utf-8")
    return path


@pytest.fixture
def loaded(services: Services, faq_file: Path, generator: ScriptedGenerator) -> Services:
    """Services with faq.csv ingested; the generator answers from it (then repeats the last)."""
    generator.replies = [ANSWER, DELIVERY]
    report, _ = upload_files(services, [str(faq_file)])
    assert report.startswith("✅ faq.csv: 4 passages added"), report
    return services


Turn = tuple[list[ChatMessage], str | None, str]


def run_turn(
    services: Services, message: str | None, history: list[ChatMessage], conversation_id: str | None
) -> list[Turn]:
    """The chat handler's steps without the message ids (tests/unit/test_feedback.py)."""
    steps = chat_turn(services, message, history, conversation_id)
    return [(h, c, b) for h, _kept, c, b, _ in steps]


def test_chat_page_returns_blocks_without_launching(services: Services) -> None:
    app = build_chat_page(services)
    assert isinstance(app, gr.Blocks)
    assert app.title == "Support chat"
    assert not app.is_running


def test_chat_turn_streams_answer_with_sources_and_reuses_conversation(loaded: Services) -> None:
    steps = run_turn(loaded, QUESTION, [], None)
    assert len(steps) > 2
    first_history, first_id, first_box = steps[0]
    # The typing indicator: an empty bot message that makes Gradio show its typing dots.
    # The customer's message as plain text (chatbot.ui.render.customer_text).
    assert first_history == [{"role": "user", "content": customer_text(QUESTION)}, TYPING]
    assert first_id is None and first_box == ""
    partials = [h[-1]["content"] for h, _, _ in steps[1:-1]]
    assert all(len(a) < len(b) for a, b in itertools.pairwise(partials))
    # Once the message is taken the box is left alone: what the customer types meanwhile
    # stays there, to be sent when this answer is complete.
    assert all(b == gr.skip() for _, _, b in steps[1:])

    history, conversation_id, _ = steps[-1]
    assert conversation_id
    reply = history[-1]["content"]
    assert ANSWER in reply
    answer_part, sources = reply.split("**Sources**")
    assert ANSWER in answer_part
    # A clean citation: the title, linked; no entry id, file name, score or snippet.
    assert sources.strip().splitlines()[-1] == (
        "1. [How do I reset my password?](https://help.example/reset)"
    )
    assert "acct-reset" not in sources and "faq.csv" not in sources
    assert not re.search(r"0\.\d\d", sources)

    second = run_turn(loaded, "How long does delivery take?", history, conversation_id)
    history2, conversation_id2, _ = second[-1]
    assert conversation_id2 == conversation_id
    assert [m["role"] for m in history2] == ["user", "assistant", "user", "assistant"]
    assert "3 to 5 working days" in history2[-1]["content"]

    transcript = loaded.conversations.transcript(conversation_id)
    assert transcript is not None
    assert [m.role for m in transcript.messages] == ["user", "assistant"] * 2
    assert len(loaded.conversations.recent()) == 1


def test_staff_reply_timer_sets_only_its_state_and_only_when_a_reply_arrived(
    loaded: Services,
) -> None:
    """The timer's event never has the chat as output (that would end the typing dots of a
    running turn): it sets a State, whose change event then updates the chat."""
    steps = list(chat_turn(loaded, "talk to a human", [], None, []))
    _, history, conversation_id, _, ids = steps[-1]
    skip = gr.skip()
    assert poll_staff_replies(loaded, None, []) == skip
    assert poll_staff_replies(loaded, conversation_id, ids) == skip
    reply_id = loaded.conversations.reply_as_staff(conversation_id, "ann", "Hi, Ann here.")
    update = poll_staff_replies(loaded, conversation_id, ids)
    chat, kept, new_ids = show_staff_replies(update, history, ids)
    assert chat == kept and chat[:-1] == history
    assert chat[-1]["content"].endswith("Hi, Ann here.") and new_ids[-1] == reply_id
    assert poll_staff_replies(loaded, conversation_id, new_ids) == skip  # shown: no change
    assert show_staff_replies(None, history, ids) == (skip, skip, skip)
    # Shown meanwhile (a second tick): not added twice.
    assert show_staff_replies(update, chat, new_ids) == (chat, chat, new_ids)


PERSONAL = "talk to a human, my email is jane.doe@example.com"


def test_a_staff_reply_leaves_the_customers_own_words_on_their_screen(loaded: Services) -> None:
    steps = list(chat_turn(loaded, PERSONAL, [], None, []))
    _, history, cid, _, ids = steps[-1]
    assert cid is not None
    assert history[0]["content"] == customer_text(PERSONAL)
    assert "jane.doe\\@example.com" in history[1]["content"]  # the confirmation, as shown
    loaded.conversations.reply_as_staff(cid, "ann", "Hi, Ann here.")
    chat, _, _ = show_staff_replies(poll_staff_replies(loaded, cid, ids), history, ids)
    assert chat[:2] == history and chat[-1]["content"].endswith("Hi, Ann here.")
    # Storage holds the address masked; the contact, for staff, holds it as typed.
    view = loaded.conversations.transcript(cid)
    assert view is not None and view.contact == "jane.doe@example.com"
    assert view.messages[0].content == "talk to a human, my email is [email]"


def test_a_reloaded_page_says_why_the_customers_details_read_masked(loaded: Services) -> None:
    _, _, cid, _, ids = list(chat_turn(loaded, PERSONAL, [], None, []))[-1]
    restored, kept, restored_cid, restored_ids = restore_conversation(
        loaded, loaded.tokens.mint(cid), "en"
    )
    assert restored_cid == cid and kept == restored
    assert restored[0] == {"role": "assistant", "content": md_escape(MASKED_NOTE)}
    assert restored[1]["content"] == customer_text("talk to a human, my email is [email]")
    assert restored_ids == [None, *ids]
    zh, _, _, _ = restore_conversation(loaded, loaded.tokens.mint(cid), "zh")
    assert "隐私" in zh[0]["content"]
    # Nothing masked, no note.
    _, _, plain, _, _ = list(chat_turn(loaded, QUESTION, [], None, []))[-1]
    restored, _, _, _ = restore_conversation(loaded, loaded.tokens.mint(plain))
    assert restored[0]["content"] == customer_text(QUESTION)


def test_a_reloaded_page_and_a_staff_reply_keep_each_answers_citations(
    loaded: Services,
) -> None:
    chat, _, cid, _, ids = list(chat_turn(loaded, QUESTION, [], None, []))[-1]
    assert cid is not None and "**Sources**" in chat[-1]["content"]
    restored, _, _, restored_ids = restore_conversation(loaded, loaded.tokens.mint(cid))
    assert restored == chat and restored_ids == ids
    loaded.conversations.reply_as_staff(cid, "ann", "Did that help?")
    with_reply, _, _ = show_staff_replies(poll_staff_replies(loaded, cid, ids), chat, ids)
    assert with_reply[:2] == chat
    # Stored: every retrieved passage for review, and which one the customer was shown.
    view = loaded.conversations.transcript(cid)
    assert view is not None
    answer = view.messages[1]
    assert [s.entry_id for s in answer.sources if s.cited] == ["acct-reset"]
    assert len(answer.sources) > 1


def test_declined_turn_has_no_sources_block(loaded: Services) -> None:
    history, conversation_id, _ = run_turn(loaded, "zebra quantum violin", [], None)[-1]
    assert conversation_id
    assert "Sources" not in history[-1]["content"]


@pytest.mark.parametrize("message", ["", "   \n", None])
def test_empty_message_prompts_and_stores_nothing(services: Services, message: str | None) -> None:
    steps = run_turn(services, message, [], None)
    assert len(steps) == 1
    history, conversation_id, box = steps[0]
    assert history == [{"role": "assistant", "content": PROMPT_FOR_QUESTION}]
    assert conversation_id is None and box == ""
    assert services.conversations.recent() == []


def page_event(page: gr.Blocks, api_name: str) -> BlockFunction:
    [event] = [fn for fn in page.fns.values() if fn.api_name == api_name]
    return event


def test_new_conversation_clears_what_a_turn_wrote_and_the_next_message_starts_another(
    loaded: Services,
) -> None:
    """The page's "New conversation" button, as wired: it resets every value a chat turn
    writes (the chat, the kept history, the conversation id, the box, the message ids), so
    the next message starts a conversation of its own and the first one stays stored."""
    page = build_chat_page(loaded)
    turn = page_event(page, "chat")
    new = page_event(page, "new_conversation")
    chat, history, conversation, box, message_ids = turn.outputs
    assert new.fn is new_conversation
    assert new.outputs == [chat, history, conversation, box]
    # The message ids are cleared by the event that follows the button's.
    [then] = [fn for fn in page.fns.values() if fn.trigger_after == new._id]
    assert then.outputs == [message_ids] and then.fn is not None and then.fn() == []

    *_, (old_history, first_id, _) = run_turn(loaded, QUESTION, [], None)
    assert first_id and len(old_history) == 2
    cleared = dict(zip(new.outputs, new.fn(), strict=True))
    assert cleared[chat] == [] and cleared[box] == ""
    *_, (new_history, second_id, _) = run_turn(
        loaded, "How long does delivery take?", cleared[history], cleared[conversation]
    )
    assert second_id and second_id != first_id
    assert [m["role"] for m in new_history] == ["user", "assistant"]  # nothing of the first
    assert {c.id for c in loaded.conversations.recent()} == {first_id, second_id}
    first = loaded.conversations.transcript(first_id)
    assert first is not None and len(first.messages) == 2  # the first is kept as it was


def test_upload_reports_each_file_and_one_bad_file_does_not_stop_others(
    services: Services, faq_file: Path, tmp_path: Path
) -> None:
    exe = tmp_path / "uploads" / "notes.exe"
    exe.write_text("just some text", encoding="utf-8")
    no_answer = tmp_path / "uploads" / "broken.csv"
    no_answer.write_text("question,category\nWhere is my order?,Orders\n", encoding="utf-8")

    report, table = upload_files(services, [str(exe), str(faq_file), str(no_answer)])

    lines = report.split("\n\n")
    assert len(lines) == 3
    assert lines[0].startswith("❌ notes.exe: unsupported file type '.exe'")
    assert lines[1] == "✅ faq.csv: 4 passages added"
    assert lines[2].startswith("❌ broken.csv: missing required column(s) answer")
    # Every upload is listed, newest first; failed ones with their reason and no passages.
    assert [row[0] for row in table] == ["broken.csv", "faq.csv", "notes.exe"]
    assert all(len(row) == len(DOCUMENT_HEADERS) for row in table)
    rows = {row[0]: row for row in table}
    assert rows["faq.csv"][:5] == ["faq.csv", "csv", 4, 2, "ingested"]
    assert rows["broken.csv"][2:4] == [0, 0]
    assert rows["broken.csv"][4].startswith("failed: missing required column(s) answer")
    assert rows["notes.exe"][4].startswith("failed: unsupported file type '.exe'")

    report, _ = upload_files(services, [str(faq_file)])
    assert report == "✅ faq.csv: 4 passages unchanged"


def test_delete_document(loaded: Services) -> None:
    message, table = delete_document(loaded, "faq.csv")
    assert "Deleted faq.csv" in message and table == []
    message, _ = delete_document(loaded, "faq.csv")
    assert message.startswith("❌")


def test_review_lists_conversations_and_renders_transcript_with_scores(
    loaded: Services,
) -> None:
    _, conversation_id, _ = run_turn(loaded, QUESTION, [], None)[-1]
    rows, choices, ids = conversations_table(loaded)
    assert ids == [conversation_id]
    assert len(rows[0]) == len(CONVERSATION_HEADERS)
    assert rows[0][1:] == [QUESTION, "web", "en (English)", 2, "answer", "", "", ""]
    assert choices[0][1] == conversation_id

    md = render_transcript(loaded, conversation_id)
    assert "**🧑 User**" in md and "**🤖 Bot**" in md
    assert "decision **answer** (matched)" in md
    assert " ms" in md
    assert "| rank | entry id | title | score |" in md
    assert SCORE_NOTE in md  # says why a lower score can rank higher
    assert "| 1 | `acct-reset` |" in md
    assert re.search(r"\| 0\.\d{3} \|", md)
    assert ANSWER in md

    assert render_transcript(loaded, None) != md
    assert "not found" in render_transcript(loaded, "missing-id")


def test_select_row_maps_to_conversation_id() -> None:
    evt = gr.SelectData(None, {"index": [1, 3], "value": "x"})
    assert select_row(["a", "b"], evt) == "b"
    assert select_row(["a"], evt) is None


def test_two_sessions_get_two_conversations(loaded: Services) -> None:
    _, first, _ = run_turn(loaded, QUESTION, [], None)[-1]
    _, second, _ = run_turn(loaded, QUESTION, [], None)[-1]
    assert first and second and first != second
    assert {c.id for c in loaded.conversations.recent()} == {first, second}
    for cid in (first, second):
        transcript = loaded.conversations.transcript(cid)
        assert transcript is not None and len(transcript.messages) == 2


def test_an_answer_the_check_withholds_is_never_shown_and_staff_see_the_draft(
    loaded: Services, generator: ScriptedGenerator
) -> None:
    loaded.dialogue.approved_answers = False
    invented = "Passwords can only be reset once every 90 days."
    generator.replies = [invented]
    steps = run_turn(loaded, QUESTION, [], None)
    # No step shows the invented text: the customer reads only the passage it was
    # replaced by, then the sources.
    assert not any("90 days" in h[-1]["content"] for h, _, _ in steps)
    history, conversation_id, _ = steps[-1]
    answer_part, sources = history[-1]["content"].split("**Sources**")
    assert answer_part.strip().removesuffix("---").strip() == ANSWER
    assert "How do I reset my password?" in sources

    transcript = loaded.conversations.transcript(conversation_id)
    assert transcript is not None
    bot = transcript.messages[-1]
    assert (bot.content, bot.answer_mode) == (ANSWER, "passage")
    assert bot.draft == invented and bot.draft_rejection
    md = render_transcript(loaded, conversation_id)
    assert "answer **passage**" in md
    assert f"**⛔ Withheld draft** (`{bot.draft_rejection}`)" in md
    assert f"> {invented}" in md


def test_review_shows_answer_mode_grounding_rewrite_handoff_reason_and_contact(
    loaded: Services,
) -> None:
    conversation_id = None
    history: list[ChatMessage] = []
    for message in (
        "this is ridiculous, your service is useless!!!",
        "reach me at jane.doe@example.com [details](http://evil.example)",
        QUESTION,
        "and how long does that take?",
    ):
        history, conversation_id, _ = run_turn(loaded, message, history, conversation_id)[-1]
    md = render_transcript(loaded, conversation_id)
    head = md.splitlines()[1]
    assert "needs a human" in head
    assert "handoff reason **angry**" in head
    # (The "@" is escaped: a bare address would render as a mailto: link.)
    assert "contact **jane.doe\\@example.com**" in head
    assert "decision **handoff** (angry) · answer **canned** · grounding **n.a.**" in md
    assert "decision **handoff** (contact) · answer **canned** · grounding **n.a.**" in md
    assert "decision **answer** (matched) · answer **approved** · grounding **passed**" in md
    assert "answer **generated** · grounding **passed**" in md
    assert f"searched as: “{QUESTION} how long does that take?”" in md
    assert md.count("searched as:") == 1
    # What the customer typed is shown as text, not as a link.
    assert "\\[details\\](http://evil.example)" in md
