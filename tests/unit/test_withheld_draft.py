"""The draft the answer check withheld from the customer: shown to staff in the transcript,
apart from the answer and escaped like customer text, and carried in both export formats."""

from __future__ import annotations

import csv
import io
import json
import re

from chatbot.container import Services
from chatbot.staff.export_formats import CSV_COLUMNS, write_export
from chatbot.storage import repositories as repo
from chatbot.ui.transcript import render_transcript

QUESTION = "How long do refunds take?"
SHOWN = "Refunds go back to your card."
# Model output that tries markdown of its own: an image, a link, HTML and a formula.
DRAFT = (
    "Refunds take 90 days ![x](http://evil.example/pixel.png).\n\n"
    "[Call us](javascript:alert(1)) <b>now</b>\n"
    '=HYPERLINK("http://evil.example")'
)
REJECTION = "unsupported_number"


def store_turn(services: Services, draft: str | None, rejection: str | None) -> str:
    with services.sessions.begin() as s:
        conv = repo.create_conversation(s, "web", QUESTION)
        repo.add_user_message(s, conv, QUESTION)
        repo.add_assistant_message(
            s,
            conv.id,
            content=SHOWN,
            decision="answer",
            reason="matched",
            sources=[],
            latency_ms=900.0,
            first_token_ms=800.0,
            answer_mode="generated",
            grounded=True,
            draft=draft,
            draft_rejection=rejection,
        )
        return conv.id


def test_transcript_shows_the_withheld_draft_escaped_after_the_answer(services: Services) -> None:
    md = render_transcript(services, store_turn(services, DRAFT, REJECTION))
    heading = f"**⛔ Withheld draft** (`{REJECTION}`), not shown to the customer:"
    assert heading in md
    # After the answer the customer saw, never in its place.
    assert md.index(SHOWN) < md.index(heading)
    quote = md[md.index(heading) + len(heading) :].strip().splitlines()
    # Every line of the draft is quoted, the blank one too, so the quote does not end early.
    assert quote == [
        "> Refunds take 90 days !\\[x\\](http://evil.example/pixel.png).",
        ">",
        "> \\[Call us\\](javascript:alert(1)) \\<b\\>now\\</b\\>",
        '> =HYPERLINK("http://evil.example")',
    ]
    # No bracket or angle bracket of the draft is left unescaped (no image, link or HTML).
    assert not re.search(r"(?<!\\)[\[\]<>]", "".join(line[1:] for line in quote))


def test_transcript_without_a_draft_has_no_withheld_section(services: Services) -> None:
    md = render_transcript(services, store_turn(services, None, None))
    assert SHOWN in md and "Withheld draft" not in md


def test_a_draft_without_a_recorded_reason_is_still_shown(services: Services) -> None:
    md = render_transcript(services, store_turn(services, "Refunds take 90 days.", None))
    assert "**⛔ Withheld draft**, not shown to the customer:\n\n> Refunds take 90 days." in md


def export_text(services: Services, fmt: str) -> str:
    out = io.StringIO(newline="")
    write_export(services.sessions, out, fmt)
    return out.getvalue()


def test_exports_carry_the_draft_and_csv_neutralises_its_formula(services: Services) -> None:
    formula = '=HYPERLINK("http://evil.example","x")'
    store_turn(services, formula, REJECTION)
    store_turn(services, None, None)

    [first, second] = [json.loads(line) for line in export_text(services, "jsonl").splitlines()]
    assert [(m["draft"], m["draft_rejection"]) for m in first["messages"]] == [
        (None, None),
        (formula, REJECTION),
    ]
    assert second["messages"][1]["draft"] is None

    rows = list(csv.DictReader(io.StringIO(export_text(services, "csv"), newline="")))
    assert CSV_COLUMNS[-5:-3] == ["draft", "draft_rejection"]
    bots = [r for r in rows if r["role"] == "assistant"]
    # The draft is kept, after the single quote that keeps a spreadsheet from running it.
    assert [(r["draft"], r["draft_rejection"]) for r in bots] == [
        ("'" + formula, REJECTION),
        ("", ""),
    ]
    assert {r["draft"] for r in rows if r["role"] == "user"} == {""}
