"""A small file can hold a million rows, and every passage costs an embedding: uploads are
refused past a number of rows and of passages per file, counted while parsing, so the refusal
comes in seconds. Sent through the console's upload event, as the browser does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import (
    Server,
    agent,
    assert_responsive,
    call,
    start_server,
    stop_server,
)
from tests.security.test_kb_rights import passages, remove, shown, upload

# Parsing stops just past the row limit; the upload itself is 4 MB on localhost.
REFUSED_WITHIN_S = 20


def test_a_million_row_csv_is_refused_in_seconds(server: Server) -> None:
    # 4 MB: under the size and text limits; it would have embedded for hours.
    data = b"question,answer\n" + b"q,a\n" * 1_000_000
    assert len(data) < 5 * 1024 * 1024
    ann = agent(server)
    file = upload(ann, "million.csv", data)
    # In a thread with a deadline: an upload that is not refused embeds for hours, and the
    # event stream's heartbeats would keep a plain read timeout from ever firing.
    results: list[tuple[str, Any]] = []
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: results.append(call(ann, "/admin", "upload_files", [file])), daemon=True
    )
    worker.start()
    worker.join(timeout=REFUSED_WITHIN_S)
    elapsed = time.monotonic() - started
    assert results, f"the upload was not refused within {REFUSED_WITHIN_S} s"
    [(event, out)] = results
    assert event == "complete", out
    assert shown(out[0]).startswith(
        "❌ million.csv: the CSV has more than 20,000 rows, over the limit of 20,000 rows per "
        "file (empty rows count too); split it into smaller files, each within the limit (or "
        "ask an administrator to raise the limit)"
    ), out[0]
    assert elapsed < REFUSED_WITHIN_S
    assert passages(ann)["million.csv"] == 0  # listed as failed, with no passages
    remove(server, "million.csv")
    assert_responsive(server)


@pytest.fixture(scope="module")
def low_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose limits are set low with the settings a user would use."""
    s = start_server(
        Path(tmp_path_factory.mktemp("kb-caps")),
        {"CHATBOT_INGEST__MAX_ROWS": "100", "CHATBOT_INGEST__MAX_PASSAGES": "150"},
    )
    try:
        yield s
    finally:
        stop_server(s)


def test_row_and_passage_limits_are_settings(low_limits: Server) -> None:
    ann = agent(low_limits)
    rows = b"".join(b"e%d,Question %d?,Answer.\n" % (i, i) for i in range(101))
    sections = b"".join(b"## Question %d?\nAnswer %d.\n\n" % (i, i) for i in range(76))
    files = [
        upload(ann, "rows.csv", b"id,question,answer\n" + rows),
        upload(ann, "sections.md", sections),  # 76 FAQ sections = 152 passages
        upload(ann, "fits.csv", b"id,question,answer\n" + rows[: rows.index(b"e75,")]),
    ]
    event, out = call(ann, "/admin", "upload_files", files)
    assert event == "complete", out
    lines = shown(out[0]).split("\n\n")
    assert lines[0].startswith(
        "❌ rows.csv: the CSV has more than 100 rows, over the limit of 100 rows per file"
    ), lines
    assert lines[1].startswith(
        "❌ sections.md: the file would become more than 150 passages (each FAQ phrasing, "
        "answer and text section is one), over the limit per file; split it into smaller files"
    ), lines
    assert lines[2] == "✅ fits.csv: 150 passages added", lines
    docs = passages(ann)
    assert (docs["rows.csv"], docs["sections.md"], docs["fits.csv"]) == (0, 0, 150)
    assert_responsive(low_limits)
