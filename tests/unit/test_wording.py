"""Counts in staff texts: one passage, one phrasing, not "1 passages"."""

from __future__ import annotations

import pytest

from chatbot.core.wording import plural
from chatbot.staff.audit import ingest_details
from knowledge_base.records import IngestResult


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 passages"), (1, "1 passage"), (2, "2 passages")]
)
def test_plural_takes_the_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "passage") == expected
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_the_audit_log_counts_an_ingested_file_passages_in_the_right_number() -> None:
    assert ingest_details(IngestResult("faq.csv", "added", 1)) == "added, 1 passage"
    assert ingest_details(IngestResult("faq.csv", "added", 4)) == "added, 4 passages"
    failed = IngestResult("bad.csv", "error", message="no rows")
    assert ingest_details(failed) == "no rows"
