"""Managing the knowledge base (hash embedder, real SQLite + FAISS): failed uploads, preview,
single FAQ entries, progress, and an index that follows every change without a rebuild."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.container import Services
from chatbot.storage import db
from knowledge_base import repository
from knowledge_base.embedders import HashEmbedder
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError
from knowledge_base.index import Manifest, VectorIndex
from knowledge_base.index_sync import IndexSync
from knowledge_base.records import IngestProgress, PassageMeta
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import Passage
from tests.unit.test_knowledge_base import FAQ_V1, FAQ_V2, POLICY_MD, CountingEmbedder

BROKEN = b"question,answer\nBroken?,\n"


def entry_ids(kb: KnowledgeBase, query: str, k: int = 5) -> list[str]:
    return [h.entry_id for h in kb.search(query, k=k)]


def sql_state(services: Services) -> tuple[int, list[int]]:
    with services.sessions() as s:
        return repository.revision(s), sorted(s.scalars(select(Passage.id)))


def assert_index_matches_sql(services: Services) -> None:
    """The in-memory index and the one saved on disk hold exactly SQL's passages."""
    revision, ids = sql_state(services)
    snap = services.kb.snapshot()
    assert snap.revision == revision
    assert snap.index is not None and sorted(snap.index.ids().tolist()) == ids
    assert sorted(snap.meta) == ids
    loaded = VectorIndex.load(services.settings.index_dir)
    assert loaded is not None
    assert loaded[1].revision == revision
    assert sorted(loaded[0].ids().tolist()) == ids


@pytest.fixture
def other_kb(services: Services) -> Iterator[KnowledgeBase]:
    """A KnowledgeBase on its own engine, as another worker process would have."""
    engine = db.make_engine(services.settings.db_url)
    sessions: sessionmaker[Session] = db.make_sessions(engine)
    yield KnowledgeBase(sessions, HashEmbedder(), services.settings.index_dir)
    engine.dispose()


# ---- failed uploads ------------------------------------------------------------------------
def test_failed_upload_is_recorded_and_a_later_good_upload_replaces_it(
    services: Services,
) -> None:
    kb = services.kb
    result = kb.ingest_bytes("faq.csv", BROKEN)
    assert not result.ok and "row 2 has an empty answer" in result.message
    [doc] = kb.documents()
    assert (doc.name, doc.status, doc.passages, doc.source_type) == ("faq.csv", "failed", 0, "csv")
    assert doc.error == result.message
    assert doc.size_bytes == len(BROKEN)
    assert kb.preview("faq.csv") == []

    again = kb.ingest_bytes("faq.csv", b"id,question\nx,What?\n")  # a different failure
    [doc] = kb.documents()
    assert doc.status == "failed" and doc.error == again.message
    assert "missing required column(s) answer" in again.message

    good = kb.ingest_bytes("faq.csv", FAQ_V1)
    assert (good.status, good.passages) == ("added", 8)
    [doc] = kb.documents()
    assert (doc.status, doc.error, doc.passages) == ("ingested", None, 8)
    assert entry_ids(kb, "How do I reset my password?")[0] == "password"
    assert_index_matches_sql(services)


