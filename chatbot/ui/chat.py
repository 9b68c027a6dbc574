"""The "Chat" tab: stream DialogueManager replies into a gr.Chatbot (messages format).

Only text that passed the answer check is shown, sentence by sentence; until the first
arrives the chat shows Gradio's typing dots (see TYPING).

Customers rate each bot answer with the chatbot's thumbs (and, for a thumbs-down, an optional
reason under the flag). A per-session gr.State keeps the stored message id of every chat
bubble (None for the customer's own and for unstored ones), so a rating reaches the right
answer. Staff replies appear by themselves: a timer asks storage every few seconds whether the
conversation holds a staff reply the page does not show ("Check for replies" asks at once),
and adds it to the chat as the page shows it: the customer keeps seeing what they typed,
though storage holds it with their personal data masked (chatbot.privacy.masking).
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
from dataclasses import replace
from typing import Any, Protocol

import gradio as gr

from chatbot.container import Services
from chatbot.core.i18n import LANGUAGES, N_, gettext_for
from chatbot.core.vocabulary import DecisionKind
from chatbot.dialogue.manager import (
    ERROR_TEXT,
    NOT_SENT_TEXT,
    PROMPT_FOR_QUESTION,
    TOO_LONG,
    MessageNotSent,
)
from chatbot.privacy.masking import CARD, EMAIL, ID_NUMBER, PHONE
from chatbot.staff.conversations import MessageView, SourceView, TranscriptView
from chatbot.ui.render import (
    answer_markdown,
    customer_text,
    link,
    md_escape,
    one_line,
)
from knowledge_base.language import ENGLISH, detect

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]
# (chat shown, chat history kept on the server, conversation id, textbox value,
#  stored message id of each chat message)
# (the textbox value is gr.skip() once the turn has started: what the customer types while
#  an answer is on its way stays in the box, and is sent when the answer is complete)
ChatTurn = tuple[list[ChatMessage], list[ChatMessage], str | None, Any, list[int | None]]
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
PAGE = N_("page {page}")
# The chat's labels, translated in the browser (chatbot.ui.chat_page.chat_page_i18n).
SUPPORT = N_("Support")
TYPE_YOUR_QUESTION = N_("Type your question and press Enter")
SEND, NEW_CONVERSATION = N_("Send"), N_("New conversation")
CHAT_TEXTS = (SUPPORT, TYPE_YOUR_QUESTION, SEND, NEW_CONVERSATION)


def staff_prefix(language: str = ENGLISH) -> str:
    return f"💬 **{gettext_for(language)(FROM_SUPPORT_TEAM)}**"


def feedback_options(language: str = ENGLISH) -> tuple[str, ...]:
    """The thumbs and the thumbs-down reasons as the customer reads them."""
    _ = gettext_for(language)
    return (LIKE, DISLIKE, *(_(reason) for reason in DISLIKE_REASONS))


class Citation(Protocol):
    """What a customer is shown of a source (a Source, or a stored SourceView)."""

    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def page(self) -> int | None: ...


def format_sources(sources: Sequence[Citation], language: str = ENGLISH) -> str:
    """A markdown "Sources" block for the customer: each source's title, linked when it has
    an http(s) URL (percent-encoded), and its page for a PDF; the same citation once. Entry
    ids, file names and scores stay in the staff console. Headings in `language`."""
    _ = gettext_for(language)
    lines = ["---", f"**{_(SOURCES)}**", ""]
    seen: set[tuple[str, str | None, int | None]] = set()
    for src in sources:
        title = one_line(src.title)
        key = (title, src.url, src.page)
        if not title or key in seen:
            continue
        seen.add(key)
        cited = link(title, src.url)
        if src.page is not None:
            cited = f"{cited} · {_(PAGE).format(page=src.page)}"
        lines.append(f"{len(seen)}. {cited}")
    return "\n".join(lines) if seen else ""


def with_sources(answer: str, sources: Sequence[Citation], language: str = ENGLISH) -> str:
    """An answer's markdown with its "Sources" block, when it has sources."""
    block = format_sources(sources, language)
    return f"{answer}\n\n{block}" if block else answer


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
    base.append({"role": "user", "content": customer_text(echo)})
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
            yield chat, chat, conversation_id, gr.skip(), pending
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
        box = text if reply is None else gr.skip()
        yield chat, chat, conversation_id, box, pending
        return
    finally:
        if reply is not None:
            # Also when Gradio closes this generator (the customer left): stop generating.
            reply.close()
    chat = _with_reply(base, with_sources(final, reply.sources, reply.language))
    # A refused over-long message stays in the box, for the customer to shorten.
    box = text if reply.reason == TOO_LONG else gr.skip()
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
    """The conversation as stored (with any staff replies and each answer's citations), and
    its message ids, so the customer sees what support wrote since; staff replies are headed
    in the page's `language`. The customer's messages are as stored: with their personal
    data masked, when masking is on."""
    t = services.conversations.transcript(conversation_id) if conversation_id else None
    return _chat_of(services, t, language) if t is not None else ([], [])


def _citations(services: Services, m: MessageView) -> list[SourceView]:
    """The sources the customer was shown under a stored answer, with a link only where the
    answer policy still allows it."""
    policy = services.dialogue.contacts
    return [
        replace(s, url=s.url if s.url and policy.allows_link(s.url) else None)
        for s in sorted(m.sources, key=lambda s: s.rank)
        if s.cited
    ]


def _chat_of(
    services: Services, t: TranscriptView, language: str | None
) -> tuple[list[ChatMessage], list[int | None]]:
    prefix = staff_prefix(language or ENGLISH)
    history: list[ChatMessage] = []
    ids: list[int | None] = []
    said = language or ENGLISH  # the language of the customer message an answer replies to
    for m in t.messages:
        if m.role == "assistant" and m.decision == DecisionKind.STAFF:
            history.append(_staff_message(m.content, prefix))
        elif m.role == "assistant":
            shown = with_sources(answer_markdown(m.content), _citations(services, m), said)
            history.append({"role": "assistant", "content": shown})
        else:
            said = m.language or said
            history.append({"role": "user", "content": customer_text(m.content)})
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
        if m.role == "assistant" and m.decision == DecisionKind.STAFF and m.id not in shown
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


NOTHING_TO_RESTORE = (gr.skip(), gr.skip(), gr.skip(), gr.skip())


def restore_conversation(
    services: Services, saved: str | None, language: str | None = ENGLISH
) -> tuple[Any, Any, Any, Any]:
    """On page load: the conversation this browser held, if its token is one this server
    signed and the conversation is still stored. Anything else starts afresh: no change to
    the page (NOTHING_TO_RESTORE), whose chat is empty, so a message the customer sent
    before this ran is not wiped from the screen. When masking hid personal data in the
    customer's messages, a note first says why they read "[email]" and the like."""
    conversation_id = services.tokens.verify(saved)
    t = services.conversations.transcript(conversation_id) if conversation_id else None
    history, ids = _chat_of(services, t, language) if t is not None else ([], [])
    if t is None or not history:
        return NOTHING_TO_RESTORE
    if any(p in m.content for m in t.messages if m.role == "user" for p in MASK_PLACEHOLDERS):
        note = gettext_for(language or ENGLISH)(MASKED_NOTE)
        history, ids = [{"role": "assistant", "content": md_escape(note)}, *history], [None, *ids]
    return history, history, t.id, ids


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
