"""Decoding uploaded bytes into text, with errors that say what to do.

UTF-8 (with or without a BOM) and BOM-marked UTF-16/UTF-32 are read as such. Anything else is
handed to charset-normalizer, limited to common legacy encodings (Windows code pages, ISO-8859,
KOI8, Shift-JIS, GB18030, Big5, EUC-KR...). Its guesses on short Western text are ambiguous
(cp1250, cp1252 and cp1257 often fit equally well), so among equally good guesses Windows-1252
wins. Short Chinese text is as ambiguous: GBK bytes are also valid Korean (EUC-KR) or
Japanese (EUC-JP) bytes, so a one-row GB18030 FAQ can score as well as Korean; among equally
good guesses GB18030 wins when it reads as Chinese ideographs and the rival does not read as
its own language. Binary data is refused, not guessed at: NULs, control characters, high
"chaos", or the 0xFF filler byte decoded as a Latin letter.
"""

from __future__ import annotations

import codecs
import re
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
CHINESE_LEGACY = "gb18030"
_KOREAN = frozenset({"cp949", "euc_kr"})
_JAPANESE = frozenset({"cp932", "shift_jis", "euc_jp", "iso2022_jp"})
_MOSTLY = 0.9  # the share of the non-ASCII letters that must be Chinese ideographs
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HIRAGANA = re.compile("[\u3041-\u309f]")
# Shift-JIS reads the lead bytes of most GBK characters as half-width katakana, which Japanese
# text today hardly uses.
_SHIFT_JIS = frozenset({"cp932", "shift_jis"})
_HALF_WIDTH_KANA = re.compile("[\uff61-\uff9f]")
# Korean puts spaces between words, Chinese does not: Hangul on both sides of a space is Korean
# text, not Chinese bytes read as Korean.
_SPACED_HANGUL = re.compile("[\uac00-\ud7a3] +[\uac00-\ud7a3]")
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
        if western:
            encoding = PREFERRED_LEGACY
        elif _reads_as_chinese(
            data, best.encoding, {e for m in tied for e in m.could_be_from_charset}
        ):
            encoding = CHINESE_LEGACY
        else:
            encoding = best.encoding
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


def _reads_as_chinese(data: bytes, best: str, tied: set[str]) -> bool:
    """Whether GB18030, tied with a Korean or Japanese best guess, is the better reading: as
    GB18030 the text is mostly Chinese ideographs, and read as the best guess it shows none
    of that language's signs, which Chinese bytes read as Japanese or Korean hardly ever
    have: spaces between Hangul words for Korean; hiragana for Japanese, or for Shift-JIS
    no half-width katakana (kanji-only Japanese such as "東京都" stays Japanese)."""
    if CHINESE_LEGACY not in tied or best not in _KOREAN | _JAPANESE:
        return False
    try:
        chinese, rival = data.decode(CHINESE_LEGACY), data.decode(best)
    except (UnicodeDecodeError, LookupError):
        return False
    letters = [ch for ch in chinese if not ch.isascii() and unicodedata.category(ch)[0] == "L"]
    if not letters or len(_HAN.findall(chinese)) < _MOSTLY * len(letters):
        return False
    if best in _KOREAN:
        return _SPACED_HANGUL.search(rival) is None
    if best in _SHIFT_JIS and _HALF_WIDTH_KANA.search(rival) is None:
        return False
    return _HIRAGANA.search(rival) is None


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
