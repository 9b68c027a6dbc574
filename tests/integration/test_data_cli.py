"""`chatbot export` and `chatbot purge` through the real Typer app on a fresh data dir
(CHATBOT_DATA_DIR is a temporary folder per test; the conversations are stored first)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.settings import FAST_EMBEDDER
from tests.unit.conversation_data import Turn, add_conversation, at, source, table_counts

pytestmark = pytest.mark.integration


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHATBOT_MODELS__EMBEDDER", FAST_EMBEDDER)
    return CliRunner()


@pytest.fixture
def stored(services: Services) -> dict[str, str]:
    answer = Turn("How do I return an item?", sources=[source("returns", 0.9)], rating=1)
    return {
        "march": add_conversation(services.sessions, at("2024-03-01"), [answer]),
        "april": add_conversation(
            services.sessions, at("2024-04-01"), [Turn("Capital of Peru?", "fallback")]
        ),
        "may": add_conversation(
            services.sessions, at("2024-05-01"), [answer], notes=[("ann", "ok")]
        ),
    }


def test_export_jsonl_and_csv(runner: CliRunner, stored: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out" / "conversations.jsonl"
    result = runner.invoke(
        app, ["export", "--format", "jsonl", "--since", "2024-03-15", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "exported 2 conversations" in result.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [c["id"] for c in lines] == [stored["april"], stored["may"]]
    assert lines[1]["notes"][0]["text"] == "ok"
    assert lines[1]["messages"][1]["sources"] == [
        {"id": "returns", "title": "Returns", "score": 0.9}
    ]

    table = tmp_path / "all.csv"
    result = runner.invoke(
        app,
        [
            *("export", "--format", "csv", "--since", "2024-01-01", "--until", "2024-04-30"),
            *("--outcome", "answered", "--out", str(table)),
        ],
    )
    assert result.exit_code == 0, result.output
    with table.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["conversation_id"], r["role"]) for r in rows] == [
        (stored["march"], "user"),
        (stored["march"], "assistant"),
    ]
    assert rows[1]["rating"] == "1"

    to_stdout = runner.invoke(app, ["export", "--format", "jsonl", "--out", "-"])
    assert to_stdout.exit_code == 0, to_stdout.output
    assert len(to_stdout.stdout.splitlines()) == 3


def test_export_carries_languages_and_filters_by_one(
    runner: CliRunner, services: Services, tmp_path: Path
) -> None:
    chinese = add_conversation(
        services.sessions, at("2024-03-01"), [Turn("退货要多久", language="zh")]
    )
    add_conversation(services.sessions, at("2024-03-02"), [Turn("Hi", language="en")])
    out = tmp_path / "zh.jsonl"
    result = runner.invoke(
        app, ["export", "--format", "jsonl", "--language", "zh", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert (line["id"], line["language"], line["messages"][0]["language"]) == (chinese, "zh", "zh")
    bad = runner.invoke(app, ["export", "--language", "  ", "--out", str(out)])
    assert bad.exit_code == 2 and "language code" in bad.stderr


def test_export_refuses_bad_options(runner: CliRunner, tmp_path: Path) -> None:
    out = str(tmp_path / "x")
    bad_format = runner.invoke(app, ["export", "--format", "xml", "--out", out])
    assert bad_format.exit_code == 2 and "csv, jsonl" in bad_format.stderr
    bad_date = runner.invoke(app, ["export", "--since", "yesterday", "--out", out])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.stderr
    bad_outcome = runner.invoke(app, ["export", "--outcome", "great", "--out", out])
    assert bad_outcome.exit_code == 2 and "outcome must be one of" in bad_outcome.stderr


def test_purge_asks_then_deletes_old_conversations(
    runner: CliRunner, services: Services, stored: dict[str, str]
) -> None:
    recent = add_conversation(
        services.sessions, datetime.now(UTC) - timedelta(days=1), [Turn("hi")]
    )
    declined = runner.invoke(app, ["purge", "--older-than", "30"], input="n\n")
    assert declined.exit_code == 1  # aborted
    assert "Delete 3 conversations" in declined.stdout
    assert table_counts(services.sessions)["conversations"] == 4

    done = runner.invoke(app, ["purge", "--older-than", "30", "--yes"])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("deleted 3 conversations with no activity since")
    counts = table_counts(services.sessions)
    assert counts == {
        "conversations": 1,
        "messages": 2,
        "message_sources": 0,
        "conversation_notes": 0,
    }
    assert services.conversations.transcript(recent) is not None

    nothing = runner.invoke(app, ["purge", "--older-than", "30", "--yes"])
    assert nothing.exit_code == 0 and nothing.stdout.startswith("no conversations")
    assert runner.invoke(app, ["purge", "--older-than", "0"]).exit_code == 2
