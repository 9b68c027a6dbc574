"""Answers in the customer's language from a knowledge base written in another.

A small model answers a Chinese question from an English passage poorly when it has to do
both at once (write the answer and translate it): measured on the answer benchmark, 22 of 23
of the 0.5B model's Chinese drafts from English passages failed the check, most of them
rightly (the question repeated, a bare "可以。"). Split in two steps, each is something it does
well: it answers in the passage's language, where the answer gets the full word-level check,
and then each checked sentence is translated on its own and checked against that one sentence
(its numbers, contacts and links, its meaning by multilingual similarity, a leading yes or no).
A translation that fails is replaced by its checked source sentence: the customer may read a
sentence in the knowledge base's language, never one the product has not checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from chatbot.answers.contacts import ContactPolicy, contacts_in
from chatbot.answers.grounding import MIN_CONTENT_WORDS, AnswerCheck, PassageVectors, numbers_in
from chatbot.core import text as tx
from chatbot.dialogue.extractive import join_sentences
from chatbot.dialogue.prompts import language_name
from chatbot.generation.base import ChatMessage, GenerationTimeout, Generator
from knowledge_base.embedders import Embedder
from knowledge_base.language import detect

TRANSLATE_RULES = (
    "Translate the customer support answer into {language}. Keep every number, price, time, "
    "name, e-mail address and link exactly as written. Reply with the translation only."
)


def translation_prompt(text: str, language: str) -> list[ChatMessage]:
    return [
        {"role": "system", "content": TRANSLATE_RULES.format(language=language_name(language))},
        {"role": "user", "content": text},
    ]


def units(text: str) -> list[str]:
    """The text's sentences, a short one ("No.", "Yes,") joined to the one after it: alone it
    translates to a word whose meaning the check cannot judge ("不。" or "是。")."""
    out: list[str] = []
    held = ""
    for sentence in tx.split_sentences(text):
        joined = join_sentences([held, sentence]) if held else sentence
        if tx.content_size(sentence) < MIN_CONTENT_WORDS:
            held = joined
            continue
        out.append(joined)
        held = ""
    if held:
        out.append(held)
    return out


class Translator:
    """Translates checked sentences with the turn's generator, each checked against its
    source sentence."""

    def __init__(
        self,
        generator: Generator,
        embedder: Embedder,
        cache: PassageVectors,
        *,
        min_similarity: float,
        policy: ContactPolicy,
        max_new_tokens: int,
    ) -> None:
        self.generator = generator
        self.embedder = embedder
        self.cache = cache
        self.min_similarity = min_similarity
        self.policy = policy
        self.max_new_tokens = max_new_tokens
        self.failed = 0  # sentences shown untranslated, this translator's life

    def translate(self, text: str, language: str, deadline: float | None) -> Iterator[str]:
        """`text` in `language`, one unit (`units`) at a time: its checked translation, or
        the unit itself where the translation failed or the turn ran out of time."""
        out_of_time = False
        for unit in units(text):
            translated = "" if out_of_time else self._generate(unit, language, deadline)
            out_of_time = out_of_time or translated is None
            if translated and self.faithful(unit, translated, language):
                yield translated
            else:
                self.failed += 1
                yield unit

    def _generate(self, unit: str, language: str, deadline: float | None) -> str | None:
        """The model's translation of `unit` (None: the turn's deadline passed)."""
        prompt = translation_prompt(unit, language)
        pieces = self.generator.stream(prompt, self.max_new_tokens, deadline=deadline)
        try:
            return "".join(pieces).strip()
        except GenerationTimeout:
            return None
        finally:
            getattr(pieces, "close", lambda: None)()

    def faithful(self, source: str, translated: str, language: str) -> bool:
        """Whether `translated` says what `source` says, in `language`: every sentence of it
        passes the answer check against `source` alone, with the same numbers."""
        if not translated or detect(translated, default=language) != language:
            return False
        if sorted(numbers_in(translated)) != sorted(numbers_in(source)):
            return False  # a number dropped, or one added
        if _contacts(translated) != _contacts(source):
            return False  # an address or link dropped, changed ("订单@northwind.example") or added
        check = AnswerCheck(
            [source], self.embedder, self.min_similarity, self.cache, self.policy, question=""
        )
        wanted = tx.reply_word(source)[0]
        for sentence in tx.split_sentences(translated):
            if tx.content_size(sentence) < MIN_CONTENT_WORDS and not numbers_in(sentence):
                # A short opening ("不，", "是的。"): right only as the source's own yes or no.
                said = tx.reply_word(sentence)[0] or (tx.NO if tx.is_negated(sentence) else None)
                if said != wanted:
                    return False
                continue
            if not check.sentence(sentence).supported:
                return False
        return True


def _contacts(text: str) -> set[str]:
    return {c.key for c in contacts_in(text)}
