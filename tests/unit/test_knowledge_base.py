"""KnowledgeBase on real SQLite + FAISS with the hash embedder: ingest, replace, delete,
persistence, multi-process staleness, re-embedding and entry-level search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.container import Services
from chatbot.storage import db
from knowledge_base import repository
from knowledge_base.embedders import HashEmbedder
from knowledge_base.index import INDEX_FILE, VectorIndex
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import Passage

FAQ_V1 = b"""id,question,answer
returns,How do I return an item?,Start a return from the Order History page.
returns,Can I send something back?,Start a return from the Order History page.
returns,What is the process to get a refund?,Start a return from the Order History page.
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.
password,How do I reset my password?,Click Forgot Password on the sign-in page.
"""

FAQ_V2 = b"""id,question,answer
returns,How do I return an item?,Returns are now handled by mail only.
giftcards,Do gift cards expire?,Gift cards never expire.
"""

POLICY_MD = b"""# Store policies

## Warranty

Every tent and jacket carries a two-year warranty against defects in materials.

## Do you price match?

Yes, we match any major retailer's price within 14 days.
"""


class CountingEmbedder:
    """Wraps an embedder and records how many texts each encode call was given."""

    def __init__(self, inner: HashEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[int] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def other_process(services: Services) -> Iterator[sessionmaker[Session]]:
    """A second engine on the same database file, as another worker process would have."""
    engine = db.make_engine(services.settings.db_url)
    yield db.make_sessions(engine)
    engine.dispose()


def entry_ids(kb: KnowledgeBase, query: str, k: int = 5) -> list[str]:
    return [h.entry_id for h in kb.search(query, k=k)]


def passage_count(services: Services) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count(Passage.id))) or 0


def revision(services: Services) -> int:
    with services.sessions() as s:
        return repository.revision(s)


def test_ingest_makes_entries_searchable(services: Services) -> None:
    kb = services.kb
    assert kb.is_empty()
    assert kb.search("How do I return an item?") == []

    result = kb.ingest_bytes("faq.csv", FAQ_V1)
    assert (result.name, result.status, result.passages, result.ok) == ("faq.csv", "added", 8, True)
    assert not kb.is_empty()

    hits = kb.search("How do I return an item?")
    top = hits[0]
    assert top.entry_id == "returns"
    assert 0.5 < top.score < 1.0  # the exact phrasing (1.0) mixed with the answer passage
    assert top.kind == "question"
    assert top.matched_text == "How do I return an item?"
    assert top.title == "How do I return an item?"
    assert top.answer == "Start a return from the Order History page."
    assert top.document == "faq.csv"
    assert entry_ids(kb, "How long does shipping take?")[0] == "shipping"

    [info] = kb.documents()
    assert (info.name, info.source_type, info.passages, info.entries) == ("faq.csv", "csv", 8, 3)
    assert info.size_bytes == len(FAQ_V1)


def test_reingesting_unchanged_content_is_a_no_op(services: Services) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    rev = revision(services)
    result = services.kb.ingest_bytes("faq.csv", FAQ_V1)
    assert (result.status, result.passages, result.ok) == ("unchanged", 8, True)
    assert revision(services) == rev
    assert passage_count(services) == 8


def test_changed_content_replaces_the_old_version(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    result = kb.ingest_bytes("faq.csv", FAQ_V2)
    assert (result.status, result.passages) == ("replaced", 4)

    assert passage_count(services) == 4
    assert [d.name for d in kb.documents()] == ["faq.csv"]
    # Entries only in the old version are gone from search; kept ones carry the new answer.
    for query in ("How do I reset my password?", "How long does shipping take?"):
        assert not {"password", "shipping"} & set(entry_ids(kb, query, k=10))
    top = kb.search("How do I return an item?")[0]
    assert (top.entry_id, top.answer) == ("returns", "Returns are now handled by mail only.")
    assert entry_ids(kb, "Do gift cards expire?")[0] == "giftcards"


def test_a_broken_new_version_keeps_the_old_one(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    result = kb.ingest_bytes("faq.csv", b"question,answer\nBroken?,\n")
    assert not result.ok
    assert "row 2 has an empty answer" in result.message
    assert entry_ids(kb, "How do I reset my password?")[0] == "password"
    assert passage_count(services) == 8


def test_delete_removes_a_document_from_search_at_once(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    kb.ingest_bytes("policies.md", POLICY_MD)
    assert entry_ids(kb, "How do I reset my password?")[0] == "password"

    assert kb.delete("faq.csv") is True
    assert not {"returns", "shipping", "password"} & set(
        entry_ids(kb, "How do I reset my password?", k=10)
    )
    assert [d.name for d in kb.documents()] == ["policies.md"]
    assert passage_count(services) == 3  # only the Markdown document's passages remain
    assert kb.delete("faq.csv") is False

    assert kb.delete("policies.md") is True
    assert kb.is_empty()
    assert kb.search("warranty") == []


def test_folder_with_good_and_bad_files(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.csv").write_bytes(FAQ_V1)
    (folder / "sub" / "policies.md").write_bytes(POLICY_MD)
    (folder / "bad.csv").write_bytes(b"id,question\nx,What?\n")
    (folder / "empty.md").write_bytes(b"")
    (folder / "noanswer.csv").write_bytes(b"question,answer\nBroken?,\n")
    (folder / "skipped.exe").write_bytes(b"MZ not a supported type")

    seen = []
    results = services.kb.ingest_paths([folder], on_result=seen.append)
    assert seen == results
    by_name = {r.name: r for r in results}
    assert sorted(by_name) == [
        "bad.csv",
        "empty.md",
        "good.csv",
        "noanswer.csv",
        "policies.md",
        "skipped.exe",
    ]
    assert by_name["skipped.exe"].status == "skipped"
    assert by_name["good.csv"].status == "added"
    assert by_name["policies.md"].status == "added"
    assert by_name["bad.csv"].status == "error"
    assert "missing required column(s) answer" in by_name["bad.csv"].message
    assert by_name["empty.md"].status == "error"
    assert "empty" in by_name["empty.md"].message
    assert by_name["noanswer.csv"].status == "error"

    # Each bad file is recorded as failed, with its reason and no passages.
    docs = {d.name: d for d in services.kb.documents()}
    assert sorted(docs) == ["bad.csv", "empty.md", "good.csv", "noanswer.csv", "policies.md"]
    for name in ("bad.csv", "empty.md", "noanswer.csv"):
        assert (docs[name].status, docs[name].passages) == ("failed", 0)
        assert docs[name].error == by_name[name].message
    assert (docs["good.csv"].status, docs["good.csv"].error) == ("ingested", None)
    with services.sessions() as s:
        assert s.scalar(select(func.count(Passage.id))) == 8 + 3
    assert entry_ids(services.kb, "two-year warranty against defects")[0].endswith("#warranty")


def test_explicit_unsupported_or_missing_paths_are_reported(
    services: Services, tmp_path: Path
) -> None:
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00")
    results = services.kb.ingest_paths([exe, tmp_path / "missing.csv"])
    assert [(r.name, r.status) for r in results] == [
        ("setup.exe", "error"),
        ("missing.csv", "error"),
    ]
    assert "unsupported file type '.exe'" in results[0].message
    assert "cannot read file" in results[1].message
    # The unsupported upload is recorded as failed; a file that could not be read is not.
    [failed] = services.kb.documents()
    assert (failed.name, failed.status, failed.passages) == ("setup.exe", "failed", 0)
    assert failed.error == results[0].message


def test_index_is_saved_and_loaded_by_a_new_instance_without_reencoding(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    index_dir = services.settings.index_dir
    assert (index_dir / INDEX_FILE).is_file()
    expected = services.kb.search("Can I send something back?")

    saves: list[Path] = []
    real_save = VectorIndex.save

    def spy_save(self: VectorIndex, folder: Path, manifest: object) -> None:
        saves.append(folder)
        real_save(self, folder, manifest)  # type: ignore[arg-type]

    monkeypatch.setattr(VectorIndex, "save", spy_save)
    counting = CountingEmbedder(HashEmbedder())
    fresh = KnowledgeBase(services.sessions, counting, index_dir)
    assert fresh.search("Can I send something back?") == expected
    assert counting.calls == [1]  # only the query: no passage was encoded again
    assert saves == []  # the saved index was current, so it was loaded, not rebuilt


def test_missing_or_corrupt_index_is_rebuilt_from_sql_without_reencoding(
    services: Services,
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    index_dir = services.settings.index_dir
    expected = services.kb.search("How do I reset my password?")
    (index_dir / INDEX_FILE).write_bytes(b"corrupt")

    counting = CountingEmbedder(HashEmbedder())
    fresh = KnowledgeBase(services.sessions, counting, index_dir)
    assert fresh.search("How do I reset my password?") == expected
    assert counting.calls == [1]
    assert VectorIndex.load(index_dir) is not None  # rebuilt and saved again


def test_another_process_sees_changes_on_its_next_search(
    services: Services, other_process: sessionmaker[Session]
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    counting = CountingEmbedder(HashEmbedder())
    other = KnowledgeBase(other_process, counting, services.settings.index_dir)
    assert entry_ids(other, "Do gift cards expire?", k=10)
    assert "giftcards" not in entry_ids(other, "Do gift cards expire?", k=10)

    services.kb.ingest_bytes(
        "gifts.csv", b"id,question,answer\ngiftcards,Do gift cards expire?,No.\n"
    )
    assert entry_ids(other, "Do gift cards expire?")[0] == "giftcards"

    services.kb.delete("gifts.csv")
    assert "giftcards" not in entry_ids(other, "Do gift cards expire?", k=10)

    # The other process only ever encoded its queries; passages came from SQL or disk.
    assert set(counting.calls) == {1}

    # And it works the other way round: a change made by `other` reaches the first instance.
    other.ingest_bytes("faq.csv", FAQ_V2)
    assert entry_ids(services.kb, "Do gift cards expire?")[0] == "giftcards"


def test_changing_the_embedder_re_embeds_stored_passages_once(services: Services) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    index_dir = services.settings.index_dir

    counting = CountingEmbedder(HashEmbedder(dimension=64))
    switched = KnowledgeBase(services.sessions, counting, index_dir)
    hits = switched.search("How do I reset my password?")
    assert hits[0].entry_id == "password"
    assert hits[0].matched_text == "How do I reset my password?"
    assert counting.calls == [1, 8]  # the query, then every stored passage once

    with services.sessions() as s:
        rows = s.execute(select(Passage.embedder, Passage.embedding)).all()
    assert {name for name, _ in rows} == {"hash-64"}
    assert {len(blob) for _, blob in rows} == {64 * 4}
    loaded = VectorIndex.load(index_dir)
    assert loaded is not None
    assert (loaded[1].embedder, loaded[1].dimension, loaded[1].count) == ("hash-64", 64, 8)

    # Another instance with the new embedder finds SQL and the index current: nothing to redo.
    again = CountingEmbedder(HashEmbedder(dimension=64))
    assert KnowledgeBase(services.sessions, again, index_dir).search("refund")
    assert again.calls == [1]


def test_search_returns_one_hit_per_entry_scored_by_its_best_passage(
    services: Services,
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    query = "how can I send an item back for a refund"
    hits = services.kb.search(query, k=5)
    ids = [h.entry_id for h in hits]
    assert sorted(ids) == ["password", "returns", "shipping"]  # all entries, each once
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    # The entry's dense score is the mean of two pieces of evidence: its best three phrasings
    # (averaged) and its answer passage; the hit points at the single best-matching passage.
    embedder = HashEmbedder()
    with services.sessions() as s:
        rows = s.execute(
            select(Passage.kind, Passage.text).where(Passage.entry_id == "returns")
        ).all()
    assert len(rows) == 4
    texts = [t for _, t in rows]
    scores = embedder.encode(texts) @ embedder.encode([query])[0]
    questions = sorted(
        (float(x) for (k, _), x in zip(rows, scores, strict=True) if k == "question")
    )[::-1]
    answer = max(float(x) for (k, _), x in zip(rows, scores, strict=True) if k == "answer")
    returns = next(h for h in hits if h.entry_id == "returns")
    assert returns.score == pytest.approx((sum(questions[:3]) / 3 + answer) / 2, abs=1e-5)
    assert returns.matched_text == texts[int(scores.argmax())]


def test_search_finds_k_entries_even_when_one_entry_has_many_phrasings(
    services: Services,
) -> None:
    rows = [f"pw,How do I reset my password variant {i}?,Use Forgot Password." for i in range(80)]
    rows += [f"e{i},Unrelated topic number {i} about shipping?,Answer {i}." for i in range(4)]
    services.kb.ingest_bytes("many.csv", ("id,question,answer\n" + "\n".join(rows)).encode())
    hits = services.kb.search("How do I reset my password variant", k=3)
    assert len(hits) == 3
    assert hits[0].entry_id == "pw"
    assert len({h.entry_id for h in hits}) == 3
    assert len(services.kb.search("password", k=50)) == 5  # every entry, no more


def test_the_embedder_remembers_the_texts_of_small_calls_and_returns_copies() -> None:
    """A turn embeds its question several times: the model sees it once."""
    import numpy as np

    from knowledge_base.embedders import SentenceTransformerEmbedder

    class CountingModel:
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            self.calls.append(list(texts))
            return np.ones((len(texts), 3), dtype=np.float32) / np.sqrt(3)

        def get_embedding_dimension(self) -> int:
            return 3

    embedder = SentenceTransformerEmbedder("counting")
    model = CountingModel()
    embedder._model = model  # loaded: warm_up keeps it
    first = embedder.encode(["When do you open?"])
    first[0, 0] = 99.0  # the caller's copy, not the remembered one
    again = embedder.encode(["When do you open?"])
    assert model.calls == [["When do you open?"]]
    assert again[0, 0] == pytest.approx(1 / np.sqrt(3))
    # A question with its parts: each text is remembered, only the new ones are encoded.
    pair = embedder.encode(["When do you open?", "b"])
    assert pair.shape == (2, 3) and model.calls[1:] == [["b"]]
    embedder.encode(["b"])
    assert model.calls[1:] == [["b"]]
    # Documents being indexed (larger batches) are not remembered.
    many = [f"text {i}" for i in range(SentenceTransformerEmbedder.MEMO_BATCH + 1)]
    embedder.encode(many)
    embedder.encode(many)
    assert model.calls[2:] == [many, many]
