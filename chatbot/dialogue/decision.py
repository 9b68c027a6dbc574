"""The answer / decline / hand-off decision for one turn. Pure logic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.core.vocabulary import DecisionKind, Reason
from chatbot.dialogue.handoff import wants_human
from knowledge_base.records import SearchHit

__all__ = [
    "ANSWER",
    "FALLBACK",
    "HANDOFF",
    "Decision",
    "consecutive_declines",
    "decide",
    "prompt_hits",
    "wants_human",
]

ANSWER, FALLBACK, HANDOFF = DecisionKind.ANSWER, DecisionKind.FALLBACK, DecisionKind.HANDOFF


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind  # answer | fallback | handoff
    reason: str  # a Reason: matched | low_score | no_results | requested | repeated_declines ...
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
        return Decision(HANDOFF, Reason.REQUESTED, hits)
    if hits and hits[0].score >= min_score:
        return Decision(ANSWER, Reason.MATCHED, hits)
    if previous_declines + 1 >= handoff_after_declines:
        return Decision(HANDOFF, Reason.REPEATED_DECLINES, hits)
    return Decision(FALLBACK, Reason.NO_RESULTS if not hits else Reason.LOW_SCORE, hits)


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
