"""Say what a file really looks like from its first bytes, for errors about files whose
content does not match their extension (a PDF renamed .docx, a text file renamed .pdf...)."""

from __future__ import annotations

import io
import zipfile

NON_UTF8 = "text in a non-UTF-8 encoding, or binary data"
# Descriptions that say no more than "this is some kind of text".
TEXT_LIKE = frozenset(
    {"plain text", "text", "an HTML page", "XML or HTML markup", "JSON", NON_UTF8}
)
OLD_OFFICE = (
    "an old-format Office file (.doc, .xls or .ppt) or a password-protected Office document"
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLD_OFFICE),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

_ZIP_KINDS = (
    ("word/document.xml", "a Word document (.docx)"),
    ("xl/workbook.xml", "an Excel workbook (.xlsx)"),
    ("ppt/presentation.xml", "a PowerPoint presentation (.pptx)"),
    ("content.xml", "an OpenDocument file (.odt/.ods)"),
)


def is_pdf(data: bytes) -> bool:
    # The PDF header may follow a little junk; readers (and pypdf) look in the first 1 KB.
    return b"%PDF-" in data[:1024]


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def describe(data: bytes) -> str:
    """A short phrase such as 'a PNG image' or 'plain text', to follow 'it looks like'."""
    if not data.strip():
        return "an empty file"
    if is_pdf(data):
        return "a PDF document"
    if is_zip(data):
        return describe_zip(data)
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return "text"
    if b"\x00" in head:
        return "binary data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) == len(head) or exc.start < len(head) - 4:  # not just a cut-off char
            return NON_UTF8
        text = head[: exc.start].decode("utf-8")
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")) or "<body" in start:
        return "an HTML page"
    if start.startswith("<?xml") or start.startswith("<"):
        return "XML or HTML markup"
    if start.startswith(("{", "[")):
        return "JSON"
    return "plain text"


def describe_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "a damaged or incomplete ZIP archive"
    for member, what in _ZIP_KINDS:
        if member in names:
            return what
    return "a ZIP archive"
