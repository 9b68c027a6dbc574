"""DialogueManager: one customer turn = retrieve -> decide -> prompt -> generate -> store."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from chatbot import decision as dec
from chatbot.generation.base import Generator
from chatbot.prompts import build_prompt
from chatbot.storage import repositories as repo
from chatbot.storage.repositories import SourceRecord
from knowledge_base.records import SearchHit
from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)

PROMPT_FOR_QUESTION = "Please type a question and I'll do my best to help."
FALLBACK_TEXT = (
    "I'm sorry, I don't know that: I couldn't find it in our help articles. "
    "Would you like me to connect you with a member of our support team? "
    'Just say "talk to a human".'
)
HANDOFF_TEXT = {
    "requested": (
        "Of course. I've passed this conversation to our support team, and a member of staff "
        "will pick it up here as soon as possible."
    ),
    "repeated_declines": (
        "I'm sorry I couldn't find an answer. I've passed this conversation to our support team, "
        "and a member of staff will pick it up here as soon as possible."
    ),
}
ERROR_TEXT = "Sorry, something went wrong while I was answering. Please try again."
SNIPPET_CHARS = 200


class EmptyMessageError(ValueError):
    """The customer sent nothing to answer."""


@dataclass(frozen=True)
class Source:
    entry_id: str
    title: str
    snippet: str
    score: float
    url: str | None = None
    document: str = ""

    @classmethod
    def from_hit(cls, hit: SearchHit) -> Source:
        text = " ".join(hit.answer.split())
        snippet = text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
        return cls(hit.entry_id, hit.title, snippet, hit.score, hit.url, hit.document)


@dataclass
class Reply:
    """One bot turn. Iterate it to stream the answer; it is stored when the stream ends."""

    conversation_id: str
    decision: str
    reason: str
    sources: list[Source]
    text: str = ""
    stored: bool = False
    _pieces: Iterator[str] = field(default_factory=lambda: iter(()), repr=False)

    def __iter__(self) -> Iterator[str]:
        return self._pieces


class DialogueManager:
    """Runs customer turns against the knowledge base, a generator and SQL storage."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kb: KnowledgeBase,
        generator: Generator,
        *,
        top_k: int,
        min_score: float,
        handoff_after_declines: int,
        max_new_tokens: int,
    ) -> None:
        self._sessions = sessions
        self.kb = kb
        self.generator = generator
        self.top_k = top_k
        self.min_score = min_score
        self.handoff_after_declines = handoff_after_declines
        self.max_new_tokens = max_new_tokens

    def decide(self, text: str, previous_declines: int = 0) -> dec.Decision:
        """Retrieve and decide without generating (used by `chatbot eval`)."""
        hits = self.kb.search(text, k=self.top_k)
        return dec.decide(
            text, hits, self.min_score, previous_declines, self.handoff_after_declines
        )

    def respond(self, text: str, conversation_id: str | None = None, channel: str = "web") -> Reply:
        """Store the customer's message, decide, and return a streaming Reply.

        The message is committed before anything else can fail, so a crash loses nothing.
        """
        text = text.strip()
        if not text:
            raise EmptyMessageError(PROMPT_FOR_QUESTION)
        started = time.perf_counter()
        with self._sessions.begin() as s:
            conv = repo.get_conversation(s, conversation_id) if conversation_id else None
            if conv is None:
                conv = repo.create_conversation(s, channel, title=text)
            repo.add_user_message(s, conv, text)
            conv_id = conv.id
            declines = dec.consecutive_declines(repo.recent_decisions(s, conv_id))
        try:
            decision = self.decide(text, declines)
        except Exception as exc:
            log.exception("retrieval failed")
            reply = Reply(conv_id, dec.FALLBACK, "error", [])
            reply._pieces = self._store_error(reply, started, exc)
            return reply
        # Sources are the passages the answer is built from, not every retrieved entry.
        shown = dec.prompt_hits(decision.hits) if decision.kind == dec.ANSWER else []
        reply = Reply(conv_id, decision.kind, decision.reason, [Source.from_hit(h) for h in shown])
        reply._pieces = self._run(reply, text, decision, started)
        return reply

    def _run(
        self, reply: Reply, text: str, decision: dec.Decision, started: float
    ) -> Iterator[str]:
        first_token_ms: float | None = None
        try:
            if decision.kind == dec.ANSWER:
                prompt = build_prompt(text, dec.prompt_hits(decision.hits))
                for piece in self.generator.stream(prompt, self.max_new_tokens):
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000
                    reply.text += piece
                    yield piece
                reply.text = reply.text.strip()
            else:
                reply.text = (
                    FALLBACK_TEXT
                    if decision.kind == dec.FALLBACK
                    else HANDOFF_TEXT.get(decision.reason, HANDOFF_TEXT["requested"])
                )
                first_token_ms = (time.perf_counter() - started) * 1000
                yield reply.text
        except Exception as exc:
            log.exception("generation failed")
            yield from self._store_error(reply, started, exc)
            return
        self._store(reply, decision.hits, started, first_token_ms)

    def _store(
        self,
        reply: Reply,
        hits: list[SearchHit],
        started: float,
        first_token_ms: float | None,
        status: str = "complete",
        error: str | None = None,
    ) -> None:
        # Every retrieved entry is stored with its score (also for declines), for review.
        sources = [
            SourceRecord(
                h.passage_id, h.entry_id, h.title, Source.from_hit(h).snippet, h.url, h.score
            )
            for h in hits
        ]
        with self._sessions.begin() as s:
            repo.add_assistant_message(
                s,
                reply.conversation_id,
                content=reply.text,
                decision=reply.decision,
                reason=reply.reason,
                sources=sources,
                latency_ms=(time.perf_counter() - started) * 1000,
                first_token_ms=first_token_ms,
                status=status,
                error=error,
            )
        reply.stored = True

    def _store_error(self, reply: Reply, started: float, exc: Exception) -> Iterator[str]:
        partial = reply.text
        reply.text = f"{partial}\n\n{ERROR_TEXT}".strip()
        self._store(reply, [], started, None, status="error", error=f"{type(exc).__name__}: {exc}")
        yield ("\n\n" if partial else "") + ERROR_TEXT
