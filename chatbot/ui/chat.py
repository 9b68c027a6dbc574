"""The "Chat" tab: stream DialogueManager replies into a gr.Chatbot (messages format).

Only text that passed the answer check is shown, sentence by sentence; until the first
arrives the chat shows Gradio's typing dots (see TYPING).

Customers rate each bot answer with the chatbot's thumbs (and, for a thumbs-down, an optional
reason under the flag). A per-session gr.State keeps the stored message id of every chat
bubble (None for the customer's own and for unstored ones), so a rating reaches the right
answer. Staff replies appear by themselves: a timer asks storage every few seconds whether the
conversation holds a staff reply the page does not show ("Check for replies" asks at once),
and adds it to the chat as the page shows it: the customer keeps seeing what they typed,
though storage holds it with their personal data masked (chatbot.privacy).
The conversation id is also kept in the browser as a token the server signed (so it cannot
be swapped for another conversation's), so reloading the page brings the conversation back:
as stored, so with "[email]", "[phone]" ... in place of what was masked, and a note that says
so (the browser keeps no copy of the customer's personal data; on a shared computer the next
person to open the page does not see it).

The chat history lives on the server (a per-session gr.State): no event of this page takes
the conversation, files or any other structured value from the browser, only the typed text.

Languages: the page's labels follow the browser's language (gr.I18n, see chatbot.ui.app), and
so do the texts the page itself writes into the chat (a prompt for a question, the staff reply
heading, the thumbs-down reasons); the page's language is a per-session gr.State taken from
the browser's Accept-Language on load. A reply, its sources and its error texts are in the
language of the customer's message (Reply.language), whatever the page's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.conversations import TranscriptView
from chatbot.dialogue import (
    ERROR_TEXT,
    NOT_SENT_TEXT,
    PROMPT_FOR_QUESTION,
    TOO_LONG,
    MessageNotSent,
    Source,
)
from chatbot.i18n import LANGUAGES, N_, browser_language, gettext_for
from chatbot.privacy import CARD, EMAIL, ID_NUMBER, PHONE
from chatbot.review import STAFF
from chatbot.ui.render import answer_markdown, code, escape_text, link, one_line
from chatbot.ui.staff import bind
from knowledge_base.language import ENGLISH, detect

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]
# (chat shown, chat history kept on the server, conversation id, textbox value,
#  stored message id of each chat message)
ChatTurn = tuple[list[ChatMessage], list[ChatMessage], str | None, str, list[int | None]]
# Thumbs render as icons; the other options are reasons for a thumbs-down (under a flag).
LIKE, DISLIKE = "Like", "Dislike"
# Stored (and shown to staff) in English, whatever language the customer chose them in.
DISLIKE_REASONS = (
    N_("Wrong answer"),
    N_("Didn't answer my question"),
    N_("Hard to understand"),
)
FEEDBACK_OPTIONS = (LIKE, DISLIKE, *DISLIKE_REASONS)
MASK_PLACEHOLDERS = (EMAIL, PHONE, CARD, ID_NUMBER)
FROM_SUPPORT_TEAM = N_("From our support team:")
STAFF_PREFIX = f"💬 **{FROM_SUPPORT_TEAM}**"
STAFF_REPLY_POLL_SECONDS = 5
# Heads a restored conversation whose messages had personal data masked in storage.
MASKED_NOTE = N_(
    "For your privacy, e-mail addresses and phone, card and ID numbers in this conversation "
    "are saved hidden, as [email], [phone], [card] and [id]."
)
SOURCES = N_("Sources")
IN_DOCUMENT = N_("{entry} in {document}")
SCORE = N_("score {score}")
# The tab's labels, translated in the browser (chatbot.ui.app.chat_page_i18n).
CHAT, SUPPORT, ASK_A_QUESTION = N_("Chat"), N_("Support"), N_("Ask a question…")
TYPE_YOUR_QUESTION = N_("Type your question and press Enter")
SEND, NEW_CONVERSATION = N_("Send"), N_("New conversation")
CHECK_FOR_REPLIES = N_("Check for replies")
TAB_TEXTS = (
    CHAT,
    SUPPORT,
    ASK_A_QUESTION,
    TYPE_YOUR_QUESTION,
    SEND,
    NEW_CONVERSATION,
    CHECK_FOR_REPLIES,
)


def staff_prefix(language: str = ENGLISH) -> str:
    return f"💬 **{gettext_for(language)(FROM_SUPPORT_TEAM)}**"


def feedback_options(language: str = ENGLISH) -> tuple[str, ...]:
    """The thumbs and the thumbs-down reasons as the customer reads them."""
    _ = gettext_for(language)
    return (LIKE, DISLIKE, *(_(reason) for reason in DISLIKE_REASONS))


def page_language(request: gr.Request | None = None) -> tuple[str, Any]:
    """On page load: the page's language (the browser's), and the chat's thumbs-down reasons
    in it."""
    headers = getattr(request, "headers", None) or {}
    language = browser_language(headers.get("accept-language"))
    return language, gr.update(feedback_options=feedback_options(language))


def md_escape(text: str) -> str:
    """`text` as markdown that shows the text itself: no links, images, HTML or tables of
    its own (chatbot.ui.render.escape_text)."""
    return escape_text(text)


def format_sources(sources: Sequence[Source], language: str = ENGLISH) -> str:
    """A markdown "Sources" block: title (linked only to an http(s) URL, percent-encoded),
    entry in document, score, snippet; every piece of knowledge-base text escaped. Its
    headings in `language`."""
    _ = gettext_for(language)
    lines = ["---", f"**{_(SOURCES)}**", ""]
    for i, src in enumerate(sources, start=1):
        title = link(one_line(src.title), src.url)
        where = code(src.entry_id)
        if src.document:
            document = escape_text(one_line(src.document))
            where = _(IN_DOCUMENT).format(entry=where, document=document)
        score = _(SCORE).format(score=f"{src.score:.2f}")
        lines.append(f"{i}. **{title}** · {where} · {score}")
        lines.append(f"   {escape_text(one_line(src.snippet))}")
    return "\n".join(lines)


def _with_reply(history: list[ChatMessage], text: str) -> list[ChatMessage]:
    return [*history, {"role": "assistant", "content": text}]


# The bot message while the answer is written and checked: empty, with a finished "thought"
# status, so Gradio's Chatbot shows its own typing dots after it (role=status, labelled
# "Loading response" for screen readers) until the first checked text replaces it. The dots
# show only while the event runs; nothing of it is stored.
TYPING: ChatMessage = {"role": "assistant", "content": "", "metadata": {"status": "done"}}


def _typing(history: list[ChatMessage]) -> list[ChatMessage]:
    return [*history, {**TYPING, "metadata": dict(TYPING["metadata"])}]


def _aligned(message_ids: list[int | None] | None, length: int) -> list[int | None]:
    """The message ids, one per chat message (padded with None if the two drifted apart)."""
    ids = list(message_ids or [])[:length]
    return ids + [None] * (length - len(ids))


def chat_turn(
    services: Services,
    message: str | None,
    history: list[ChatMessage] | None,
    conversation_id: str | None,
    message_ids: list[int | None] | None = None,
    language: str | None = ENGLISH,
) -> Iterator[ChatTurn]:
    """Run one customer turn, streaming.

    Args: `message` is the textbox value, `history` the per-session gr.State of the chat as
    shown (messages format; never mutated), `conversation_id` the per-session gr.State (None
    starts a conversation), `message_ids` the per-session gr.State of stored message ids,
    one per chat message, `language` the page's (the prompt for an empty message is in it;
    the reply is in the message's own).

    Yields `(chat, history, conversation_id, textbox_value, message_ids)`: first the user
    message with the typing indicator (TYPING), then once per streamed piece (text that
    already passed the answer check, so the first may take a few seconds), and last the
    full answer followed by a "Sources" block when the reply has sources; the answer's
    stored id is in the last `message_ids`. An empty message never reaches the dialogue
    manager: the assistant asks for a question and nothing is stored. When the turn fails
    before the message was taken, the message goes back into the textbox.
    """
    base = list(history or [])
    ids = _aligned(message_ids, len(base))
    text = message.strip() if isinstance(message, str) else ""
    page = language or ENGLISH
    if not text:
        chat = _with_reply(base, gettext_for(page)(PROMPT_FOR_QUESTION))
        yield chat, chat, conversation_id, "", [*ids, None]
        return
    limit = services.dialogue.max_message_chars
    # A message over the limit is refused; the chat shows only its start, not megabytes.
    echo = text if len(text) <= limit else f"{text[:limit]}…"
    base.append({"role": "user", "content": md_escape(echo)})
    ids.append(None)
    pending = [*ids, None]
    chat = _typing(base)
    yield chat, chat, conversation_id, "", pending
    shown = ""
    reply = None
    try:
        reply = services.dialogue.respond(text, conversation_id=conversation_id, channel="web")
        conversation_id = reply.conversation_id
        for piece in reply:
            if not piece:
                continue  # an empty piece would hide the typing dots with nothing to read
            shown += piece
            # Knowledge-base and model text is shown as text: no images, HTML or odd links.
            chat = _with_reply(base, answer_markdown(shown))
            yield chat, chat, conversation_id, "", pending
        final = answer_markdown(reply.text or shown)
    except MessageNotSent as exc:
        log.warning("customer message not stored (database %s)", exc.reason)
        chat = _with_reply(base, gettext_for(detect(text, default=page))(NOT_SENT_TEXT))
        yield chat, chat, conversation_id, text, pending  # the message back in the box
        return
    except Exception:
        log.exception("chat turn failed")
        said = reply.language if reply is not None else detect(text, default=page)
        error_text = gettext_for(said)(ERROR_TEXT)
        chat = _with_reply(base, answer_markdown(f"{shown}\n\n{error_text}".strip()))
        # Not taken at all: the customer gets the message back to send again.
        box = text if reply is None else ""
        yield chat, chat, conversation_id, box, pending
        return
    finally:
        if reply is not None:
            # Also when Gradio closes this generator (the customer left): stop generating.
            reply.close()
    if reply.sources:
        final = f"{final}\n\n{format_sources(reply.sources, reply.language)}"
    chat = _with_reply(base, final)
    # A refused over-long message stays in the box, for the customer to shorten.
    box = text if reply.reason == TOO_LONG else ""
    yield chat, chat, conversation_id, box, [*ids, reply.message_id]


def new_conversation() -> tuple[list[ChatMessage], list[ChatMessage], None, str]:
    """Clear the chat and forget the conversation id; the next message starts a new one."""
    return [], [], None, ""


def no_message_ids() -> list[int | None]:
    return []


def _english_reasons() -> dict[str, str]:
    return {
        gettext_for(language)(reason): reason
        for language in LANGUAGES
        for reason in DISLIKE_REASONS
    }


def feedback_rating(liked: bool | str) -> tuple[int | None, str | None]:
    """gr.LikeData.liked as (rating, reason): True is +1, False -1, a reason option -1 with
    that reason (in English, as the options are translated for the customer), and "" (the
    customer clicked their choice again) takes the rating back."""
    if liked is True:
        return 1, None
    if liked is False:
        return -1, None
    if liked == LIKE:
        return 1, None
    if liked == DISLIKE:
        return -1, None
    return (-1, _english_reasons().get(liked, liked)) if liked else (None, None)


def record_feedback(
    services: Services,
    message_ids: list[int | None] | None,
    conversation_id: str | None,
    evt: gr.LikeData,
) -> None:
    """Store the customer's rating of the bot message they clicked (`evt.index` is its
    position in the chat). Messages that were not stored (prompts, errors) are ignored."""
    index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    ids = message_ids or []
    if not isinstance(index, int) or not 0 <= index < len(ids) or ids[index] is None:
        return
    rating, reason = feedback_rating(evt.liked)
    message_id = ids[index]
    assert message_id is not None
    if not services.conversations.rate_message(message_id, rating, reason, conversation_id):
        log.warning("rating for unknown message %s ignored", message_id)


def _staff_message(content: str, prefix: str) -> ChatMessage:
    return {"role": "assistant", "content": f"{prefix}\n\n{md_escape(content)}"}


def load_conversation(
    services: Services, conversation_id: str | None, language: str | None = ENGLISH
) -> tuple[list[ChatMessage], list[int | None]]:
    """The conversation as stored (with any staff replies), and its message ids, so the
    customer sees what support wrote since; staff replies are headed in the page's
    `language`. Sources are not repeated. The customer's messages are as stored: with their
    personal data masked, when masking is on."""
    t = services.conversations.transcript(conversation_id) if conversation_id else None
    return _chat_of(t, language) if t is not None else ([], [])


def _chat_of(t: TranscriptView, language: str | None) -> tuple[list[ChatMessage], list[int | None]]:
    prefix = staff_prefix(language or ENGLISH)
    history: list[ChatMessage] = []
    ids: list[int | None] = []
    for m in t.messages:
        if m.role == "assistant" and m.decision == STAFF:
            history.append(_staff_message(m.content, prefix))
        elif m.role == "assistant":
            history.append({"role": "assistant", "content": answer_markdown(m.content)})
        else:
            history.append({"role": "user", "content": md_escape(m.content)})
        ids.append(m.id if m.role == "assistant" else None)
    return history, ids


StaffReplies = list[tuple[int, ChatMessage]]


def new_staff_replies(
    services: Services,
    conversation_id: str | None,
    message_ids: list[int | None] | None,
    language: str | None = ENGLISH,
) -> StaffReplies:
    """The staff replies the page does not show yet (their ids are not among the page's
    message ids), oldest first, each with its chat message headed in the page's `language`.
    One small query per call while there are none."""
    if not conversation_id:
        return []
    shown = set(message_ids or [])
    if all(i in shown for i in services.conversations.staff_reply_ids(conversation_id)):
        return []
    t = services.conversations.transcript(conversation_id)
    if t is None:
        return []
    prefix = staff_prefix(language or ENGLISH)
    return [
        (m.id, _staff_message(m.content, prefix))
        for m in t.messages
        if m.role == "assistant" and m.decision == STAFF and m.id not in shown
    ]


def _with_staff_replies(
    history: list[ChatMessage] | None, message_ids: list[int | None] | None, new: StaffReplies
) -> tuple[list[ChatMessage], list[int | None]]:
    """The page's chat as it shows it, with the staff replies it lacks added at the end."""
    chat = list(history or [])
    ids = _aligned(message_ids, len(chat))
    for message_id, message in new:
        if message_id not in ids:
            chat.append(message)
            ids.append(message_id)
    return chat, ids


