"""The generator's training examples: the product's own prompt with the entry's answer as the
reference, whole entries held out for evaluation and never trained on, a split that depends on
the seed alone."""

from __future__ import annotations

import pytest

from chatbot.container import Services
from chatbot.dialogue.prompts import SYSTEM_PROMPT, build_prompt
from chatbot.generation.base import ChatMessage
from chatbot.training import data
from chatbot.training.data import Entry, KbPassage, TrainingDataError
from chatbot.training.generator_data import build_examples, examples_of, read_entries
from knowledge_base.records import PassageMeta, SearchHit


def entry(entry_id: str, *questions: str, answer: str = "") -> Entry:
    """An FAQ entry as the index holds it: its phrasings, then the answer passage."""
    answer = answer or f"The answer of {entry_id}."
    title = questions[0]
    texts = [("question", q) for q in questions] + [("answer", f"{title}\n{answer}")]
    return Entry(
        entry_id,
        tuple(
            KbPassage(
                hash((entry_id, i)) % 10**9,
                PassageMeta(entry_id, kind, title, text, answer, None, None, "faq.csv", None),
            )
            for i, (kind, text) in enumerate(texts)
        ),
    )


def knowledge_base(count: int = 10) -> list[Entry]:
    return [
        entry(f"e{i}", *(f"Question {j} about topic {i}?" for j in range(3))) for i in range(count)
    ]


def last_turn(example_prompt: list[ChatMessage]) -> str:
    return example_prompt[-1]["content"]


def test_each_phrasing_is_asked_in_the_product_prompt_with_its_answer_as_the_reference() -> None:
    faq = entry("ship", "How long is delivery?", "When will it arrive?", answer="2-4 days.")
    examples = examples_of(faq)
    assert [x.question for x in examples] == ["How long is delivery?", "When will it arrive?"]
    for x in examples:
        hit = SearchHit("ship", 0, "How long is delivery?", "2-4 days.", 1.0, "answer", "")
        assert x.prompt == build_prompt(x.question, [hit])
        assert x.prompt[0] == {"role": "system", "content": SYSTEM_PROMPT}
        # The answer alone is the reference, as in the dialogue's search hits (no title).
        assert last_turn(x.prompt) == (
            f"<reference>\n2-4 days.\n</reference>\n\nCustomer question: {x.question}"
        )
        assert x.completion == [{"role": "assistant", "content": "2-4 days."}]
        assert x.as_row() == {"prompt": x.prompt, "completion": x.completion}


def test_a_chinese_phrasing_asks_for_a_chinese_answer_and_repeats_are_asked_once() -> None:
    faq = entry("ship", "多久能到？", "多久能到？", "How long is delivery?", answer="2-4天。")
    examples = examples_of(faq)
    assert [x.question for x in examples] == ["多久能到？", "How long is delivery?"]
    assert last_turn(examples[0].prompt).endswith("Answer in Chinese.")
    assert "Answer in" not in last_turn(examples[1].prompt)


def test_held_out_entries_are_whole_and_never_reach_training() -> None:
    entries = knowledge_base(10)
    split = build_examples(entries, holdout_entries=0.2, seed=0)
    held = set(split.eval_entries)
    assert len(held) == 2
    assert split.train_entries.isdisjoint(held)
    assert split.train_entries | held == {e.entry_id for e in entries}
    assert {x.entry_id for x in split.eval} == held
    # Every phrasing of a held-out entry is evaluated, none trained on, and no training
    # prompt or answer holds a held-out question or answer.
    by_id = {e.entry_id: e for e in entries}
    held_texts = {q for e in held for q in by_id[e].phrasings}
    held_texts |= {f"The answer of {e}." for e in held}
    assert {x.question for x in split.eval} == {q for e in held for q in by_id[e].phrasings}
    for x in split.train:
        seen = last_turn(x.prompt) + x.completion[0]["content"]
        assert not [t for t in held_texts if t in seen]
    assert len(split.train) == 8 * 3 and len(split.eval) == 2 * 3


def test_the_split_depends_on_the_seed_alone_and_matches_the_retrieval_training() -> None:
    entries = knowledge_base(10)
    first = build_examples(entries, 0.2, seed=3)
    assert build_examples(list(reversed(entries)), 0.2, seed=3) == first
    assert build_examples(entries, 0.2, seed=4).eval_entries != first.eval_entries
    # The entries the retrieval training holds out as near-domain questions, too.
    retrieval = data.split_knowledge_base(entries, 0.2, 0.2, seed=3)
    assert first.eval_entries == retrieval.out_of_scope_entries


def test_prose_sections_are_not_examples_and_too_few_entries_are_refused() -> None:
    prose = Entry(
        "guide#1",
        (KbPassage(1, PassageMeta("guide#1", "text", "Guide", "Some text.", "", None, None, "g")),),
    )
    split = build_examples([*knowledge_base(3), prose], 0.2, seed=0)
    assert "guide#1" not in split.train_entries | set(split.eval_entries)
    assert len(split.eval_entries) == 1  # at least one held out
    with pytest.raises(TrainingDataError, match="at least 2"):
        build_examples([knowledge_base(1)[0], prose], 0.2, seed=0)


def test_the_entries_are_read_from_the_knowledge_base(services: Services) -> None:
    services.kb.ingest_bytes(
        "faq.csv",
        b"id,question,answer\n"
        b"r,How do I return an item?,By mail.\n"
        b"r,Can I send it back?,By mail.\n",
    )
    (faq,) = read_entries(services.sessions)
    assert [x.question for x in examples_of(faq)] == [
        "How do I return an item?",
        "Can I send it back?",
    ]
    assert {x.completion[0]["content"] for x in examples_of(faq)} == {"By mail."}
