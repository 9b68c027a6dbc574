"""Decoding uploaded bytes into text, with errors that say what to do.

UTF-8 (with or without a BOM) and BOM-marked UTF-16/UTF-32 are read as such. Anything else is
handed to charset-normalizer, limited to common legacy encodings (Windows code pages, ISO-8859,
KOI8, Shift-JIS, GB18030, Big5, EUC-KR...). Its guesses on short Western text are ambiguous
(cp1250, cp1252 and cp1257 often fit equally well), so among equally good guesses Windows-1252
wins. Binary data is refused, not guessed at: NULs, control characters, high "chaos", or the
0xFF filler byte decoded as a Latin letter.
"""

from __future__ import annotations

import codecs
import unicodedata

from charset_normalizer import from_bytes

from knowledge_base.formats.sniff import TEXT_LIKE, describe
from knowledge_base.records import IngestError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Encodings a staff member's spreadsheet or editor plausibly saved; anything outside this list is
# more likely a wrong guess than a real file (charset-normalizer offers e.g. cp1006 for "café").
LEGACY_ENCODINGS = [
    "cp1252",
    "iso8859_15",
    "latin_1",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "koi8_u",
    "iso8859_5",
    "cp1253",
    "iso8859_7",
    "cp1254",
    "iso8859_9",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "mac_roman",
    "cp874",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "gb18030",
    "big5",
    "euc_kr",
    "cp949",
]
PREFERRED_LEGACY = "cp1252"
MAX_CHAOS = 0.2  # charset-normalizer's own threshold for "this is not text in that encoding"
_TIE = 0.01
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
# 0xFF pads binary files but is not used in Western text, where code pages decode it as these.
_FILLER_LETTERS = frozenset("ÿ˙ˇ")


def decode(filename: str, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), BOM-marked UTF-16/32, or a common legacy encoding
    detected with charset-normalizer; binary or undecodable data is an IngestError."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                label = encoding.removesuffix("-sig").upper()
                raise IngestError(
                    filename,
                    f"the file starts with a {label} byte-order mark but is not valid {label} "
                    "text (it may be cut off or damaged); save it as UTF-8 and upload it again",
                ) from None
            _reject_nul(filename, text, data)
            return text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _decode_legacy(filename, data, exc.start)
    _reject_nul(filename, text, data)
    return text


def _reject_nul(filename: str, text: str, data: bytes) -> None:
    if "\x00" in text:
        raise _binary(filename, data)


def _binary(filename: str, data: bytes) -> IngestError:
    what = describe(data)
    looks = "" if what in TEXT_LIKE or what == "binary data" else f"; it looks like {what}"
    return IngestError(
        filename,
        f"the file contains binary data, not text{looks}; upload the document in one of the "
        "supported formats, saved as UTF-8 text where it is a text format",
    )


def _decode_legacy(filename: str, data: bytes, utf8_error_at: int) -> str:
    if b"\x00" in data:
        raise _binary(filename, data)
    matches = from_bytes(data, cp_isolation=LEGACY_ENCODINGS, threshold=MAX_CHAOS)
    best = matches.best()
    encoding: str | None = None
    if best is not None and best.chaos <= MAX_CHAOS:
        tied = [m for m in matches if m.chaos <= best.chaos + _TIE]
        western = any(PREFERRED_LEGACY in (m.encoding, *m.could_be_from_charset) for m in tied)
        encoding = PREFERRED_LEGACY if western else best.encoding
    text = None
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            text = None
    if text is not None and not _looks_binary(text, data, encoding or ""):
        return text
    what = describe(data)
    looks = "" if what in TEXT_LIKE else f" It looks like {what}."
    raise IngestError(
        filename,
        f"the file is not UTF-8 text (undecodable byte at position {utf8_error_at}) and is not "
        f"text in another common encoding either.{looks} Save it as UTF-8 text and upload it "
        "again",
    )


def _looks_binary(text: str, data: bytes, encoding: str) -> bool:
    if any(unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in set(text)):
        return True
    if b"\xff" in data:
        try:
            filler = b"\xff".decode(encoding)
        except UnicodeDecodeError:
            return False
        return filler in _FILLER_LETTERS
    return False