def check_for_staff_replies(
    services: Services,
    conversation_id: str | None,
    history: list[ChatMessage] | None,
    message_ids: list[int | None] | None,
    language: str | None = ENGLISH,
) -> tuple[Any, Any]:
    """The page's chat (`history`, the server-side State, never the browser's copy) with the
    staff replies it does not show yet added, and its message ids; no change when there are
    none. The rest of the chat stays as the page showed it: the customer's own words, not
    the stored, masked ones."""
    new = new_staff_replies(services, conversation_id, message_ids, language)
    if not new:
        return gr.skip(), gr.skip()
    return _with_staff_replies(history, message_ids, new)


def restore_conversation(
    services: Services, saved: str | None, language: str | None = ENGLISH
) -> tuple[list[ChatMessage], list[ChatMessage], str | None, list[int | None]]:
    """On page load: the conversation this browser held, if its token is one this server
    signed and the conversation is still stored. Anything else starts afresh. When masking
    hid personal data in the customer's messages, a note first says why they read "[email]"
    and the like."""
    conversation_id = services.tokens.verify(saved)
    t = services.conversations.transcript(conversation_id) if conversation_id else None
    history, ids = _chat_of(t, language) if t is not None else ([], [])
    if t is None or not history:
        return [], [], None, []
    if any(p in m.content for m in t.messages if m.role == "user" for p in MASK_PLACEHOLDERS):
        note = gettext_for(language or ENGLISH)(MASKED_NOTE)
        history, ids = [{"role": "assistant", "content": md_escape(note)}, *history], [None, *ids]
    return history, history, t.id, ids