def test_failed_new_version_keeps_the_good_one_and_reports_it(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    revision = kb.revision
    result = kb.ingest_bytes("faq.csv", BROKEN)
    assert not result.ok
    assert "row 2 has an empty answer" in result.message
    assert "previous version is kept" in result.message
    [doc] = kb.documents()
    assert (doc.status, doc.error, doc.passages) == ("ingested", None, 8)
    assert kb.revision == revision  # nothing changed, no reload anywhere
    assert entry_ids(kb, "How long does shipping take?")[0] == "shipping"
    # The good version is still the current one: uploading it again is a no-op.
    assert kb.ingest_bytes("faq.csv", FAQ_V1).status == "unchanged"


def test_failed_rows_can_be_deleted(services: Services) -> None:
    services.kb.ingest_bytes("bad.csv", BROKEN)
    assert services.kb.delete("bad.csv") is True
    assert services.kb.documents() == []
    assert services.kb.delete("bad.csv") is False


# ---- replacing a document needs the right to delete it --------------------------------------
def test_replacing_a_document_is_refused_without_the_right_to_delete(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    before = sql_state(services)

    refused = kb.ingest_bytes("faq.csv", FAQ_V2, may_replace=False)
    assert (refused.status, refused.ok, refused.passages) == ("refused", False, 0)
    assert refused.message == (
        "a document named 'faq.csv' already exists, and replacing it deletes its current "
        "passages, which only an admin may do; nothing was changed. Upload the file under a "
        "new name to add it alongside, or ask an admin to upload it"
    )
    assert sql_state(services) == before  # not even the revision moved
    [doc] = kb.documents()
    assert (doc.status, doc.passages, doc.error) == ("ingested", 8, None)
    assert entry_ids(kb, "How long does shipping take?")[0] == "shipping"

    # An unchanged upload stays a no-op, and a new name is an addition: both allowed.
    assert kb.ingest_bytes("faq.csv", FAQ_V1, may_replace=False).status == "unchanged"
    assert kb.ingest_bytes("faq-2.csv", FAQ_V2, may_replace=False).status == "added"
    # With the right (an admin, the CLI, a direct call), the same upload replaces.
    assert kb.ingest_bytes("faq.csv", FAQ_V2).status == "replaced"
    assert_index_matches_sql(services)


def test_a_failed_upload_may_be_retried_by_anyone(services: Services) -> None:
    kb = services.kb
    assert kb.ingest_bytes("faq.csv", BROKEN, may_replace=False).status == "error"
    good = kb.ingest_bytes("faq.csv", FAQ_V1, may_replace=False)  # it had no passages to lose
    assert (good.status, good.passages) == ("added", 8)


def test_a_document_with_edited_entries_is_not_replaced_without_the_right(
    services: Services,
) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    kb.save_faq_entry("returns", ["How do I return an item?"], "Bring it to any store.")
    # Uploading the original again would undo the edit: that too needs the right to delete.
    assert kb.ingest_bytes("faq.csv", FAQ_V1, may_replace=False).status == "refused"
    assert kb.search("How do I return an item?")[0].answer == "Bring it to any store."
    assert kb.ingest_bytes("faq.csv", FAQ_V1).status == "replaced"


def test_the_staff_edited_entries_document_is_never_replaced_by_an_upload(
    services: Services,
) -> None:
    kb = services.kb
    entry = kb.save_faq_entry(None, ["Do you ship to Canada?"], "Yes, in 5-8 days.")
    for may_replace in (False, True):
        result = kb.ingest_bytes(MANUAL_DOCUMENT, FAQ_V1, may_replace=may_replace)
        assert result.status == "refused"
        assert result.message.startswith(
            f"'{MANUAL_DOCUMENT}' holds the FAQ entries staff added one by one and cannot be "
            "replaced by an upload; edit or delete its entries in the FAQ entry editor"
        )
    assert kb.get_faq_entry(entry.entry_id) == entry
    [doc] = kb.documents()
    assert (doc.name, doc.status, doc.passages) == (MANUAL_DOCUMENT, "ingested", 2)


def test_a_document_added_while_a_file_embeds_is_not_replaced(
    services: Services, other_kb: KnowledgeBase
) -> None:
    # The check is repeated inside the write transaction: another upload of the same name
    # that lands while this file is being embedded is not overwritten.
    kb = services.kb

    def meanwhile(done: int, total: int) -> None:
        if done == 0:
            assert other_kb.ingest_bytes("faq.csv", FAQ_V1).status == "added"

    result = kb.ingest_bytes("faq.csv", FAQ_V2, meanwhile, may_replace=False)
    assert result.status == "refused"
    [doc] = kb.documents()
    assert doc.passages == 8
    assert entry_ids(kb, "How long does shipping take?")[0] == "shipping"
    assert_index_matches_sql(services)


# ---- edit / delete / re-upload change what the bot retrieves --------------------------------
def test_reupload_edit_and_delete_change_retrieval_at_once(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    assert entry_ids(kb, "How long does shipping take?")[0] == "shipping"

    kb.ingest_bytes("faq.csv", FAQ_V2)  # shipping is gone from the new version
    assert "shipping" not in entry_ids(kb, "How long does shipping take?", k=10)
    assert (
        kb.search("How do I return an item?")[0].answer == "Returns are now handled by mail only."
    )

    kb.save_faq_entry("returns", ["How do I return an item?"], "Bring it to any store.")
    top = kb.search("How do I return an item?")[0]
    assert (top.entry_id, top.answer) == ("returns", "Bring it to any store.")

    assert kb.delete_faq_entry("returns") is True
    assert "returns" not in entry_ids(kb, "How do I return an item?", k=10)
    assert kb.delete("faq.csv") is True
    assert kb.search("Do gift cards expire?") == []
    assert_index_matches_sql(services)


# ---- preview --------------------------------------------------------------------------------
def test_preview_lists_passages_in_document_order(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    kb.ingest_bytes("policies.md", POLICY_MD)
    passages = kb.preview("faq.csv")
    assert passages is not None
    assert [(p.kind, p.entry_id) for p in passages] == [
        ("question", "returns"),
        ("question", "returns"),
        ("question", "returns"),
        ("answer", "returns"),
        ("question", "shipping"),
        ("answer", "shipping"),
        ("question", "password"),
        ("answer", "password"),
    ]
    assert [p.position for p in passages] == list(range(8))
    assert passages[1].text == "Can I send something back?"
    assert passages[1].title == "How do I return an item?"
    assert passages[3].text.endswith("Start a return from the Order History page.")
    assert all(p.page is None for p in passages)
    md = kb.preview("policies.md")
    assert md is not None and [p.kind for p in md][-1] == "answer"
    assert kb.preview("missing.csv") is None


# ---- single FAQ entries ---------------------------------------------------------------------
def test_add_a_new_entry_goes_into_the_staff_document(services: Services) -> None:
    kb = services.kb
    revision = kb.revision
    entry = kb.save_faq_entry(
        None,
        ["Do you ship to Canada?", "  Can I order from Canada? ", "", "Do you ship to Canada?"],
        "  Yes, we ship to Canada in 5-8 days. ",
        "Shipping",
        "https://example.com/canada",
    )
    assert entry.entry_id == "manual-do-you-ship-to-canada"
    assert entry.questions == ("Do you ship to Canada?", "Can I order from Canada?")
    assert entry.answer == "Yes, we ship to Canada in 5-8 days."
    assert kb.get_faq_entry(entry.entry_id) == entry
    assert kb.revision > revision

    [doc] = kb.documents()
    assert (doc.name, doc.source_type, doc.status, doc.passages, doc.entries) == (
        MANUAL_DOCUMENT,
        "manual",
        "ingested",
        3,
        1,
    )
    assert doc.size_bytes > 0
    top = kb.search("Can I order from Canada?")[0]
    assert (top.entry_id, top.category, top.url, top.document) == (
        entry.entry_id,
        "Shipping",
        "https://example.com/canada",
        MANUAL_DOCUMENT,
    )

    second = kb.save_faq_entry(None, ["Do you ship to Canada?"], "Also by express.")
    assert second.entry_id == "manual-do-you-ship-to-canada-2"
    assert kb.faq_entry_ids() == [entry.entry_id, second.entry_id]
    preview = kb.preview(MANUAL_DOCUMENT)
    assert preview is not None
    assert [p.entry_id for p in preview] == [entry.entry_id] * 3 + [second.entry_id] * 2
    assert [p.position for p in preview] == list(range(5))
    assert_index_matches_sql(services)


def test_editing_an_entry_replaces_only_its_passages_in_place(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    before = kb.preview("faq.csv")
    assert before is not None
    others = {p.id: p for p in before if p.entry_id != "shipping"}

    counting = CountingEmbedder(HashEmbedder())
    kb.embedder = counting
    entry = kb.save_faq_entry(
        "shipping",
        ["How long does delivery take?", "When will my parcel arrive?", "Shipping time?"],
        "Delivery takes 2 days.",
        category="Delivery",
    )
    assert entry.entry_id == "shipping"
    assert counting.calls == [4]  # the entry's three phrasings and its answer, nothing else

    after = kb.preview("faq.csv")
    assert after is not None
    assert [p.entry_id for p in after] == ["returns"] * 4 + ["shipping"] * 4 + ["password"] * 2
    assert [p.position for p in after] == list(range(10))
    assert {p.id: p for p in after if p.entry_id != "shipping"}.keys() == others.keys()
    for p in after:
        if p.id in others:
            assert (p.text, p.kind) == (others[p.id].text, others[p.id].kind)

    assert kb.get_faq_entry("shipping") == entry
    hits = kb.search("When will my parcel arrive?")
    assert (hits[0].entry_id, hits[0].answer, hits[0].category) == (
        "shipping",
        "Delivery takes 2 days.",
        "Delivery",
    )
    assert hits[0].document == "faq.csv"
    assert "How long does shipping take?" not in [p.text for p in after]
    # The document no longer matches its file: uploading the file again restores it.
    assert kb.ingest_bytes("faq.csv", FAQ_V1).status == "replaced"
    assert kb.search("How long does shipping take?")[0].answer.startswith("Standard shipping")
    assert_index_matches_sql(services)


def test_shrinking_an_entry_renumbers_the_document(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    kb.save_faq_entry("returns", ["How do I return an item?"], "Mail it back.")
    after = kb.preview("faq.csv")
    assert after is not None
    assert [p.entry_id for p in after] == ["returns"] * 2 + ["shipping"] * 2 + ["password"] * 2
    assert [p.position for p in after] == list(range(6))


def test_deleting_entries(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)
    assert kb.delete_faq_entry("password") is True
    assert kb.get_faq_entry("password") is None
    assert "password" not in entry_ids(kb, "How do I reset my password?", k=10)
    [doc] = kb.documents()
    assert (doc.passages, doc.entries) == (6, 2)
    assert kb.delete_faq_entry("password") is False
    assert kb.delete_faq_entry("nope") is False

    entry = kb.save_faq_entry(None, ["Is there a loyalty card?"], "Yes.")
    assert kb.delete_faq_entry(entry.entry_id) is True
    assert [d.name for d in kb.documents()] == ["faq.csv"]  # the empty staff document went
    assert_index_matches_sql(services)


def test_an_unknown_id_creates_an_entry_with_that_id(services: Services) -> None:
    entry = services.kb.save_faq_entry("opening-hours", ["When are you open?"], "9 to 5.")
    assert entry.entry_id == "opening-hours"
    assert entry_ids(services.kb, "When are you open?")[0] == "opening-hours"


@pytest.mark.parametrize(
    ("questions", "answer", "problem"),
    [
        ([], "An answer.", "at least one question"),
        (["  ", ""], "An answer.", "at least one question"),
        (["A question?"], "   ", "needs an answer"),
    ],
)
def test_invalid_entries_are_refused(
    services: Services, questions: list[str], answer: str, problem: str
) -> None:
    with pytest.raises(EntryError, match=problem):
        services.kb.save_faq_entry(None, questions, answer)
    assert services.kb.documents() == []


def test_document_sections_are_not_faq_entries(services: Services) -> None:
    kb = services.kb
    kb.ingest_bytes("policies.md", POLICY_MD)
    preview = kb.preview("policies.md")
    assert preview is not None
    section = next(p.entry_id for p in preview if p.kind == "text")
    faq = next(p.entry_id for p in preview if p.kind == "question")
    assert kb.get_faq_entry(section) is None
    assert kb.faq_entry_ids() == [faq]
    with pytest.raises(EntryError, match="document section"):
        kb.save_faq_entry(section, ["Is this a question?"], "No.")
    assert kb.delete_faq_entry(section) is False
    assert kb.get_faq_entry(faq) is not None


def test_another_process_sees_entry_edits(services: Services, other_kb: KnowledgeBase) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    assert entry_ids(other_kb, "How do I reset my password?")[0] == "password"
    services.kb.save_faq_entry("password", ["How do I reset my password?"], "Call us.")
    assert other_kb.search("How do I reset my password?")[0].answer == "Call us."
    services.kb.delete_faq_entry("password")
    assert "password" not in entry_ids(other_kb, "How do I reset my password?", k=10)


# ---- progress -------------------------------------------------------------------------------
def test_ingest_reports_progress_in_batches(services: Services) -> None:
    kb = KnowledgeBase(services.sessions, HashEmbedder(), services.settings.index_dir, batch_size=2)
    rows = "\n".join(f"e{i},Question number {i}?,Answer {i}." for i in range(40))
    data = ("id,question,answer\n" + rows).encode()
    calls: list[tuple[int, int]] = []
    result = kb.ingest_bytes("many.csv", data, progress=lambda d, t: calls.append((d, t)))
    assert result.passages == 80
    assert calls[0] == (0, 80) and calls[-1] == (80, 80)
    assert len(calls) == 1 + 80 // (2 * 8)  # one call per chunk of 8 batches
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    # Embedding in length-sorted chunks stores exactly what one encode call would.
    with services.sessions() as s:
        stored = s.execute(select(Passage.text, Passage.embedding).order_by(Passage.id)).all()
    expected = HashEmbedder().encode([t for t, _ in stored])
    got = np.vstack([np.frombuffer(b, dtype=np.float32) for _, b in stored])
    np.testing.assert_array_equal(got, expected)


def test_ingest_paths_reports_files_and_passages(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "upload"  # not tmp_path: the data dir's files would be listed too
    folder.mkdir()
    (folder / "a.csv").write_bytes(FAQ_V1)
    (folder / "b.csv").write_bytes(BROKEN)
    (folder / "c.md").write_bytes(POLICY_MD)
    seen: list[IngestProgress] = []
    results = services.kb.ingest_paths([folder], progress=seen.append)
    assert [r.status for r in results] == ["added", "error", "added"]
    last = seen[-1]
    assert (last.files_done, last.files_total) == (3, 3)
    assert last.passages_done == last.passages_total == 8 + 3
    assert [p.files_done for p in seen] == sorted(p.files_done for p in seen)
    assert [p.passages_done for p in seen] == sorted(p.passages_done for p in seen)
    assert {p.file for p in seen} == {"a.csv", "b.csv", "c.md"}


# ---- the index follows changes incrementally ------------------------------------------------
def test_changes_update_the_index_without_rebuilding_it(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ_V1)  # the first write loads (here: builds) the index once
    rebuilds: list[bool] = []
    real = IndexSync._rebuild

    def spy(self: IndexSync, use_saved: bool = True) -> None:
        rebuilds.append(use_saved)
        real(self, use_saved)

    monkeypatch.setattr(IndexSync, "_rebuild", spy)
    kb.ingest_bytes("policies.md", POLICY_MD)
    assert_index_matches_sql(services)
    kb.ingest_bytes("faq.csv", FAQ_V2)
    assert_index_matches_sql(services)
    kb.save_faq_entry(None, ["Do you sell socks?"], "Yes.")
    kb.save_faq_entry("giftcards", ["Do gift cards expire?"], "Never.")
    kb.delete_faq_entry("returns")
    kb.delete("policies.md")
    assert_index_matches_sql(services)
    assert entry_ids(kb, "Do you sell socks?")[0] == "manual-do-you-sell-socks"
    assert rebuilds == []


def test_a_change_by_another_process_in_between_falls_back_to_a_rebuild(
    services: Services, other_kb: KnowledgeBase
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    other_kb.ingest_bytes("policies.md", POLICY_MD)  # services.kb has not seen this
    services.kb.save_faq_entry(None, ["Do you sell socks?"], "Yes.")
    assert_index_matches_sql(services)
    assert entry_ids(services.kb, "two-year warranty against defects")[0].endswith("#warranty")
    assert entry_ids(other_kb, "Do you sell socks?")[0] == "manual-do-you-sell-socks"


def test_reindex_rebuilds_from_sql_without_reencoding(services: Services) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    expected = services.kb.search("Can I send something back?")
    (services.settings.index_dir / "passages.index").write_bytes(b"garbage")
    counting = CountingEmbedder(HashEmbedder())
    fresh = KnowledgeBase(services.sessions, counting, services.settings.index_dir)
    assert fresh.reindex() == 8
    assert counting.calls == []
    assert fresh.search("Can I send something back?") == expected
    assert_index_matches_sql(services)


# How long a step may wait before the test calls it stuck (only a broken build waits at all).
STEP_WAIT_S = 30.0


class WriterSteps:
    """Stops the writer thread at each step of a write until the test has looked: while it
    embeds (nothing held), once SQL has the change but the index does not (the writer holds
    the knowledge base's lock), and once the new index is published but not yet saved."""

    def __init__(self) -> None:
        self.writer: threading.Thread | None = None
        self._reached: queue.Queue[str] = queue.Queue()
        self._go = threading.Semaphore(0)

    def reach(self, step: str) -> None:
        if threading.current_thread() is not self.writer:
            return  # the test's own searches never stop
        self._reached.put(step)
        if not self._go.acquire(timeout=STEP_WAIT_S):
            raise RuntimeError(f"the test never let the writer go on after {step!r}")

    def next(self) -> str:
        return self._reached.get(timeout=STEP_WAIT_S)

    def go(self) -> None:
        self._go.release()


class SteppedEmbedder(HashEmbedder):
    def __init__(self, steps: WriterSteps) -> None:
        super().__init__()
        self._steps = steps

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self._steps.reach("embedding")
        return super().encode(texts, batch_size)


def without_waiting(check: Callable[[], None], what: str) -> None:
    """Run `check` on a thread of its own: it fails, instead of hanging the test, when it
    waits for the paused writer."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            check()
        except BaseException as exc:  # re-raised below, on the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(STEP_WAIT_S)
    assert not thread.is_alive(), f"{what} waited for the writer"
    if errors:
        raise errors[0]


def topics(version: str) -> bytes:
    rows = "\n".join(f"t{j},Topic question {j}?,Answer {version}{j}." for j in range(5))
    return f"id,question,answer\n{rows}\n".encode()


def top_answer(kb: KnowledgeBase, query: str) -> str:
    return kb.search(query, k=5)[0].answer


def test_searches_stay_correct_while_another_thread_ingests(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write is stopped at each of its steps while this thread searches: a search never
    sees half a change, sees none of it before its commit, and all of it from the moment the
    commit is published; a search that started after the commit waits for the new index."""
    steps = WriterSteps()
    kb = KnowledgeBase(services.sessions, SteppedEmbedder(steps), services.settings.index_dir)
    kb.ingest_bytes("faq.csv", FAQ_V1)
    kb.ingest_bytes("topics.csv", topics("A"))
    shipping = "How long does shipping take?"

    def edit_shipping(answer: str) -> Callable[[], object]:
        return lambda: kb.save_faq_entry("shipping", [shipping], answer)

    # (the write, a question it changes the answer to, that answer before and after)
    plan: list[tuple[Callable[[], object], str, str, str]] = [
        (
            lambda: kb.ingest_bytes("topics.csv", topics("B")),
            "Topic question 2?",
            "Answer A2.",
            "Answer B2.",
        ),
        (
            edit_shipping("Version 1."),
            shipping,
            "Standard shipping takes 3-5 business days.",
            "Version 1.",
        ),
        (
            lambda: kb.ingest_bytes("topics.csv", topics("C")),
            "Topic question 2?",
            "Answer B2.",
            "Answer C2.",
        ),
        (edit_shipping("Version 2."), shipping, "Version 1.", "Version 2."),
    ]
    # The writer's steps after its commit: the new index is built on a copy of the current
    # one, then saved for other processes once it is published.
    copy, save = VectorIndex.copy, VectorIndex.save

    def stepped_copy(index: VectorIndex) -> VectorIndex:
        steps.reach("committed")
        return copy(index)

    def stepped_save(index: VectorIndex, folder: Path, manifest: Manifest) -> None:
        steps.reach("published")
        save(index, folder, manifest)

    monkeypatch.setattr(VectorIndex, "copy", stepped_copy)
    monkeypatch.setattr(VectorIndex, "save", stepped_save)
    # A search that read the revision after the commit (its own thread: see below).
    read_revision = threading.Event()
    searcher: list[threading.Thread] = []
    revision = repository.revision

    def noted_revision(session: Session) -> int:
        current = revision(session)
        if searcher and threading.current_thread() is searcher[0]:
            read_revision.set()
        return current

    monkeypatch.setattr(repository, "revision", noted_revision)

    def consistent(query: str, answer: str) -> Callable[[], None]:
        def check() -> None:
            hits = kb.search("How do I reset my password?", k=5)
            assert hits[0].entry_id == "password"
            assert hits[0].matched_text == "How do I reset my password?"
            assert len({h.entry_id for h in hits}) == len(hits)
            snap = kb.snapshot()
            assert snap.index is not None and set(snap.index.ids().tolist()) == set(snap.meta)
            assert top_answer(kb, query) == answer

        return check

    def search_into(found: list[str], query: str) -> None:
        found.append(top_answer(kb, query))

    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for write, *_ in plan:
                write()
        except BaseException as exc:  # reported below
            errors.append(exc)

    steps.writer = threading.Thread(target=writer, daemon=True)
    steps.writer.start()
    for write_no, (_, query, before, after) in enumerate(plan):
        assert steps.next() == "embedding", write_no
        without_waiting(consistent(query, before), "a search while the writer embeds")
        steps.go()

        assert steps.next() == "committed", write_no
        # SQL has the change, the index not yet: a search that reads the new revision now
        # must wait for the writer's index, never answer from the old one.
        found: list[str] = []
        read_revision.clear()
        searcher[:] = [threading.Thread(target=search_into, args=(found, query))]
        searcher[0].start()
        assert read_revision.wait(STEP_WAIT_S), "the search did not read the revision"
        steps.go()

        assert steps.next() == "published", write_no
        # Published, not yet saved: searches have it at once, without the writer's lock
        # (which the search started at the commit is still waiting for).
        without_waiting(consistent(query, after), "a search after the new index was published")
        steps.go()
        searcher[0].join(STEP_WAIT_S)
        assert found == [after], write_no
    steps.writer.join(STEP_WAIT_S)
    assert not steps.writer.is_alive() and not errors, errors
    monkeypatch.undo()
    assert top_answer(kb, shipping) == "Version 2."
    assert_index_matches_sql(services)


@pytest.mark.parametrize("interruptions", [1, 3])
def test_a_reload_interrupted_by_commits_never_mislabels_its_content(
    services: Services,
    other_kb: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
    interruptions: int,
) -> None:
    """Another process commits between reading the revision and the passages: the read is
    repeated (and after three tries done with the revision row locked)."""
    services.kb.ingest_bytes("faq.csv", FAQ_V1)
    other_kb.snapshot()
    fresh = KnowledgeBase(services.sessions, HashEmbedder(), services.settings.index_dir)
    real = repository.iter_passage_meta
    left = interruptions
    busy = False

    def interrupted(session: Session, *args: int) -> Iterator[tuple[int, str, PassageMeta]]:
        nonlocal left, busy
        if left and not busy:
            left -= 1
            busy = True
            try:
                other_kb.save_faq_entry(None, [f"Is there question {left}?"], "Yes.")
            finally:
                busy = False
        yield from real(session, *args)

    locks: list[Session] = []
    real_lock = repository.lock_revision
    monkeypatch.setattr(repository, "iter_passage_meta", interrupted)
    monkeypatch.setattr(repository, "lock_revision", lambda s: (locks.append(s), real_lock(s)))
    snap = fresh.snapshot()
    assert left == 0
    assert len(locks) == (1 if interruptions == 3 else 0)
    revision, ids = sql_state(services)
    assert snap.revision == revision
    assert sorted(snap.meta) == ids
    assert snap.index is not None and sorted(snap.index.ids().tolist()) == ids
