"""Size limits for uploaded files, checked before and while parsing, with errors that say
what to do. One frozen `Limits` object travels from settings to every loader."""

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
    checked against the archive's declared sizes before any part of it is decompressed."""

    max_file_bytes: int = 50 * MB
    max_pages: int = 2000
    max_text_chars: int = 5_000_000
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