def reload_conversation(
    services: Services,
    conversation_id: str | None,
    history: list[ChatMessage] | None,
    message_ids: list[int | None] | None,
    language: str | None = ENGLISH,
) -> tuple[list[ChatMessage], list[ChatMessage], list[int | None]]:
    """The "Check for replies" button: the page's chat with any staff replies it lacks, for
    the chat and its server-side history."""
    new = new_staff_replies(services, conversation_id, message_ids, language)
    chat, ids = _with_staff_replies(history, message_ids, new)
    return chat, chat, ids


def poll_staff_replies(
    services: Services,
    conversation_id: str | None,
    message_ids: list[int | None] | None,
    language: str | None = ENGLISH,
) -> Any:
    """For the timer: the staff replies the page lacks (`new_staff_replies`) when one
    arrived, else no change. It goes to a gr.State, not to the chat: an event with the chat
    as output resets the chat's loading status, and Gradio's typing dots of a running turn
    would go."""
    new = new_staff_replies(services, conversation_id, message_ids, language)
    return new if new else gr.skip()


def show_staff_replies(
    update: StaffReplies | None,
    history: list[ChatMessage] | None,
    message_ids: list[int | None] | None,
) -> tuple[Any, Any, Any]:
    """The page's chat with the staff replies the timer found added (added to the chat as
    it is now, so a turn that ran meanwhile is kept), for the chat and its server-side
    history."""
    if not update:
        return gr.skip(), gr.skip(), gr.skip()
    chat, ids = _with_staff_replies(history, message_ids, update)
    return chat, chat, ids


