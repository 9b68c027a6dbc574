"""The sentences of a passage that answer a question: the reply when the model's draft fails
the check ("Sunday 11 am-6 pm", not the whole stores section), and the reference text the model
is given (reading the prompt is most of a turn's time on a CPU, so it gets the relevant
sentences, not whole sections).

A sentence's relevance is its embedding similarity with the question plus a bonus for the
question's own words in it (names, days, products: what embeddings of short texts blur).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatbot.answers.grounding import PassageVectors
from chatbot.core import text as tx
from knowledge_base.embedders import Embedder
from knowledge_base.multilingual import similarity_of

LEXICAL_WEIGHT = 0.5  # the bonus of a sentence holding every content word of the question
# A sentence this short (in content words), or one that introduces a list, needs the next one.
SHORT_SENTENCE = 6
# Runner-up sentences this close to the best one are quoted too (they often continue it).
CLOSE_SCORE = 0.08


@dataclass(frozen=True)
class Scored:
    score: float
    index: int  # position in the passage
    sentence: str


class SentencePicker:
    """Ranks passage sentences against a question (vectors shared with the grounding check)."""

    def __init__(self, embedder: Embedder, cache: PassageVectors) -> None:
        self.embedder = embedder
        self.cache = cache

    def rank(self, question: str, passage: str) -> list[Scored]:
        """The passage's sentences, best first (headings are never picked alone)."""
        sentences, vectors = self.cache.sentences(passage)
        if not sentences:
            return []
        # (The embedder remembers single texts: the question is not embedded again.)
        q = np.asarray(self.embedder.encode([question]))[0]
        similarity = similarity_of(self.embedder)(np.asarray(vectors), q)
        scored = [
            Scored(float(similarity[i]) + LEXICAL_WEIGHT * tx.overlap(question, s), i, s)
            for i, s in enumerate(sentences)
        ]
        return sorted(scored, key=lambda x: -x.score)

    def best_score(self, question: str, passage: str) -> float:
        """The score of the passage's best sentence for `question` (-inf for no sentence)."""
        ranked = self.rank(question, passage)
        return ranked[0].score if ranked else float("-inf")

    def answer(self, question: str, passage: str) -> list[str]:
        """The one to three sentences of `passage` that answer `question`, in passage order."""
        ranked = self.rank(question, passage)
        if not ranked:
            return []
        sentences = tx.split_sentences(passage)
        best = ranked[0]
        chosen = {best.index}
        if (
            tx.content_size(best.sentence) < SHORT_SENTENCE or best.sentence.endswith((":", "："))
        ) and best.index + 1 < len(sentences):
            chosen.add(best.index + 1)
        for runner_up in ranked[1:2]:
            if best.score - runner_up.score <= CLOSE_SCORE:
                chosen.add(runner_up.index)
        for i in sorted(chosen):
            if i > 0 and tx.refers_back(sentences[i]):  # quoted with the one before it
                chosen.add(i - 1)
        return [sentences[i] for i in sorted(chosen)]

    def relevant(self, question: str, passage: str, limit: int) -> str:
        """The passage cut to its `limit` most relevant sentences, in their order; a passage
        that short is returned whole."""
        sentences = tx.split_sentences(passage)
        if len(sentences) <= limit:
            return passage
        keep = sorted(s.index for s in self.rank(question, passage)[:limit])
        return join_sentences([sentences[i] for i in keep])


def join_sentences(sentences: list[str]) -> str:
    """Sentences as one text: CJK sentences run on, others are spaced; a list item or a line
    without a final stop gets a line of its own."""
    out = ""
    for sentence in sentences:
        if out:
            ends = out.rstrip()[-1:]
            if ends in "。！？；":
                pass
            elif ends in ".!?":
                out += " "
            else:
                out += "\n"
        out += sentence
    return out
