"""Real OS processes on one SQLite database: a change made by one process reaches another, and
a process killed (SIGKILL) in the middle of an ingest leaves the knowledge base as it was.

The child processes use the hash embedder: what is tested is storage and the index, not models.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from chatbot.container import Services
from chatbot.storage import db
from knowledge_base import repository
from knowledge_base.embedders import HashEmbedder
from knowledge_base.index import VectorIndex
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import Passage
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

FAQ = b"""id,question,answer
returns,How do I return an item?,Start a return from the Order History page.
password,How do I reset my password?,Click Forgot Password on the sign-in page.
"""

# argv: data_dir, mode, file to ingest (or a query), marker file (written when the child is at
# the point where the test kills it).
CHILD = r"""
import json, sys, time
from pathlib import Path

data_dir, mode, arg, marker = sys.argv[1:5]

from chatbot.container import build
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from knowledge_base import repository
from knowledge_base.embedders import HashEmbedder


def at_the_point() -> None:
    Path(marker).write_text("here")
    time.sleep(600)  # wait for SIGKILL


class SlowEmbedder(HashEmbedder):
    def encode(self, texts, batch_size=32):
        time.sleep(0.3)
        return super().encode(texts, batch_size)


embedder = SlowEmbedder() if mode == "kill-while-embedding" else HashEmbedder()
settings = Settings(data_dir=Path(data_dir), load_sample_kb=False)
services = build(settings, embedder=embedder, generator=ScriptedGenerator())
kb = services.kb
progress = None
if mode == "kill-while-embedding":
    def progress(done, total):
        if done:
            Path(marker).write_text("here")
elif mode == "kill-before-commit":
    real_save = repository.save_document

    def save_then_stop(*args, **kwargs):
        saved = real_save(*args, **kwargs)  # every row written, the transaction still open
        at_the_point()
        return saved

    repository.save_document = save_then_stop
elif mode == "kill-while-saving-index":
    import knowledge_base.index as index_module

    index_module.os.replace = lambda src, dst: at_the_point()  # temp file written, not renamed

if mode == "search":
    print(json.dumps([h.entry_id for h in kb.search(arg, k=5)]))
else:
    path = Path(arg)
    result = kb.ingest_bytes(path.name, path.read_bytes(), progress=progress)
    print(json.dumps({"status": result.status, "passages": result.passages}))
"""


def child(services: Services, mode: str, arg: str, marker: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(services.settings.data_dir), mode, arg, str(marker)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_child(services: Services, mode: str, arg: str, tmp_path: Path) -> object:
    proc = child(services, mode, arg, tmp_path / "unused")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def kb_state(services: Services) -> tuple[int, list[tuple[str, str, int]], list[int]]:
    with services.sessions() as s:
        docs = [(d.name, d.status, d.passages) for d in repository.list_documents(s)]
        return repository.revision(s), docs, sorted(s.scalars(select(Passage.id)))


def big_faq(rows: int) -> bytes:
    lines = [f"e{i},Question number {i} about topic {i % 97}?,Answer {i}." for i in range(rows)]
    return ("id,question,answer\n" + "\n".join(lines) + "\n").encode()


def test_a_change_made_by_another_process_reaches_this_one(
    services: Services, tmp_path: Path
) -> None:
    kb = services.kb
    kb.ingest_bytes("faq.csv", FAQ)
    assert "giftcards" not in [h.entry_id for h in kb.search("Do gift cards expire?", k=10)]

    gifts = tmp_path / "gifts.csv"
    gifts.write_bytes(b"id,question,answer\ngiftcards,Do gift cards expire?,Never.\n")
    assert run_child(services, "ingest", str(gifts), tmp_path) == {"status": "added", "passages": 2}

    revision_before = kb.revision
    hits = kb.search("Do gift cards expire?")
    assert (hits[0].entry_id, hits[0].answer) == ("giftcards", "Never.")
    assert kb.revision > revision_before
    # The other process saved its index; this one loaded it (no rebuild needed) and it matches.
    loaded = VectorIndex.load(services.settings.index_dir)
    assert loaded is not None and loaded[1].revision == kb.revision

    # And the other way round: this process deletes, a new process no longer finds it.
    kb.delete("gifts.csv")
    found = run_child(services, "search", "Do gift cards expire?", tmp_path)
    assert (
        isinstance(found, list)
        and "giftcards" not in found
        and found[0]
        in {
            "returns",
            "password",
        }
    )


@pytest.mark.parametrize(
    "mode", ["kill-while-embedding", "kill-before-commit", "kill-while-saving-index"]
)
def test_a_killed_ingest_leaves_the_knowledge_base_consistent(
    services: Services, tmp_path: Path, mode: str
) -> None:
    services.kb.ingest_bytes("faq.csv", FAQ)
    before = kb_state(services)
    big = tmp_path / "big.csv"
    big.write_bytes(big_faq(3000))
    marker = tmp_path / "marker"

    proc = child(services, mode, str(big), marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the child never reached the point to kill it"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    after = kb_state(services)
    if mode == "kill-while-saving-index":
        # The file was committed before the kill: it is in, completely.
        assert after[0] == before[0] + 1
        assert ("big.csv", "ingested", 6000) in after[1]
        # The half-saved index never replaced the old one, which still loads (as a stale one).
        loaded = VectorIndex.load(services.settings.index_dir)
        assert loaded is not None and loaded[1].revision == before[0]
    else:
        assert after == before  # same revision, documents and passages: as if never started
        loaded = VectorIndex.load(services.settings.index_dir)
        assert loaded is not None and loaded[1].revision == before[0]
        assert sorted(loaded[0].ids().tolist()) == before[2]

    # A process starting now finds SQL and index consistent, and can ingest again.
    engine = db.make_engine(services.settings.db_url)
    try:
        fresh = KnowledgeBase(db.make_sessions(engine), HashEmbedder(), services.settings.index_dir)
        assert fresh.search("How do I reset my password?")[0].entry_id == "password"
        snap = fresh.snapshot()
        revision, _, ids = kb_state(services)
        assert snap.revision == revision
        assert snap.index is not None and sorted(snap.index.ids().tolist()) == ids
        result = fresh.ingest_bytes("big.csv", big_faq(50))
        assert result.ok and result.passages == 100
        assert fresh.search("Question number 7 about topic 7?")[0].entry_id == "e7"
        revision, _, ids = kb_state(services)
        loaded = VectorIndex.load(services.settings.index_dir)
        assert loaded is not None and loaded[1].revision == revision
        assert sorted(loaded[0].ids().tolist()) == ids
    finally:
        engine.dispose()
    # The first process notices too.
    assert services.kb.search("Question number 7 about topic 7?")[0].entry_id == "e7"
