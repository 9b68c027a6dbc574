"""The console's CSV export cannot carry a formula into a spreadsheet: a customer who writes
`=HYPERLINK(...)` gets, in the admin's download, a quoted text cell starting with a single
quote, which spreadsheets show as text (OWASP's advice for CSV injection)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx

from tests.security.conftest import Server, admin, assert_responsive, call, completed_output
from tests.security.test_privacy_limits import chat

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def download(c: httpx.Client, file: dict[str, Any]) -> str:
    """The text of a file an event returned (Gradio FileData), fetched as the browser does."""
    url = file.get("url") or f"/admin/gradio_api/file={file['path']}"
    r = c.get(url)
    assert r.status_code == 200, r.text
    return r.content.decode("utf-8")


def export_csv(server: Server) -> str:
    c = admin(server)
    try:
        event, data = call(c, "/admin", "export_conversations", "csv", None, None, "any", "all")
        assert event == "complete", data
        file, message = data
        assert "conversations exported" in message, message
        return download(c, file)
    finally:
        c.close()


def test_a_formula_in_a_customer_message_is_text_in_the_csv_export(server: Server) -> None:
    marker = uuid.uuid4().hex[:8]
    formula = f'=HYPERLINK("http://evil.example/{marker}","x")'
    with server.client(timeout=120) as c:
        completed_output(chat(c, formula, timeout=120))
        completed_output(chat(c, f"@SUM(1+1) -{marker} +cmd|' /C calc'!A0", timeout=120))

    text = export_csv(server)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    mine = [r for r in rows if marker in r["content"]]
    assert [r["content"] for r in mine] == [
        "'" + formula,
        f"'@SUM(1+1) -{marker} +cmd|' /C calc'!A0",
    ]
    assert [r["title"] for r in mine] == [r["content"] for r in mine]  # the first messages
    # No cell anywhere in the file starts a formula, and every cell is quoted.
    for row in rows:
        for column, value in row.items():
            assert not (value or "").startswith(FORMULA_STARTS), (column, value)
    doubled = formula.replace('"', '""')
    assert f'"\'{doubled}"' in text
    assert_responsive(server)
