"""What the command line and the console say: counts in the right number, and the files a
folder ingest skips, with the reason. The CLI runs in-process (Typer's runner) on the hash
embedder and the scripted generator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from chatbot import container
from chatbot.cli.main import app
from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from chatbot.ui.analytics import CUSTOM, add_to_faq, show_report
from chatbot.ui.export_panel import export_conversations
from chatbot.ui.faq_entries import save_entry
from chatbot.ui.knowledge import preview_document, report_line, upload_files
from knowledge_base.embedders import HashEmbedder
from knowledge_base.loaders import LOADERS
from knowledge_base.records import IngestProgress, IngestResult
from tests.unit.conversation_data import Turn, add_conversation, at

SUPPORTED = ", ".join(sorted(LOADERS))
SKIPPED_XYZ = f"unsupported file type '.xyz'; supported types: {SUPPORTED}"
ONE_PASSAGE = "We are open from 9 to 5 on weekdays.\n"

Invoke = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`chatbot ARGS...` in this process, its services on the hash embedder."""
    real_build = container.build

    def build(settings: Settings, **kwargs: Any) -> Services:
        kwargs.setdefault("embedder", HashEmbedder())
        kwargs.setdefault("generator", ScriptedGenerator())
        return real_build(settings, **kwargs)

    monkeypatch.setattr(container, "build", build)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


# ---- counts ---------------------------------------------------------------------------------
def test_plural_takes_the_form_the_count_needs() -> None:
    assert plural(0, "passage") == "0 passages"
    assert plural(1, "passage") == "1 passage"
    assert plural(2, "passage") == "2 passages"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(12, "entry", "entries") == "12 entries"


def test_cli_counts_one_passage_in_the_singular(cli: Invoke, tmp_path: Path) -> None:
    notes = tmp_path / "hours.txt"
    notes.write_text(ONE_PASSAGE, encoding="utf-8")
    ingested = cli("ingest", notes)
    assert ingested.exit_code == 0, ingested.output
    assert ingested.stdout == "hours.txt: added, 1 passage\n"

    shown = cli("kb", "show", "hours.txt")
    assert shown.stdout.splitlines()[0] == "hours.txt: text, 1 passage"
    reindexed = cli("kb", "reindex")
    assert reindexed.stdout.startswith("index rebuilt from the database: 1 passage (revision ")


def test_cli_counts_one_conversation_in_the_singular(cli: Invoke, tmp_path: Path) -> None:
    from chatbot.storage import db

    settings = Settings()  # the data dir the commands use (CHATBOT_DATA_DIR)
    db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url)
    try:
        add_conversation(db.make_sessions(engine), at("2020-01-02"), [Turn("Old question?")])
    finally:
        engine.dispose()
    exported = cli("export", "--out", tmp_path / "out.csv")
    assert exported.exit_code == 0, exported.output
    assert exported.stderr == f"exported 1 conversation to {tmp_path / 'out.csv'}\n"

    purged = cli("purge", "--older-than", "30", "--yes")
    assert purged.exit_code == 0, purged.output
    assert purged.stdout.startswith("deleted 1 conversation with no activity since ")


def test_console_counts_in_the_singular(services: Services, tmp_path: Path) -> None:
    notes = tmp_path / "hours.txt"
    notes.write_text(ONE_PASSAGE, encoding="utf-8")
    report, _ = upload_files(services, [notes])
    assert report == "✅ hours.txt: 1 passage added"
    caption, _ = preview_document(services, "hours.txt")
    assert caption == "**hours.txt**: 1 passage, in document order."
    message, _, _ = save_entry(services, "parking", "Is there parking?", "", "Yes.", "", "")
    assert message == "✅ Saved `parking` (1 phrasing)."


def test_analytics_counts_in_the_singular(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_conversation(
        services.sessions, at("2024-03-01"), [Turn("Do you ship to Mars?", "fallback")]
    )
    summary, *_, groups, picker = show_report(services, CUSTOM, "2024-03-01", "2024-03-01")
    assert "1 conversation, 2 messages, 1 bot answer." in summary
    assert picker["choices"] == [("1. Do you ship to Mars? (asked 1 time)", "0")]
    added = add_to_faq(services, groups, "0", "Do you ship to Mars?", "Not yet.")
    assert added.startswith("✅ Added `") and added.endswith(
        "” with 1 phrasing; it is in answers now."
    )

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    _, exported = export_conversations(services, "csv", "2024-03-01", "2024-03-01", "any")
    assert exported == "✅ 1 conversation exported (downloadable for 5 min)."


# ---- files a folder ingest skips ------------------------------------------------------------
def test_folder_ingest_lists_unsupported_files_as_skipped_and_goes_on(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(ONE_PASSAGE, encoding="utf-8")
    (folder / "notes.xyz").write_text("not a document", encoding="utf-8")
    (folder / "sub" / "README").write_text("no extension", encoding="utf-8")
    (folder / "sub" / "z.md").write_text("# Hours\n\nOpen 9 to 5.\n", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0\0")  # hidden: not a document, not listed
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    seen: list[IngestResult] = []
    progress: list[IngestProgress] = []

    results = services.kb.ingest_paths([folder], on_result=seen.append, progress=progress.append)

    assert seen == results
    assert [(r.name, r.status, r.message) for r in results] == [
        ("a.txt", "added", ""),
        ("notes.xyz", "skipped", SKIPPED_XYZ),
        ("README", "skipped", SKIPPED_XYZ.replace("'.xyz'", "'(none)'")),
        ("z.md", "added", ""),
    ]
    assert all(r.ok for r in results)
    assert progress[-1].files_total == progress[-1].files_done == 2  # skipped files: not read
    # Skipped files are not recorded as documents (failed or otherwise).
    assert sorted(d.name for d in services.kb.documents()) == ["a.txt", "z.md"]


def test_cli_folder_ingest_prints_skipped_files(cli: Invoke, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "a.txt").write_text(ONE_PASSAGE, encoding="utf-8")
    (folder / "notes.xyz").write_text("not a document", encoding="utf-8")
    result = cli("ingest", folder)
    assert result.exit_code == 0, result.output  # a skipped file is not a failure
    assert result.stdout.splitlines() == [
        "a.txt: added, 1 passage",
        f"notes.xyz: skipped, {SKIPPED_XYZ}",
    ]
    assert result.stderr == ""

    only_unsupported = tmp_path / "other"
    only_unsupported.mkdir()
    (only_unsupported / "notes.xyz").write_text("not a document", encoding="utf-8")
    nothing = cli("ingest", only_unsupported)
    assert nothing.exit_code == 1
    assert nothing.stdout == f"notes.xyz: skipped, {SKIPPED_XYZ}\n"
    assert nothing.stderr == f"No supported files found (supported: {SUPPORTED}).\n"


def test_cli_still_fails_a_named_file_of_an_unsupported_type(cli: Invoke, tmp_path: Path) -> None:
    named = tmp_path / "notes.xyz"
    named.write_text("not a document", encoding="utf-8")
    result = cli("ingest", named)
    assert result.exit_code == 1
    assert result.stderr == f"notes.xyz: ERROR {SKIPPED_XYZ}\n"


def test_console_report_shows_a_skipped_file() -> None:
    line = report_line(IngestResult("notes.xyz", "skipped", message=SKIPPED_XYZ))
    assert line == f"⏭️ notes.xyz: skipped, {SKIPPED_XYZ}"
