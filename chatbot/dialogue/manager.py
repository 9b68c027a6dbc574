"""DialogueManager: one customer turn = retrieve -> decide -> answer -> check -> store.

How an answer is produced (stored as `answer_mode` on the message):
- `approved`: the best FAQ entry is a near-certain match, so its stored answer is the reply;
- `generated`: the local model writes the answer from the relevant sentences of the retrieved
  passages; each sentence is shown only once the grounding check has passed it (AnswerGate),
  so nothing the customer reads is withdrawn later;
- `passage`: the model's draft failed the check before any of it was shown, and the reply is
  the passage sentences that answer the question (`dialogue.extractive`), not the whole passage;
- `canned`: decline, handoff and contact replies.

A draft, or the part of it after the shown sentences, that the check withheld is stored with
the reason (`draft`, `draft_rejection`) for staff review. A question in two parts is searched
part by part, and the answer is built from the best entry for each part. A question in another
language than its passages (a Chinese customer, an English FAQ) is answered in the passages'
language with the full check, and each checked sentence is then translated and checked against
it (`dialogue.translation`); a translation that fails shows its checked sentence instead.

Knowledge-base text shown as written (an approved answer, a passage, a source's snippet) goes
out without the contacts and links that the shop's allow-list does not name (`answers.contacts`).

A turn is bounded: a message over `max_message_chars` is answered with a request to shorten it
and is not stored; the prompt is cut to what the model can read; past `turn_timeout_s` the
model stops and the answer is what was shown (status `timeout`); a reply closed mid-stream (the
customer left) stops the model and keeps what was shown (`abandoned`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session, sessionmaker

from chatbot.answers.answer_gate import AnswerGate
from chatbot.answers.contacts import ContactPolicy
from chatbot.answers.grounding import AnswerCheck, GroundingResult, PassageVectors
from chatbot.core.events import Event, EventSink, NoEvents, publish_safely
from chatbot.core.i18n import gettext_for
from chatbot.core.vocabulary import AnswerMode, DecisionKind, EventKind, MessageStatus, Reason
from chatbot.dialogue import decision as dec
from chatbot.dialogue import handoff
from chatbot.dialogue.extractive import SentencePicker, join_sentences
from chatbot.dialogue.followup import rewrite_query
from chatbot.dialogue.prompts import build_prompt, fit_prompt
from chatbot.dialogue.question_parts import split_question
from chatbot.dialogue.replies import (
    ERROR_TEXT,
    FALLBACK_TEXT,
    NOT_SENT_TEXT,
    PROMPT_FOR_QUESTION,
    SNIPPET_CHARS,
    EmptyMessageError,
    MessageNotSent,
    Reply,
    Source,
    too_long_text,
)
from chatbot.dialogue.translation import Translator
from chatbot.generation.base import GenerationTimeout, Generator, GeneratorUnavailable
from chatbot.privacy.masking import mask_repeated
from chatbot.storage import repositories as repo
from chatbot.storage.db import unavailable_as_error
from chatbot.storage.repositories import SourceRecord
from knowledge_base.language import ENGLISH, detect, tokens
from knowledge_base.records import SearchHit
from knowledge_base.service import KnowledgeBase
from knowledge_base.threshold import ThresholdCalibrator

# The reply types and texts live in chatbot.dialogue.replies; front ends import them here.
__all__ = [
    "ABANDONED",
    "APPROVED",
    "CANNED",
    "ERROR_TEXT",
    "FALLBACK_TEXT",
    "GENERATED",
    "NOT_SENT_TEXT",
    "PASSAGE",
    "PROMPT_FOR_QUESTION",
    "SNIPPET_CHARS",
    "TIMEOUT",
    "TOO_LONG",
    "DialogueManager",
    "EmptyMessageError",
    "MessageNotSent",
    "Reply",
    "Source",
    "too_long_text",
]

log = logging.getLogger(__name__)

# How answers are produced (stored as `answer_mode`).
APPROVED, GENERATED, PASSAGE, CANNED = (
    AnswerMode.APPROVED,
    AnswerMode.GENERATED,
    AnswerMode.PASSAGE,
    AnswerMode.CANNED,
)
TOO_LONG = Reason.TOO_LONG  # the reason of a reply refusing an over-long message
# Stored statuses besides complete and error.
TIMEOUT, ABANDONED = MessageStatus.TIMEOUT, MessageStatus.ABANDONED
# Why a draft was withheld when the turn ran out of time before a checked sentence.
DRAFT_TIMEOUT = "timeout"
# The model reads this many of each passage's most relevant sentences (short passages whole).
PROMPT_SENTENCES = 4
# At start, passages' sentence vectors are computed for at most this long: about 130 passages
# with the default embedder on one thread (the sample knowledge base's 39 take about 17 s).
# Each one not computed then costs the first turn that uses it about 0.1 s per sentence.
PRELOAD_SECONDS = 60.0


def _separated(before: str, piece: str) -> str:
    """`piece` as it continues `before`: a space between sentences, except after CJK ones."""
    if not before or before[-1:].isspace() or before[-1:] in "。！？；":
        return piece
    return " " + piece.lstrip()


def _taking_message() -> contextlib.AbstractContextManager[None]:
    return unavailable_as_error("store the customer's message", MessageNotSent)


@dataclass(frozen=True)
class _Turn:
    text: str
    query: str
    rewritten: str | None
    decision: dec.Decision
    threshold: float
    language: str
    # A question in parts: each part with the best entry for it (empty: one question).
    parts: tuple[tuple[str, SearchHit], ...] = ()
    # The customer's contact details on file, confirmed by a handoff reply.
    contact: str | None = None


class DialogueManager:
    """Runs customer turns against the knowledge base, a generator and SQL storage."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kb: KnowledgeBase,
        generator: Generator,
        *,
        thresholds: ThresholdCalibrator | None = None,
        top_k: int,
        min_score: float | None = None,
        handoff_after_declines: int,
        max_new_tokens: int,
        grounding_min_similarity: float = 0.5,
        approved_answers: bool = True,
        redact: Callable[[str], str] | None = None,
        max_message_chars: int = 2000,
        turn_timeout_s: float = 60.0,
        contacts: ContactPolicy | None = None,
        events: EventSink | None = None,
        translate_answers: bool = False,
    ) -> None:
        self._sessions = sessions
        # Told about handoffs and customers writing in handed-off conversations (webhooks);
        # it only records them, after the turn's transaction.
        self.events: EventSink = events or NoEvents()
        self.kb = kb
        self.generator = generator
        self.thresholds = thresholds or ThresholdCalibrator(kb, sessions)
        self.top_k = top_k
        self.min_score = min_score
        self.handoff_after_declines = handoff_after_declines
        self.max_new_tokens = max_new_tokens
        self.grounding_min_similarity = grounding_min_similarity
        self.approved_answers = approved_answers
        self.max_message_chars = max_message_chars
        self.turn_timeout_s = turn_timeout_s
        # The shop's allow-list of contacts and link hosts (empty: any the passages name).
        self.contacts = contacts or ContactPolicy()
        # Applied to the customer's message before it is stored (personal data masking), and
        # to fixed replies, whose only data is the customer's contact; the customer's own
        # screen and the retrieval query keep the original words. Answers are stored as
        # shown (knowledge-base text is the shop's), except what repeats the customer's data.
        self.redact = redact or (lambda text: text)
        # Passage sentence vectors (the prompt's sentence choice, the check, extractive
        # answers), kept between turns.
        self._passage_vectors = PassageVectors(kb.embedder)
        self._picker = SentencePicker(kb.embedder, self._passage_vectors)
        # A question in another language than its passages: answered in theirs, then
        # translated sentence by sentence (chatbot.dialogue.translation).
        self.translator: Translator | None = (
            Translator(
                generator,
                kb.embedder,
                self._passage_vectors,
                min_similarity=grounding_min_similarity,
                policy=self.contacts,
                max_new_tokens=max_new_tokens,
            )
            if translate_answers
            else None
        )

    def warm_up(self) -> None:
        """Everything the first customer would otherwise wait for: the embedder and the
        generator loaded and run once, the decline threshold calibrated, the passages'
        sentence vectors computed (for a large knowledge base, as many as PRELOAD_SECONDS
        allow; the rest on first use), the language tools loaded (language detection, the
        Chinese dictionary), and the fixed system prompt read by the model (engines that cache
        prompts keep it for every turn)."""
        self.kb.embedder.encode(["warm up", "预热"])
        detect("warm up the language model")
        tokens("预热中文词典")
        passages = [m.answer for m in self.kb.snapshot().meta.values()]
        cached = self._passage_vectors.preload(passages, PRELOAD_SECONDS)
        log.info("sentence vectors of %d passages computed at start", cached)
        try:
            if self.min_score is None:
                self.thresholds.all()  # every language's
        except Exception as exc:  # e.g. a read-only database: the first question tries again
            log.warning("decline threshold not calibrated at start (%s)", type(exc).__name__)
        self.generator.warm_up()
        try:
            for _ in self.generator.stream(build_prompt("Hello", []), 1):
                pass
        except GeneratorUnavailable as exc:  # the server may come up later; turns try again
            log.warning("the generator is not answering at start: %s", exc)

    # ---- decision ------------------------------------------------------------------------
    def threshold(self, language: str = ENGLISH) -> float:
        """The decline threshold for questions in `language`: the setting when given, else
        the calibrated one."""
        if self.min_score is not None:
            return self.min_score
        return self.thresholds.current(language).threshold

    def approve_threshold(self, threshold: float) -> float:
        """Near-certain matches, answered with the stored FAQ answer: halfway from the decline
        threshold to a perfect match."""
        return threshold + (1.0 - threshold) / 2

    def retrieve_and_decide(self, text: str, previous_declines: int = 0) -> dec.Decision:
        """Search the knowledge base for `text` and decide, without generating."""
        hits = self.kb.search(text, k=self.top_k)
        return self.decide_for_hits(text, hits, previous_declines, self.threshold(detect(text)))

    def decide_for_hits(
        self, text: str, hits: list[SearchHit], declines: int, threshold: float
    ) -> dec.Decision:
        """The decision for already-retrieved hits (shared by turns and `chatbot eval`): an
        angry customer is handed off, otherwise `decision.decide` rules on the scores."""
        if handoff.is_angry(text) and not handoff.wants_human(text):
            return dec.Decision(DecisionKind.HANDOFF, Reason.ANGRY, hits)
        return dec.decide(text, hits, threshold, declines, self.handoff_after_declines)

    # ---- a turn ---------------------------------------------------------------------------
    def start_conversation(self, channel: str = "api", customer_id: str | None = None) -> str:
        """A new, empty conversation's id (the HTTP API hands it out before the first
        message); its first message gives it its title. `customer_id`: the shop's signed-in
        customer, already verified by the front end."""
        with _taking_message(), self._sessions.begin() as s:
            return repo.create_conversation(s, channel, title="", customer_id=customer_id).id

    def respond(self, text: str, conversation_id: str | None = None, channel: str = "web") -> Reply:
        """Store the customer's message, decide, and return a streaming Reply.

        The message is committed before anything else can fail, so a crash loses nothing.
        Raises MessageNotSent when it cannot be stored (nothing was taken or answered).
        """
        text = text.strip()
        if not text:
            raise EmptyMessageError(PROMPT_FOR_QUESTION)
        if len(text) > self.max_message_chars:
            language = detect(text[: self.max_message_chars])
            return self._too_long_reply(conversation_id, len(text), language)
        started = time.perf_counter()
        deadline = time.monotonic() + self.turn_timeout_s
        with _taking_message(), self._sessions.begin() as s:
            conv = repo.get_conversation(s, conversation_id) if conversation_id else None
            stored_text = self.redact(text)
            if conv is None:
                conv = repo.create_conversation(s, channel, title=stored_text)
            elif not conv.title:  # started empty (`start_conversation`): named by its first
                conv.title = stored_text[:200]
            history = repo.history(s, conv.id)
            # A message with no telling words ("ok", an order number) keeps the
            # conversation's language.
            language = detect(text, default=getattr(conv, "language", None) or ENGLISH)
            message = repo.add_user_message(s, conv, stored_text, language=language)
            conv_id = conv.id
            handed_off = conv.needs_human
            on_file = conv.contact
            declines = dec.consecutive_declines(repo.recent_decisions(s, conv_id))
        if handed_off:  # a person has (or will) take over: they want to know
            publish_safely(
                self.events,
                Event(EventKind.CUSTOMER_MESSAGE, conv_id, message.id, {"language": language}),
            )
        typed = text if stored_text != text else ""
        # After a handoff the customer was asked for an address; a later one replaces it,
        # unless it is only a guess (a bare number) and better details are on file.
        found = handoff.find_contact(text)
        contact = found.text if found and handoff.replaces_contact(found, on_file) else None
        if contact and handed_off:
            return self._contact_reply(conv_id, contact, started, language)
        try:
            turn = self._plan(text, history, declines, language)
        except Exception as exc:
            log.exception("retrieval failed")
            reply = Reply(conv_id, DecisionKind.FALLBACK, Reason.ERROR, [], language=language)
            reply._pieces = self._store_error(reply, [], started, exc)
            return reply
        d = turn.decision
        # Sources are the passages the answer is built from, not every retrieved entry.
        shown = self._used(turn) if d.kind == DecisionKind.ANSWER else []
        reply = Reply(
            conv_id,
            d.kind,
            d.reason,
            [Source.from_hit(h, self.contacts) for h in shown],
            rewritten_query=turn.rewritten,
            language=language,
            _typed=typed,
            _cited=shown,
        )
        if d.kind == DecisionKind.HANDOFF and contact:  # "... email me at jane@example.com"
            with self._sessions.begin() as s:
                repo.set_contact(s, conv_id, contact)
        # A handoff reply confirms the contact instead of asking for one.
        if d.kind == DecisionKind.HANDOFF:
            turn = replace(turn, contact=contact or on_file)
        reply._pieces = self._run(reply, turn, started, deadline)
        return reply

    def _plan(
        self, text: str, history: list[tuple[str, str]], declines: int, language: str
    ) -> _Turn:
        threshold = self.threshold(language)
        questions = split_question(text)
        if len(questions) > 1:
            # The question and its parts embedded in one call (the embedder remembers them
            # for the searches below): one batch costs much less than three single calls.
            self.kb.embedder.encode([text, *questions])
        hits = self.kb.search(text, k=self.top_k)
        query, rewritten = text, rewrite_query(text, history)
        if rewritten:
            # A follow-up: search with the conversation too, and keep whichever reading of the
            # question the knowledge base supports better.
            contextual = self.kb.search(rewritten, k=self.top_k)
            if contextual and (not hits or contextual[0].score > hits[0].score):
                hits, query = contextual, rewritten
            else:
                rewritten = None
        decision = self.decide_for_hits(text, hits, declines, threshold)
        # (A follow-up combined with the previous question is one question, not two parts.)
        one = rewritten or decision.kind == DecisionKind.HANDOFF
        parts = () if one else self._parts(questions, threshold)
        if parts and decision.kind == DecisionKind.FALLBACK:
            # The whole question matched nothing well, but its parts do: answer those.
            decision = dec.Decision(DecisionKind.ANSWER, Reason.PARTS, [h for _, h in parts])
        return _Turn(text, query, rewritten, decision, threshold, language, parts)

    def _parts(self, questions: list[str], threshold: float) -> tuple[tuple[str, SearchHit], ...]:
        """A question in two or three parts (`split_question`): each part with its best
        entry, when at least two parts have one above the threshold (else the question is
        answered as one)."""
        if len(questions) < 2:
            return ()
        found: list[tuple[str, SearchHit]] = []
        for part in questions:
            hits = self.kb.search(part, k=self.top_k)
            if hits and hits[0].score >= threshold:
                # (Two parts may need the same entry: two facts of one long section.)
                found.append((part, hits[0]))
        return tuple(found) if len(found) >= 2 else ()

    @staticmethod
    def _used(turn: _Turn) -> list[SearchHit]:
        """The passages the answer is built from: the best entry of each part, else the best
        passage and any close runner-up."""
        if turn.parts:
            entries: dict[str, SearchHit] = {}
            for _, hit in turn.parts:
                entries.setdefault(hit.entry_id, hit)
            return list(entries.values())
        return dec.prompt_hits(turn.decision.hits)

    def _run(self, reply: Reply, turn: _Turn, started: float, deadline: float) -> Iterator[str]:
        first_token_ms: float | None = None
        d = turn.decision
        try:
            if d.kind != DecisionKind.ANSWER:
                reply.text = self._canned(d, turn.language, turn.contact)
                first_token_ms = (time.perf_counter() - started) * 1000
                yield reply.text
            elif (
                turn.rewritten is None
                and not turn.parts
                and self._approved(d.hits[0], turn.threshold, turn.language)
            ):
                # (A follow-up asks something new about the entry: the stored answer to its
                # main question would just repeat the previous reply, so it is generated.)
                reply.answer_mode, reply.grounded = APPROVED, True
                reply.text = self._as_written(d.hits[0])
                first_token_ms = (time.perf_counter() - started) * 1000
                yield reply.text
            else:
                reply.answer_mode = GENERATED
                for piece in self._generate(reply, turn, deadline):
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000
                    reply.text += piece
                    yield piece
                reply.text = reply.text.strip()
                if reply._closed:
                    self._abandoned(reply, d.hits, started, first_token_ms)
                    return
                if reply.draft_rejection == DRAFT_TIMEOUT:
                    self._store(reply, d.hits, started, first_token_ms, status=TIMEOUT)
                    return
        except GeneratorExit:
            # Closed at a yield. A canned or approved reply was shown whole: it is complete.
            if reply.answer_mode == GENERATED and not reply.stored:
                self._abandoned(reply, d.hits, started, first_token_ms)
            elif not reply.stored:
                self._store(reply, d.hits, started, first_token_ms)
            raise
        except GeneratorUnavailable as exc:
            log.error("generation failed: %s", exc)
            yield from self._store_error(reply, d.hits, started, exc)
            return
        except Exception as exc:
            log.exception("generation failed")
            yield from self._store_error(reply, d.hits, started, exc)
            return
        self._store(reply, d.hits, started, first_token_ms)

    def _abandoned(
        self, reply: Reply, hits: list[SearchHit], started: float, first_token_ms: float | None
    ) -> None:
        """The customer left mid-answer: what they were shown is kept, marked as cut off."""
        log.info("reply closed before its end; generation stopped")
        reply.text = reply.text.strip()
        self._store(reply, hits, started, first_token_ms, status=ABANDONED)

    def _approved(self, hit: SearchHit, threshold: float, language: str) -> bool:
        """A near-certain FAQ match (the question is nearly one of the entry's own phrasings)
        is answered with the entry's own, approved answer, when it is written in the
        customer's language (otherwise the model writes it in theirs, and it is checked)."""
        return (
            self.approved_answers
            and hit.kind == "question"
            and hit.similarity >= self.approve_threshold(threshold)
            and detect(hit.answer, default=language) == language
        )

    def _generate(self, reply: Reply, turn: _Turn, deadline: float) -> Iterator[str]:
        """The model's answer, sentence by sentence as each passes the check; where the first
        sentence fails (or none is finished in time), the passages' own answering sentences.

        A question in parts gets one short generation per part, each from that part's entry:
        a small model answers one question from one passage well, and two at once poorly.
        Sets `reply.draft` / `draft_rejection` for text the check withheld. Stops the model as
        soon as the answer is decided, and when the consumer closes the stream."""
        asked: list[tuple[str, list[SearchHit]]] = [(q, [h]) for q, h in turn.parts] or [
            (turn.query, dec.prompt_hits(turn.decision.hits))
        ]
        drafts: list[str] = []
        generated = False
        for question, used in asked:
            message = turn.text if not turn.parts else None
            # The passages' language, when the answer is translated into the customer's.
            source = self._translated_from(used, reply.language)
            gate = self._gate(used, question if turn.parts else turn.text, source is not None)
            shown_before = reply.text
            first = True
            checked = ""
            for piece in self._draft(reply, question, message, used, gate, deadline, source):
                if source is not None:
                    checked += piece  # shown once translated
                    continue
                if first and shown_before:
                    piece = _separated(shown_before, piece)
                first = False
                yield piece
            if reply._closed:
                return
            if gate.rejected is not None:
                reason = gate.rejected.reason
                # The first reason, except that running out of time marks the whole turn.
                if reply.draft_rejection is None or reason == DRAFT_TIMEOUT:
                    reply.draft_rejection = reason
                if gate.withheld:
                    drafts.append(gate.withheld)
                # Ids, sizes and reasons only: the draft may repeat the customer's data.
                log.info(
                    "generated draft withheld in conversation %s (%s, %d characters)",
                    reply.conversation_id,
                    reason,
                    len(gate.withheld),
                )
            if gate.shown_content:
                generated = True
            if source is not None and self.translator is not None:
                text = checked.strip() if gate.shown_content else self._extract(question, used)
                for piece in self.translator.translate(text, reply.language, deadline):
                    yield _separated(reply.text, piece) if reply.text else piece
                    if reply._closed:
                        return
            elif not gate.shown_content:
                extracted = self._extract(question, used)
                yield _separated(reply.text, extracted) if reply.text else extracted
        reply.draft = "\n\n".join(drafts) or None
        # `grounded` False: the model's draft failed, and what is shown is the passage's own.
        reply.grounded = generated
        if not generated:
            reply.answer_mode = PASSAGE

    def _translated_from(self, used: list[SearchHit], language: str) -> str | None:
        """The passages' language when it is not the customer's and answers are translated
        (else None: the model answers in the customer's language directly)."""
        if self.translator is None or not used:
            return None
        source = detect(" ".join(h.answer for h in used), default=language)
        return source if source != language else None

    def _gate(self, used: list[SearchHit], question: str, one_language: bool) -> AnswerGate:
        return AnswerGate(
            AnswerCheck(
                [h.answer for h in used],
                self.kb.embedder,
                self.grounding_min_similarity,
                self._passage_vectors,
                self.contacts,
                question,
                one_language=one_language,
            )
        )

    def _draft(
        self,
        reply: Reply,
        question: str,
        message: str | None,
        used: list[SearchHit],
        gate: AnswerGate,
        deadline: float,
        language: str | None = None,
    ) -> Iterator[str]:
        """One generation through `gate`: the checked text as it is released. A timeout is
        recorded on the gate as a rejection (`DRAFT_TIMEOUT`). `language`: the answer's, when
        it is not the customer's (it is translated afterwards)."""
        # The passages' sentence vectors (the prompt's sentence choice, the check), encoded
        # once per passage and kept; then each passage cut to its most relevant sentences.
        self._passage_vectors.get([h.answer for h in used])
        trimmed = [
            replace(h, answer=self._picker.relevant(question, h.answer, PROMPT_SENTENCES))
            for h in used
        ]
        budget = self.generator.context_tokens() - self.max_new_tokens
        prompt = fit_prompt(
            question,
            trimmed,
            self.generator.count_tokens,
            budget,
            message=message,
            language=language or reply.language,
        )
        pieces = self.generator.stream(prompt, self.max_new_tokens, deadline=deadline)
        try:
            for piece in pieces:
                released = gate.feed(piece)
                if released:
                    yield released
                if gate.rejected is not None or reply._closed:
                    break
            else:
                released = gate.finish()
                if released:
                    yield released
        except GenerationTimeout:
            log.warning("turn timed out after %.0f s", self.turn_timeout_s)
            gate.rejected = GroundingResult(False, DRAFT_TIMEOUT)
        finally:
            # However the loop ends (also by GeneratorExit), the model is told to stop.
            getattr(pieces, "close", lambda: None)()

    def _extract(self, question: str, used: list[SearchHit]) -> str:
        """The sentences that answer the question, as written, from the passage (of those the
        model was given) that holds the best of them, without what the allow-list does not
        name. (The best-scored entry is not always the one holding the fact: "when does the
        refund reach my card" scores the payments entry above the refunds one.)"""
        texts = [self._as_written(hit) for hit in used]
        best = max(texts, key=lambda text: self._picker.best_score(question, text))
        return join_sentences(self._picker.answer(question, best) or [best])

    def _as_written(self, hit: SearchHit) -> str:
        """An entry's own text, for the customer: without the contacts and links that the
        allow-list does not name (staff fix the entry; the log says which)."""
        text, removed = self.contacts.remove_disallowed(hit.answer)
        if removed:
            log.warning(
                "entry %s names %d contact(s) or link(s) not on the allow-list; removed from "
                "the answer (CHATBOT_ANSWERS__ALLOWED_*)",
                hit.entry_id,
                removed,
            )
        return text

    @staticmethod
    def _canned(d: dec.Decision, language: str, contact: str | None = None) -> str:
        if d.kind == DecisionKind.FALLBACK:
            return gettext_for(language)(FALLBACK_TEXT)
        return handoff.handoff_text(d.reason, language, contact)

    def _too_long_reply(self, conversation_id: str | None, length: int, language: str) -> Reply:
        """An over-long message is neither stored nor searched: the customer is told the
        limit. (Storing it would put megabytes in every staff view of the conversation.)"""
        log.info("message of %d characters refused (limit %d)", length, self.max_message_chars)
        text = too_long_text(length, self.max_message_chars, language)
        reply = Reply(
            conversation_id, DecisionKind.FALLBACK, TOO_LONG, [], text=text, language=language
        )
        reply._pieces = iter([text])
        return reply

    def _contact_reply(self, conv_id: str, contact: str, started: float, language: str) -> Reply:
        """The customer left an address after a handoff: keep it for the team and confirm."""
        text = handoff.contact_saved_text(contact, language)
        reply = Reply(
            conv_id, DecisionKind.HANDOFF, Reason.CONTACT, [], text=text, language=language
        )
        with self._sessions.begin() as s:
            repo.set_contact(s, conv_id, contact)

        def pieces() -> Iterator[str]:
            first_token_ms = (time.perf_counter() - started) * 1000
            try:
                yield reply.text
            finally:  # also when the customer leaves at once: the text was shown whole
                self._store(reply, [], started, first_token_ms)

        reply._pieces = pieces()
        return reply

    # ---- storage --------------------------------------------------------------------------
    def _store(
        self,
        reply: Reply,
        hits: list[SearchHit],
        started: float,
        first_token_ms: float | None,
        status: str = MessageStatus.COMPLETE,
        error: str | None = None,
    ) -> None:
        # Only refused messages have no conversation, and their replies are never stored.
        assert reply.conversation_id is not None
        # Every retrieved entry is stored with its score (also for declines), for review;
        # those the customer was shown are marked, so a reloaded chat shows them again.
        # (A part of a two-part question may cite a passage the whole question did not find.)
        cited = {(h.entry_id, h.page) for h in reply._cited}
        found = {(h.entry_id, h.page) for h in hits}
        extra = [h for h in reply._cited if (h.entry_id, h.page) not in found]
        sources = [
            SourceRecord(
                h.passage_id,
                h.entry_id,
                h.title,
                Source.from_hit(h).snippet,
                h.url,
                h.score,
                h.page,
                (h.entry_id, h.page) in cited,
            )
            for h in [*hits, *extra]
        ]
        with self._sessions.begin() as s:
            msg = repo.add_assistant_message(
                s,
                reply.conversation_id,
                content=self._stored(reply, reply.text, hits),
                decision=reply.decision,
                reason=reply.reason,
                sources=sources,
                latency_ms=(time.perf_counter() - started) * 1000,
                first_token_ms=first_token_ms,
                status=status,
                error=error,
                answer_mode=reply.answer_mode,
                grounded=reply.grounded,
                rewritten_query=reply.rewritten_query,
                draft=self._stored(reply, reply.draft, hits) if reply.draft else None,
                draft_rejection=reply.draft_rejection,
            )
            queued = False
            if reply.decision == DecisionKind.HANDOFF:
                # The dialogue's rule, not storage's: a handoff (also the confirmation of the
                # contact details left after one) puts the conversation in the queue.
                conv = repo.get_conversation(s, reply.conversation_id)
                queued = conv is not None and not (conv.needs_human and conv.handled_at is None)
                repo.mark_needs_human(s, reply.conversation_id, reply.reason)
            reply.message_id = msg.id
        reply.stored = True
        if queued:  # it entered the queue now (not a second handoff reply while waiting)
            payload = {"reason": reply.reason, "language": reply.language}
            event = Event(EventKind.HANDOFF_REQUESTED, reply.conversation_id, msg.id, payload)
            publish_safely(self.events, event)

    def _stored(self, reply: Reply, text: str, hits: list[SearchHit]) -> str:
        """The bot's `text` as stored. A fixed reply holds no knowledge-base text, only the
        customer's contact details at most: masked as their message is. An answer (or a
        withheld draft) is the knowledge base's and the model's text, stored as it is, except
        where it repeats personal data of the customer's message (a model may echo it);
        the shop's own contacts, which the passages name, stay."""
        if reply.answer_mode == CANNED:
            return self.redact(text)
        if not reply._typed:
            return text
        return mask_repeated(text, reply._typed, keep=[h.answer for h in hits])

    def _store_error(
        self, reply: Reply, hits: list[SearchHit], started: float, exc: Exception
    ) -> Iterator[str]:
        partial = reply.text
        error_text = gettext_for(reply.language)(ERROR_TEXT)
        reply.text = f"{partial.strip()}\n\n{error_text}".strip()
        error = f"{type(exc).__name__}: {exc}"
        self._store(reply, hits, started, None, status=MessageStatus.ERROR, error=error)
        yield ("\n\n" if partial else "") + error_text
