"""Decoding uploaded bytes into text, with errors that say what to do."""

from __future__ import annotations

import codecs

from knowledge_base.records import IngestError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(filename: str, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is an error."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            filename,
            f"the file is not UTF-8 text (undecodable byte at position {exc.start}); "
            "save it as UTF-8 and upload it again",
        ) from None
    if "\x00" in text:
        raise IngestError(filename, "the file contains binary data, not text")
    return text
