"""The answer / decline / hand-off decision for one turn. Pure logic, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base.records import SearchHit

ANSWER, FALLBACK, HANDOFF = "answer", "fallback", "handoff"

# Explicit requests for a person: "talk to a human", "connect me to an agent", "I want a real
# person", or just "agent please". The human word must be the object of the request: "I need help
# since someone stole my card" or "Do I need to notify someone ...?" are questions, not requests,
# and "transfer $20 to another person" is a banking task.
_HUMAN = (
    r"(humans?|persons?|people|agents?|representatives?|reps?|operators?|somebody|someone|"
    r"staff|manager|supervisor)"
)
_WHO = (
    r"(?:(?:a|an|the|some|your|another|one\s+of\s+your)\s+)?"
    rf"(?:(?:real|live|actual|human)\s+)?{_HUMAN}"
)
_TEAM = r"(?:(?:the|your)\s+)?(?:customer\s+)?(?:service|support|care)(?:\s+team)?"
_HANDOFF_PATTERNS = [
    re.compile(rf"\b(talk|speak|chat)\s+(to|with)\s+({_WHO}|{_TEAM})\b", re.I),
    re.compile(
        rf"\b(connect|transfer|put|pass)\s+(me|us|this|this\s+chat)\s+(through\s+|over\s+)?"
        rf"(to|with)\s+({_WHO}|{_TEAM})\b",
        re.I,
    ),
    re.compile(rf"\b((want|need|get)\s+(me\s+)?|give\s+me\s+){_WHO}\b", re.I),
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
