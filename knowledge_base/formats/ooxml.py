"""Office Open XML (DOCX, XLSX) files are ZIP archives. Check that a file really is the kind
its extension says, and that it cannot unpack into a zip bomb, before a parser opens it."""

from __future__ import annotations

import io
import zipfile

from knowledge_base.formats.sniff import OLD_OFFICE, describe, is_zip
from knowledge_base.limits import Limits, check_zip_sizes
from knowledge_base.records import IngestError

_KINDS = {
    # extension: (what it is, its article, the part every such file has, how to make one)
    "docx": ("Word document (.docx)", "a", "word/document.xml", "save it from Word as .docx"),
    "xlsx": ("Excel workbook (.xlsx)", "an", "xl/workbook.xml", "save it from Excel as .xlsx"),
}


def open_ooxml(name: str, data: bytes, limits: Limits, kind: str) -> zipfile.ZipFile:
    """The archive, opened and checked; the caller closes it."""
    what, article, main_part, fix = _KINDS[kind]
    if not data.strip():
        raise IngestError(name, f"the file is empty; {fix} and upload it again")
    if not is_zip(data):
        looks = describe(data)
        if looks == OLD_OFFICE:
            fix += " (without a password)"
        raise IngestError(
            name, f"this is not {article} {what}: it looks like {looks}; {fix} and upload it again"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(
            name,
            f"the {what} is damaged or incomplete (it is not a readable ZIP archive: {exc}); "
            f"{fix} again and upload it again",
        ) from None
    try:
        check_zip_sizes(name, archive, what, limits)
        if main_part not in archive.namelist():
            raise IngestError(
                name,
                f"this is not {article} {what}: it is {describe(data)}, with no {main_part} "
                "inside; "
                f"{fix} and upload it again",
            )
    except BaseException:
        archive.close()
        raise
    return archive
