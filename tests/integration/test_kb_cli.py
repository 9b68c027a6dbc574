"""`chatbot ingest` and `chatbot kb ...` through the real Typer app and the real packaged
embedder, on a fresh data dir (CHATBOT_DATA_DIR is set to a temporary folder per test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot.cli.main import app

pytestmark = pytest.mark.integration

FAQ = (
    "id,question,answer,category,url\n"
    "hours,When are you open?,We are open 9 to 5 on weekdays.,Store,\n"
    "hours,What are your opening hours?,We are open 9 to 5 on weekdays.,Store,\n"
    "parking,Is there parking?,Yes; the car park behind the shop is free.,Store,\n"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "store.csv").write_text(FAQ, encoding="utf-8")
    (folder / "broken.csv").write_text("question,answer\nWhen?,\n", encoding="utf-8")
    return folder


def test_kb_commands(runner: CliRunner, faq: Path) -> None:
    ingested = runner.invoke(app, ["ingest", str(faq), "--progress"])
    assert ingested.exit_code == 1  # one file failed
    assert "store.csv: added, 5 passages" in ingested.stdout
    assert "broken.csv: ERROR row 2 has an empty answer" in ingested.stderr
    assert "5/5" in ingested.stderr and "files 2/2" in ingested.stderr  # the tqdm bar

    listed = runner.invoke(app, ["kb", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["name", "type", "passages", "status", "size", "uploaded"]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert rows["store.csv"][1:4] == ["csv", "5", "ingested"]
    assert rows["broken.csv"][1:4] == ["csv", "0", "failed"]
    assert "broken.csv failed: row 2 has an empty answer" in listed.stdout

    shown = runner.invoke(app, ["kb", "show", "store.csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("store.csv: csv, 5 passages")
    assert "[1] question hours: When are you open?" in shown.stdout
    assert "[2] question hours: When are you open?\n    What are your opening hours?" in (
        shown.stdout
    )
    assert "[5] answer parking: Is there parking?" in shown.stdout
    assert shown.stdout.index("[1]") < shown.stdout.index("[3]") < shown.stdout.index("[5]")

    failed = runner.invoke(app, ["kb", "show", "broken.csv"])
    assert (
        failed.exit_code == 0 and "broken.csv: failed, row 2 has an empty answer" in failed.stdout
    )

    reindexed = runner.invoke(app, ["kb", "reindex"])
    assert reindexed.exit_code == 0, reindexed.output
    assert "index rebuilt from the database: 5 passages" in reindexed.stdout

    for command in (["kb", "delete", "nope.csv"], ["kb", "show", "nope.csv"]):
        missing = runner.invoke(app, command)
        assert missing.exit_code == 1
        assert "ERROR no such document: nope.csv" in missing.stderr

    deleted = runner.invoke(app, ["kb", "delete", "store.csv"])
    assert deleted.exit_code == 0 and "deleted store.csv" in deleted.stdout
    assert runner.invoke(app, ["kb", "delete", "broken.csv"]).exit_code == 0
    empty = runner.invoke(app, ["kb", "list"])
    assert "The knowledge base has no documents" in empty.stdout


def test_ingest_without_progress_bar_prints_plain_lines(runner: CliRunner, faq: Path) -> None:
    result = runner.invoke(app, ["ingest", str(faq / "store.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "store.csv: added, 5 passages\n"
    assert "passage/s" not in result.stderr and "files 1/1" not in result.stderr
