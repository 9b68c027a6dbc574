"""Chat examples for fine-tuning the generator, built from the knowledge base's FAQ entries.

Each phrasing of an entry is one example: the prompt the dialogue itself sends
(`chatbot.dialogue.prompts.build_prompt`: the rules, the worked examples, the entry's answer
as the reference and the phrasing as the customer's question) and the entry's answer as the
reply. So the model learns to answer from the reference, in the very format it is served with.

A share of whole FAQ entries is held out for evaluation and never trained on: all of an
entry's phrasings go to one side, so a held-out question is never answered from a reference
the model has seen. For the same seed and share, the held-out entries are those the retrieval
training holds out as near-domain questions (`chatbot.training.data.split_knowledge_base`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from chatbot.dialogue.prompts import build_prompt
from chatbot.generation.base import ChatMessage
from chatbot.training.data import Entry, KbPassage, TrainingDataError, entries_of
from knowledge_base import repository
from knowledge_base.language import CHINESE, ENGLISH, has_han
from knowledge_base.records import SearchHit

MIN_FAQ_ENTRIES = 2  # one held out leaves one to learn from


@dataclass(frozen=True)
class ChatExample:
    """One conversational prompt/completion example, as TRL's SFTTrainer reads it: the loss
    is on `completion` only."""

    entry_id: str
    question: str
    prompt: list[ChatMessage]
    completion: list[ChatMessage]

    def as_row(self) -> dict[str, list[ChatMessage]]:
        return {"prompt": self.prompt, "completion": self.completion}


@dataclass(frozen=True)
class GeneratorData:
    train: list[ChatExample]
    eval: list[ChatExample]
    eval_entries: tuple[str, ...]  # the held-out entries, whole

    @property
    def train_entries(self) -> set[str]:
        return {e.entry_id for e in self.train}


def read_entries(sessions: sessionmaker[Session]) -> list[Entry]:
    """The knowledge base's entries, in document order (no embeddings read)."""
    with sessions() as s:
        passages = [KbPassage(pid, meta) for pid, _, meta in repository.iter_passage_meta(s)]
    return entries_of(passages)


def build_examples(entries: list[Entry], holdout_entries: float, seed: int) -> GeneratorData:
    """The examples of the FAQ entries, a share `holdout_entries` of the entries held out
    (at least one, never all), chosen by `seed` alone (the same knowledge base and seed give
    the same split)."""
    faq = sorted((e for e in entries if e.is_faq), key=lambda e: e.entry_id)
    if len(faq) < MIN_FAQ_ENTRIES:
        raise TrainingDataError(
            f"the knowledge base has {len(faq)} FAQ entries; training the "
            f"generator needs at least {MIN_FAQ_ENTRIES}: add FAQ entries "
            "(`chatbot ingest faq.csv`) and train again"
        )
    # The retrieval training's choice (chatbot.training.data.split_knowledge_base).
    random.Random(seed).shuffle(faq)
    n_out = min(len(faq) - 1, max(1, round(len(faq) * holdout_entries)))
    held, kept = faq[:n_out], faq[n_out:]
    return GeneratorData(
        train=[x for e in kept for x in examples_of(e)],
        eval=[x for e in held for x in examples_of(e)],
        eval_entries=tuple(e.entry_id for e in held),
    )


def examples_of(entry: Entry) -> list[ChatExample]:
    """One example per distinct phrasing of an FAQ entry."""
    answer = _answer(entry)
    if answer is None:
        return []
    out = []
    for question in dict.fromkeys(entry.phrasings):
        # Chinese questions are answered in Chinese, as the dialogue asks for them.
        language = CHINESE if has_han(question) else ENGLISH
        hit = SearchHit(
            entry_id=entry.entry_id,
            passage_id=answer.pid,
            title=answer.meta.title,
            answer=answer.meta.answer,
            score=1.0,
            kind=answer.meta.kind,
            matched_text=question,
            url=answer.meta.url,
            category=answer.meta.category,
            document=answer.meta.document,
            page=answer.meta.page,
        )
        out.append(
            ChatExample(
                entry.entry_id,
                question,
                build_prompt(question, [hit], language),
                [ChatMessage(role="assistant", content=answer.meta.answer.strip())],
            )
        )
    return out


def _answer(entry: Entry) -> KbPassage | None:
    """The entry's answer passage; its `meta.answer` is the answer as the dialogue's search
    hits carry it (without the title in front)."""
    return next(
        (p for p in entry.passages if p.meta.kind != "question" and p.meta.answer.strip()), None
    )