def remember(services: Services, conversation_id: str | None) -> str | None:
    """The token the browser keeps for this conversation (None forgets it)."""
    return services.tokens.mint(conversation_id) if conversation_id else None


def build_chat_tab(services: Services, page: gr.Blocks, i18n: gr.I18n) -> gr.Tab:
    """The chat tab; `i18n` translates its labels in the browser (the page is mounted with
    the same instance)."""
    with gr.Tab(i18n(CHAT), id="chat") as tab:
        # The page's language, from the browser (see page_language); English until it loads.
        language = gr.State(ENGLISH)
        conversation = gr.State(None)
        # The chat as shown, kept on the server: the browser's copy is never read back.
        history = gr.State([])
        # A signed token for the conversation in the browser's storage (see remember).
        saved = gr.BrowserState(None, storage_key="support-chat-conversation")
        poll = gr.Timer(STAFF_REPLY_POLL_SECONDS)
        # What the timer found: set only when a staff reply arrived (see poll_staff_replies).
        staff_replies = gr.State(None)
        message_ids = gr.State([])
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label=i18n(SUPPORT),
            height=520,
            feedback_options=FEEDBACK_OPTIONS,
            # One bubble per message, so each answer (and staff reply) has its own thumbs:
            # a grouped bubble would report only its first message's index.
            group_consecutive_messages=False,
            placeholder=str(i18n(ASK_A_QUESTION)),
        )
        with gr.Row():
            box = gr.Textbox(
                elem_id="chat-input",
                placeholder=i18n(TYPE_YOUR_QUESTION),
                show_label=False,
                autofocus=True,
                scale=8,
            )
            send = gr.Button(i18n(SEND), elem_id="chat-send", variant="primary", scale=1)
        with gr.Row():
            new = gr.Button(i18n(NEW_CONVERSATION), elem_id="new-conversation", size="sm")
            reload = gr.Button(i18n(CHECK_FOR_REPLIES), elem_id="chat-reload", size="sm")
        gr.on(
            triggers=[box.submit, send.click],
            fn=partial(chat_turn, services),
            inputs=[box, history, conversation, message_ids, language],
            outputs=[chatbot, history, conversation, box, message_ids],
            api_name="chat",
        )
        new.click(
            new_conversation,
            outputs=[chatbot, history, conversation, box],
            api_name="new_conversation",
        ).then(no_message_ids, outputs=[message_ids], api_visibility="private")
        chatbot.like(
            bind(record_feedback, services),
            inputs=[message_ids, conversation],
            outputs=None,
            api_visibility="private",
        )
        reload.click(
            bind(reload_conversation, services),
            inputs=[conversation, history, message_ids, language],
            outputs=[chatbot, history, message_ids],
            api_visibility="private",
        )
        poll.tick(
            bind(poll_staff_replies, services),
            inputs=[conversation, message_ids, language],
            outputs=[staff_replies],
            api_visibility="private",
            show_progress="hidden",
        )
        # A State's change event runs only when the tick set a new value.
        staff_replies.change(
            show_staff_replies,
            inputs=[staff_replies, history, message_ids],
            outputs=[chatbot, history, message_ids],
            api_visibility="private",
            show_progress="hidden",
        )
        conversation.change(bind(remember, services), conversation, saved, api_visibility="private")
        # The language first: a restored conversation's staff replies are headed in it.
        page.load(
            page_language,
            outputs=[language, chatbot],
            api_visibility="private",
            show_progress="hidden",
        ).then(
            bind(restore_conversation, services),
            inputs=[saved, language],
            outputs=[chatbot, history, conversation, message_ids],
            api_visibility="private",
        )
    return tab
