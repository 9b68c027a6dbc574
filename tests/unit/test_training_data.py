"""The training data and held-out split built from a knowledge base: what is held out, that
none of it reaches training, and the rule-based variants."""

from __future__ import annotations

import pytest

from chatbot.container import Services
from chatbot.training import data
from chatbot.training.data import Entry, KbPassage, TrainingDataError
from chatbot.training.variants import normalise, variants
from knowledge_base.records import PassageMeta


def entry(entry_id: str, *questions: str, answer: str = "") -> Entry:
    """An FAQ entry as the index holds it: its phrasings, then the answer passage."""
    title = questions[0]
    texts = [("question", q) for q in questions]
    texts.append(("answer", f"{title}\n{answer or 'Answer of ' + entry_id}"))
    passages = tuple(
        KbPassage(
            hash((entry_id, i)) % 10**9,
            PassageMeta(entry_id, kind, title, text, answer, None, None, "faq.csv", None),
        )
        for i, (kind, text) in enumerate(texts)
    )
    return Entry(entry_id, passages)


def many_phrasings(count: int = 10, per_entry: int = 6) -> list[Entry]:
    return [
        entry(f"e{i}", *(f"Question {j} about topic {i}?" for j in range(per_entry)))
        for i in range(count)
    ]


def test_a_fifth_of_the_entries_are_held_out_whole_and_leave_the_index() -> None:
    entries = many_phrasings(10)
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    assert len(split.out_of_scope_entries) == 2
    removed = set(split.out_of_scope_entries)
    assert not [p for p in split.index if p.meta.entry_id in removed]
    # Every phrasing of a removed entry is asked, as a question the KB cannot answer.
    asked = {q.text for q in split.out_of_scope}
    for e in entries:
        if e.entry_id in removed:
            assert set(e.phrasings) == asked & set(e.phrasings)
    assert all(q.expected == "" for q in split.out_of_scope)
    assert {t.entry_id for t in split.train}.isdisjoint(removed)


def test_held_out_phrasings_are_asked_but_missing_from_the_index_and_never_the_first() -> None:
    entries = many_phrasings(10)
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    index_texts = {p.text for p in split.index}
    by_id = {e.entry_id: e for e in entries}
    assert len(split.in_scope) == 8  # one of six phrasings (a fifth, rounded down) per entry
    for q in split.in_scope:
        assert q.text not in index_texts
        assert q.text != by_id[q.expected].phrasings[0]
        assert not q.synthetic
    # The rest of each in-scope entry stays, its answer passage included.
    for t in split.train:
        assert by_id[t.entry_id].answer in index_texts
        assert set(t.phrasings) <= index_texts
    assert {q.fold for q in split.queries} == {0, 1}


def test_the_split_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    entries = many_phrasings(20)
    first = data.split_knowledge_base(entries, 0.2, 0.2, seed=1)
    again = data.split_knowledge_base(entries, 0.2, 0.2, seed=1)
    other = data.split_knowledge_base(entries, 0.2, 0.2, seed=2)
    assert first == again
    assert first.out_of_scope_entries != other.out_of_scope_entries


def test_no_held_out_text_reaches_the_training_pairs() -> None:
    entries = many_phrasings(10)
    # The same words in another entry (differently cased and punctuated) as a held-out
    # phrasing, and an in-scope entry that shares a phrasing with a held-out entry.
    split0 = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    held_question = split0.in_scope[0].text
    removed_id = split0.out_of_scope_entries[0]
    removed_text = next(e for e in entries if e.entry_id == removed_id).phrasings[1]
    kept_id = split0.train[0].entry_id
    entries = [
        entry(e.entry_id, *e.phrasings, held_question.upper().rstrip("?"), removed_text + "!")
        if e.entry_id == kept_id
        else e
        for e in entries
    ]
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    held = split.held_out_texts(entries)
    pairs = data.build_pairs(split, held, max_pairs=10_000, seed=0)
    assert pairs
    assert data.leaks(pairs, held) == []
    trained = {normalise(t) for p in pairs for t in (p.anchor, p.positive)}
    assert normalise(held_question) not in trained
    assert normalise(removed_text) not in trained
    for q in split.queries:
        assert normalise(q.text) not in trained
    removed = {e.entry_id for e in entries} - {t.entry_id for t in split.train}
    assert {p.entry for p in pairs}.isdisjoint(removed)
    # and `leaks` does find a held-out text when one is there
    assert data.leaks([data.Pair(held_question, "x", kept_id)], held) == [held_question]


