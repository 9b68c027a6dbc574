"""The answer / decline / hand-off decision for one turn. Pure logic, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base.records import SearchHit

ANSWER, FALLBACK, HANDOFF = "answer", "fallback", "handoff"

# Explicit requests for a person: a verb of asking/connecting near a word for a human.
_HUMAN = r"(human|person|agent|representative|rep|operator|somebody|someone|staff|real people)"
_HANDOFF_PATTERNS = [
    re.compile(
        rf"\b(talk|speak|chat|connect|transfer|put|get|want|need|give)\b.{{0,30}}\b{_HUMAN}\b",
        re.I,
    ),
    re.compile(rf"^\W*(a\s+)?(live\s+|real\s+)?{_HUMAN}\W*(please)?\W*$", re.I),
    re.compile(
        r"\b(customer service|support team|live chat|call me)\b.{0,20}\b(please|now)\b", re.I
    ),
]


def wants_human(text: str) -> bool:
    """True when the customer asks for a person ("talk to a human", "agent please")."""
    return any(p.search(text) for p in _HANDOFF_PATTERNS)


@dataclass(frozen=True)
class Decision:
    kind: str  # answer | fallback | handoff
    reason: str  # why: matched | low_score | no_results | requested | repeated_declines
    hits: list[SearchHit]


def decide(
    text: str,
    hits: list[SearchHit],
    min_score: float,
    previous_declines: int,
    handoff_after_declines: int,
) -> Decision:
    """Answer when the best entry clears the threshold; otherwise decline, and hand off when
    the customer asks for a person or has been declined too often in a row."""
    if wants_human(text):
        return Decision(HANDOFF, "requested", hits)
    if hits and hits[0].score >= min_score:
        return Decision(ANSWER, "matched", hits)
    if previous_declines + 1 >= handoff_after_declines:
        return Decision(HANDOFF, "repeated_declines", hits)
    return Decision(FALLBACK, "no_results" if not hits else "low_score", hits)


def consecutive_declines(decisions_newest_first: list[str]) -> int:
    count = 0
    for d in decisions_newest_first:
        if d != FALLBACK:
            break
        count += 1
    return count


def prompt_hits(hits: list[SearchHit], margin: float = 0.05, limit: int = 2) -> list[SearchHit]:
    """The passages worth showing the generator: the best one and any close runner-up."""
    if not hits:
        return []
    top = hits[0].score
    return [h for h in hits[:limit] if top - h.score <= margin]
