"""Size limits for uploaded files, checked before and while parsing, with errors that say
what to do. One frozen `Limits` object travels from settings to every loader.

Counts (rows, passages) are checked as they grow, so an oversized file is refused after
reading just past the limit, never after building all of it: a small file can hold a million
rows, and every passage costs an embedding."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, fields

from knowledge_base.records import IngestError

MB = 1024 * 1024
# Members smaller than this are never called a zip bomb, however well they compress: tiny XML
# parts (styles, settings) routinely compress far better than real content.
_RATIO_MIN_MEMBER_BYTES = 1 * MB


@dataclass(frozen=True)
class Limits:
    """Per-file limits. `max_zip_*` guard DOCX/XLSX (ZIP) archives against zip bombs: they are
    checked against the archive's declared sizes before any part of it is decompressed.
    `max_rows` counts the rows of an FAQ table (CSV, sheet) or the items of an FAQ JSON list;
    `max_passages` what a file becomes (each FAQ phrasing, each answer, each text chunk).
    A table within `max_rows` becomes at most 2 x `max_rows` passages."""

    max_file_bytes: int = 50 * MB
    max_pages: int = 2000
    max_text_chars: int = 5_000_000
    max_rows: int = 20_000
    max_passages: int = 50_000
    max_zip_uncompressed_bytes: int = 200 * MB
    max_zip_ratio: float = 100.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Limits.{f.name} must be positive")


DEFAULT_LIMITS = Limits()


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < MB:
        return f"{n / 1024:.1f} KB"
    return f"{n / MB:.1f} MB"


def check_file_size(name: str, size: int, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise IngestError(
            name,
            f"the file is {human_size(size)}, over the limit of "
            f"{human_size(limits.max_file_bytes)} per file; split it into smaller files "
            "(or ask an administrator to raise the limit)",
        )


def check_pages(name: str, pages: int, limits: Limits, kind: str = "document") -> None:
    if pages > limits.max_pages:
        unit = "page" if limits.max_pages == 1 else "pages"
        raise IngestError(
            name,
            f"the {kind} has {pages} pages, over the limit of {limits.max_pages} {unit} per "
            "file; split it into smaller files",
        )


class TextBudget:
    """Counts extracted characters for one file and stops as soon as the limit is passed,
    so a huge document is rejected before all of it is processed."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limit = limits.max_text_chars
        self.used = 0

    def take(self, text: str) -> str:
        self.used += len(text)
        if self.used > self.limit:
            raise IngestError(
                self.name,
                f"the document contains more than {self.limit:,} characters of text, over the "
                "limit per file; split it into smaller files",
            )
        return text


class RowCounter:
    """Counts the rows of one FAQ table as they are read and stops just past the limit.
    Empty rows count too: reading them costs the same, and a sheet can claim a million."""

    def __init__(self, name: str, limits: Limits, what: str = "the CSV", unit: str = "rows"):
        self.name = name
        self.limit = limits.max_rows
        self.what = what
        self.unit = unit
        self.count = 0

    def take(self) -> None:
        self.count += 1
        if self.count > self.limit:
            raise self.error(f"more than {self.limit:,}")

    def check(self, count: int) -> None:
        """For a list whose length is known at once (the items of a JSON file)."""
        if count > self.limit:
            raise self.error(f"{count:,}")

    def error(self, count: str) -> IngestError:
        return IngestError(
            self.name,
            f"{self.what} has {count} {self.unit}, over the limit of {self.limit:,} {self.unit} "
            f"per file{' (empty rows count too)' if self.unit == 'rows' else ''}; split it into "
            "smaller files, each within the limit (or ask an administrator to raise the limit)",
        )


class PassageBudget:
    """Counts the passages one file becomes as they are made and stops just past the limit,
    so no more are built (or, later, embedded) than the limit allows."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limit = limits.max_passages
        self.used = 0

    def take(self, n: int = 1) -> None:
        self.used += n
        if self.used > self.limit:
            raise IngestError(
                self.name,
                f"the file would become more than {self.limit:,} passages (each FAQ phrasing, "
                "answer and text section is one), over the limit per file; split it into "
                "smaller files (or ask an administrator to raise the limit)",
            )


def check_zip_sizes(name: str, archive: zipfile.ZipFile, kind: str, limits: Limits) -> None:
    """Reject an archive whose declared sizes would unpack too large or that compresses like a
    zip bomb. `zipfile` never returns more bytes than a member declares, so checking the
    declared sizes up front bounds what any later reader can decompress."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size >= _RATIO_MIN_MEMBER_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_zip_ratio:
                raise IngestError(
                    name,
                    f"the {kind} contains a part ({info.filename}) that expands {ratio:,.0f} "
                    f"times when unpacked (the limit is {limits.max_zip_ratio:,.0f}); this "
                    "looks like a zip bomb, not a normal document, so it was not opened",
                )
    if total > limits.max_zip_uncompressed_bytes:
        raise IngestError(
            name,
            f"the {kind} would unpack to {human_size(total)}, over the limit of "
            f"{human_size(limits.max_zip_uncompressed_bytes)}; remove large embedded images "
            "or split it into smaller files",
        )