def test_pairs_join_phrasings_of_one_entry_and_each_phrasing_with_its_answer() -> None:
    entries = many_phrasings(6, per_entry=3)
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    pairs = data.build_pairs(split, split.held_out_texts(entries), max_pairs=10_000, seed=0)
    by_id = {e.entry_id: e for e in entries}
    for p in pairs:
        e = by_id[p.entry]
        assert p.anchor in e.phrasings
        assert p.positive in e.phrasings or p.positive == e.answer
        assert p.anchor != p.positive
    assert any(p.positive == by_id[p.entry].answer for p in pairs)


def test_the_pair_cap_keeps_every_entry() -> None:
    entries = many_phrasings(10, per_entry=20)
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    pairs = data.build_pairs(split, split.held_out_texts(entries), max_pairs=40, seed=0)
    assert len(pairs) == 40
    counts = {t.entry_id: 0 for t in split.train}
    for p in pairs:
        counts[p.entry] += 1
    assert set(counts.values()) == {5}  # 40 pairs over 8 entries


def test_single_phrasing_entries_get_variants_which_stand_in_as_held_out_questions() -> None:
    entries = [entry(f"e{i}", f"How do I change setting number {i}?") for i in range(10)]
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0, min_in_scope=3)
    assert len(split.in_scope) == 3
    assert all(q.synthetic for q in split.in_scope)
    held = split.held_out_texts(entries)
    pairs = data.build_pairs(split, held, max_pairs=1000, seed=0)
    assert data.leaks(pairs, held) == []
    trained = {normalise(t) for p in pairs for t in (p.anchor, p.positive)}
    for q in split.in_scope:
        assert normalise(q.text) not in trained
    # The entries left with one phrasing are paired with variants of it.
    assert any(p.anchor.startswith("How can I change") for p in pairs)


def test_too_few_faq_entries_is_a_clear_error() -> None:
    with pytest.raises(TrainingDataError, match="has 4 FAQ entries; training needs at least 5"):
        data.split_knowledge_base(many_phrasings(4), 0.2, 0.2, seed=0)


def test_prose_sections_stay_in_the_index_and_out_of_the_questions() -> None:
    meta = PassageMeta(
        "guide#1", "text", "Guide", "Tents are waterproof.", "", None, None, "g.md", None
    )
    prose = Entry("guide#1", (KbPassage(999, meta),))
    entries = [*many_phrasings(6), prose]
    split = data.split_knowledge_base(entries, 0.2, 0.2, seed=0)
    assert prose.passages[0] in split.index
    assert "guide#1" not in {q.expected for q in split.queries}
    assert "guide#1" not in split.out_of_scope_entries


def test_the_knowledge_base_is_read_with_the_vectors_of_its_embedder(services: Services) -> None:
    services.kb.ingest_bytes(
        "faq.csv",
        b"id,question,answer\n"
        b"r,How do I return an item?,By mail.\n"
        b"r,Can I send it back?,By mail.\n",
    )
    passages = data.read_passages(services.sessions, services.kb.embedder.name)
    assert [p.text for p in passages] == [
        "How do I return an item?",
        "Can I send it back?",
        "How do I return an item?\nBy mail.",
    ]
    assert all(p.vector is not None and p.vector.shape == (256,) for p in passages)
    assert all(p.vector is None for p in data.read_passages(services.sessions, "another-model"))
    (faq,) = data.entries_of(passages)
    assert faq.phrasings == ["How do I return an item?", "Can I send it back?"]
    assert faq.answer == "How do I return an item?\nBy mail."


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "How do I cancel my order?",
            ["How can I cancel my order?", "What should I do to cancel my order?", "cancel order"],
        ),
        ("What is your return policy?", ["Tell me about your return policy", "return policy"]),
        ("Do gift cards expire?", ["gift cards expire"]),
        ("如何退货？", ["请问如何退货"]),
        ("请问如何退货？", ["如何退货"]),
        ("Hours", []),
    ],
)
def test_variants_reword_the_opening_or_keep_the_content_words(
    question: str, expected: list[str]
) -> None:
    assert variants(question) == expected


def test_normalise_ignores_case_punctuation_and_spacing() -> None:
    assert normalise("  How do I  return it? ") == normalise("how do i return it")
    assert normalise("退货？") == normalise("退货")
