"""A conversation's transcript as markdown, for the Conversations and Handoff queue tabs.

Everything in it that came from a customer, a staff member or the knowledge base is escaped
(chatbot.ui.render): the staff's browser renders no image, HTML or non-http(s) link of theirs.
Times are in the staff member's time zone (chatbot.ui.times).
"""

from __future__ import annotations

from chatbot.container import Services
from chatbot.core.language_names import language_label
from chatbot.core.vocabulary import DecisionKind
from chatbot.staff.conversations import MessageView, TranscriptView
from chatbot.ui.render import answer_markdown, code, escape_text, link, one_line
from chatbot.ui.times import fmt_time

NOTHING_CHOSEN = "Choose a conversation to see its transcript."
# The grounding check's outcome for a bot message (n.a.: not a generated answer, or an error).
GROUNDING: dict[bool | None, str] = {True: "passed", False: "failed", None: "n.a."}

# Why rank and score can disagree: the rank includes the lexical bonus, the score does not.
SCORE_NOTE = (
    "*Score: similarity in meaning, which decides answer or decline. The rank also counts "
    "shared words, so a lower score can rank higher.*"
)


def _rating_text(m: MessageView) -> str | None:
    if m.rating == 1:
        return "customer 👍"
    if m.rating == -1:
        reason = f" “{escape_text(m.rating_reason)}”" if m.rating_reason else ""
        return "customer 👎" + reason
    return None


def _draft_markdown(m: MessageView) -> list[str]:
    """The draft the answer check withheld, as a quote under its own heading, so staff never
    take it for what the customer saw. It is model output: escaped like customer text, and
    every line quoted (a blank line in it would otherwise end the quote)."""
    if not m.draft:
        return []
    why = f" ({code(one_line(m.draft_rejection))})" if m.draft_rejection else ""
    quoted = [f"> {line}" if line else ">" for line in escape_text(m.draft).splitlines()]
    return [f"**⛔ Withheld draft**{why}, not shown to the customer:", "", *quoted, ""]


def _message_markdown(m: MessageView, zone: str | None) -> list[str]:
    if m.role != "assistant":
        # Customer text is shown as typed: no links, images or tables of theirs in staff view.
        said_in = f" · {escape_text(language_label(m.language))}" if m.language else ""
        return [
            f"**🧑 {m.role.capitalize()}** · {fmt_time(m.created_at, zone)}{said_in}",
            "",
            escape_text(m.content),
            "",
        ]
    if m.decision == DecisionKind.STAFF:
        return [
            f"**🧑‍💼 Staff reply** by {escape_text(m.reason or 'staff')} · "
            f"{fmt_time(m.created_at, zone)}",
            "",
            escape_text(m.content),
            "",
        ]
    facts = [f"**🤖 Bot** · {fmt_time(m.created_at, zone)}"]
    if m.decision:
        facts.append(f"decision **{m.decision}**" + (f" ({m.reason})" if m.reason else ""))
    if m.answer_mode:
        facts.append(f"answer **{m.answer_mode}**")
    facts.append(f"grounding **{GROUNDING[m.grounded]}**")
    if m.latency_ms is not None:
        facts.append(f"{m.latency_ms:.0f} ms")
    if m.first_token_ms is not None:
        facts.append(f"first token {m.first_token_ms:.0f} ms")
    if m.status != "complete":
        facts.append(f"status **{m.status}**")
    rating = _rating_text(m)
    if rating:
        facts.append(rating)
    out = [" · ".join(facts), ""]
    if m.rewritten_query:
        out += [f"searched as: “{escape_text(m.rewritten_query)}”", ""]
    # The answer as the customer saw it: knowledge-base text, rendered safely.
    out += [answer_markdown(m.content), ""]
    out += _draft_markdown(m)
    if m.sources:
        out += ["| rank | entry id | title | score |", "|---:|---|---|---:|"]
        for s in m.sources:
            title = link(one_line(s.title), s.url)
            out.append(f"| {s.rank} | {code(s.entry_id)} | {title} | {s.score:.3f} |")
        out += ["", SCORE_NOTE, ""]
    return out


def _head(t: TranscriptView, zone: str | None) -> str:
    head = f"`{t.id}` · {t.channel} · started {fmt_time(t.created_at, zone)}"
    if t.language:
        head += f" · language **{escape_text(language_label(t.language))}**"
    if t.needs_human:
        head += " · ⚠️ **needs a human**"
    if t.handoff_reason:
        head += f" · handoff reason **{t.handoff_reason}**"
    if t.contact:
        head += f" · contact **{escape_text(t.contact)}**"
    if t.customer_id:
        head += f" · signed-in customer **{escape_text(t.customer_id)}**"
    if t.handled_at is not None:
        handler = escape_text(t.handled_by or "?")
        head += f" · ✅ handled by **{handler}** {fmt_time(t.handled_at, zone)}"
    return head


def render_transcript(
    services: Services, conversation_id: str | None, zone: str | None = None
) -> str:
    """The transcript as markdown: each message with role, time and content; bot messages
    also with decision (+reason), answer mode, grounding outcome, latency, the customer's
    rating, the follow-up rewrite it searched with, the draft the answer check withheld (and
    why) and the retrieved sources with their scores; staff replies with who sent them. The
    header shows why the conversation was handed off, the contact details the customer left
    and who handled it; labels and staff notes follow. Times are in `zone` (a name from
    chatbot.ui.times.zone_name; UTC by default)."""
    if not conversation_id:
        return NOTHING_CHOSEN
    t = services.conversations.transcript(conversation_id)
    if t is None:
        return f"Conversation {code(conversation_id)} was not found."
    # A multi-line first message must not break the heading.
    lines = [f"### {escape_text(one_line(t.title))}", _head(t, zone)]
    if t.labels:
        lines.append("Labels: " + " ".join(f"`{x}`" for x in t.labels))
    lines += ["", "---", ""]
    for m in t.messages:
        lines += _message_markdown(m, zone)
    if t.notes:
        lines += ["---", "", "#### Staff notes", ""]
        for n in t.notes:
            written = fmt_time(n.created_at, zone)
            lines.append(f"- **{escape_text(n.author)}** · {written}: {escape_text(n.text)}")
    return "\n".join(lines).rstrip() + "\n"
