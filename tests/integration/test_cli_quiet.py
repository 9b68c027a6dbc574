"""The real `chatbot` console script is quiet unless asked: no library INFO lines (Alembic's
migration notes) without `--verbose`, and warnings always. Database-only commands on a fresh
data dir, so no model is loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHATBOT = Path(sys.executable).parent / "chatbot"


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env["CHATBOT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [str(CHATBOT), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("command", [("db", "upgrade"), ("users", "list")])
def test_commands_print_no_migration_lines_unless_verbose(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    quiet = run(*command, data_dir=tmp_path / "quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert "alembic" not in (quiet.stdout + quiet.stderr).lower()
    assert quiet.stderr == ""
    assert (tmp_path / "quiet" / "chatbot.db").exists()  # the migrations did run

    for flag in ("--verbose", "-v"):
        verbose = run(flag, *command, data_dir=tmp_path / flag)
        assert verbose.returncode == 0, verbose.stderr
        assert "INFO alembic.runtime.migration: Running upgrade  -> 0001" in verbose.stderr
        assert verbose.stdout == quiet.stdout  # the command's own output is the same


def test_warnings_and_errors_are_logged_without_verbose() -> None:
    # The CLI's logging set-up in a fresh interpreter, as `chatbot` runs it.
    code = (
        "import logging\n"
        "from chatbot.core.log_format import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger('alembic.runtime.migration').info('a migration note')\n"
        "library = logging.getLogger('bm25s')\n"
        "library.setLevel(logging.DEBUG)  # as bm25s does on import\n"
        "library.debug('a library that sets its own level')\n"
        "logging.getLogger('knowledge_base.index_sync').warning('could not save the index')\n"
        "logging.getLogger('chatbot.web.app').error('the database is locked')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stderr.splitlines() == [
        "WARNING knowledge_base.index_sync: could not save the index",
        "ERROR chatbot.web.app: the database is locked",
    ]
