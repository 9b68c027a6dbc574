"""The real `chatbot` console script, run as a user would, with the real packaged models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.settings import FAST_EMBEDDER
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration

CHATBOT = Path(sys.executable).parent / "chatbot"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHATBOT), *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture
def env(tmp_path: Path, models_dir: Path, real_generator) -> dict[str, str]:  # type: ignore[no-untyped-def]
    # real_generator has converted the packaged model into models_dir once for the session.
    return {
        **os.environ,
        "CHATBOT_DATA_DIR": str(tmp_path / "data"),
        "CHATBOT_MODELS__CACHE_DIR": str(models_dir),
        # The fast embedder keeps these process-level tests quick; the default embedder is
        # covered by the other integration tests.
        "CHATBOT_MODELS__EMBEDDER": FAST_EMBEDDER,
    }


def test_ingest_reports_each_file_and_keeps_going(tmp_path: Path, env: dict[str, str]) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,question,answer\nhours,When are you open?,We are open 9 to 5.\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("question,reply\nWhen?,Now.\n")
    unknown = tmp_path / "notes.exe"
    unknown.write_bytes(b"MZ\x90\x00")
    result = run("ingest", str(good), str(bad), str(unknown), str(tmp_path / "nope.md"), env=env)
    assert result.returncode == 1
    assert "good.csv: added, 2 passages" in result.stdout
    assert "bad.csv: ERROR missing required column(s) answer" in result.stderr
    assert "notes.exe: ERROR unsupported file type '.exe'" in result.stderr
    assert "nope.md: ERROR no such file or folder" in result.stderr

    again = run("ingest", str(tmp_path), env=env)  # a folder: other types are skipped
    assert "good.csv: unchanged" in again.stdout
    assert "bad.csv: ERROR" in again.stderr
    assert "notes.exe: skipped, unsupported file type '.exe'; supported types: " in again.stdout
    assert "notes.exe" not in again.stderr


def test_ask_json_answers_from_the_sample_kb_and_continues_a_conversation(
    env: dict[str, str],
) -> None:
    assert run("db", "upgrade", env=env).stdout.strip() == "database is up to date"
    first = run("ask", "How long do I have to send something back?", "--json", env=env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {
        "conversation_id",
        "answer",
        "decision",
        "answer_mode",
        "withheld_draft",
        "draft_rejection",
        "sources",
    }
    assert data["decision"] == "answer"
    assert data["sources"][0]["id"] == "returns-window"
    assert set(data["sources"][0]) == {"id", "title", "score"}
    assert data["answer"].strip()

    second = run(
        "ask",
        "Can you tell me the capital of Mongolia?",
        "--conversation",
        data["conversation_id"],
        "--json",
        env=env,
    )
    follow = json.loads(second.stdout)
    assert follow["conversation_id"] == data["conversation_id"]
    assert follow["decision"] == "fallback" and follow["sources"] == []

    empty = run("ask", "   ", env=env)
    assert empty.returncode == 2 and "Please type a question" in empty.stderr


def test_eval_prints_metrics_and_writes_predictions(tmp_path: Path, env: dict[str, str]) -> None:
    assert run("ingest", str(SHARED_DATA / "covid_faq" / "faq.csv"), env=env).returncode == 0
    queries = tmp_path / "q.csv"
    queries.write_text(
        "query,expected_id\nWhere does the virus come from?,covid-004\n"
        "How do I bake sourdough bread?,\n"
    )
    out = tmp_path / "pred.csv"
    result = run("eval", "--queries", str(queries), "--output", str(out), "--json", env=env)
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["queries"] == 2 and m["recall_at_1"] == 1.0
    assert m["oos_recall"] == 1.0 and m["mcc"] == 1.0
    rows = out.read_text().splitlines()
    assert rows[1].startswith("Where does the virus come from?,covid-004,covid-004,")
    assert rows[1].endswith(",answer,1")
    assert rows[2].startswith("How do I bake sourdough bread?,,,")

    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nx,y\n")
    refused = run("eval", "--queries", str(bad), env=env)
    assert refused.returncode == 2 and "'query' and 'expected_id'" in refused.stderr
