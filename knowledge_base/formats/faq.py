"""FAQ tables: CSV, Excel (XLSX) and JSON. All three become rows of fields and share one
entry-building function: `question` and `answer` are required, `id`, `category` and `url`
optional, and rows sharing an `id` are alternative phrasings of one entry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from knowledge_base.formats.common import slugify
from knowledge_base.formats.ooxml import open_ooxml
from knowledge_base.formats.sniff import describe
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, RowCounter, TextBudget
from knowledge_base.records import FaqEntry, IngestError, ParsedDocument
from knowledge_base.text import decode

REQUIRED_COLUMNS = ("question", "answer")
OPTIONAL_COLUMNS = ("id", "category", "url")
_COLUMNS_HELP = "at least 'question' and 'answer' (optional: id, category, url)"


@dataclass(frozen=True)
class FaqRow:
    """One row of an FAQ table. `where` names it in errors ("row 3", "item 2"); `number` makes
    the default entry id when the row has no `id`."""

    where: str
    number: int
    fields: Mapping[str, str]


def missing_columns(header: Iterable[str]) -> list[str]:
    present = set(header)
    return [c for c in REQUIRED_COLUMNS if c not in present]


def faq_document(
    name: str, source_type: str, rows: Iterable[FaqRow], limits: Limits, *, no_rows: str
) -> ParsedDocument:
    """Rows -> FAQ entries, in first-seen order. Blank rows are skipped; a row with only one of
    question/answer is an error naming the row. Repeated phrasings of an entry are kept once;
    the first row of an entry gives its answer, category and url. Stops as soon as the
    entries would become more than `limits.max_passages` passages."""
    entries: dict[str, FaqEntry] = {}
    budget = PassageBudget(name, limits)
    stem = slugify(PurePath(name).stem)
    for row in rows:
        question = row.fields.get("question", "").strip()
        answer = row.fields.get("answer", "").strip()
        if not question and not answer:
            continue
        if not question or not answer:
            which = "question" if not question else "answer"
            noun = row.where.split()[0]
            raise IngestError(
                name, f"{row.where} has an empty {which}; fill it in or remove the {noun}"
            )
        entry_id = row.fields.get("id", "").strip() or f"{stem}-{row.number}"
        entry = entries.get(entry_id)
        if entry is None:
            budget.take(2)  # its first phrasing and its answer
            entries[entry_id] = FaqEntry(
                entry_id,
                (question,),
                answer,
                row.fields.get("category", "").strip() or None,
                row.fields.get("url", "").strip() or None,
            )
        elif question not in entry.questions:
            budget.take()
            entries[entry_id] = FaqEntry(
                entry_id, (*entry.questions, question), entry.answer, entry.category, entry.url
            )
    if not entries:
        raise IngestError(name, no_rows)
    doc = ParsedDocument(name, source_type)
    for entry in entries.values():
        doc.passages.extend(entry.passages())
    return doc


def _missing_header_error(name: str, missing: list[str], where: str) -> IngestError:
    return IngestError(
        name,
        f"missing required column(s) {', '.join(missing)}; {where} must be a header with "
        f"{_COLUMNS_HELP}",
    )


# ---- CSV ----------------------------------------------------------------------------------


def load_csv(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    """FAQ CSV: a header row, then one row per phrasing."""
    text = TextBudget(name, limits).take(decode(name, data))
    if not text.strip():
        raise IngestError(name, "the file is empty; an FAQ CSV needs a header and rows")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        missing = missing_columns(header)
        if missing:
            raise _missing_header_error(name, missing, "the first row")
        reader.fieldnames = header
        counter = RowCounter(name, limits, "the CSV")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            counter.take()
            rows.append(
                FaqRow(f"row {line_no}", line_no - 1, {k: v or "" for k, v in row.items() if k})
            )
    except csv.Error as exc:
        raise IngestError(name, f"the CSV is malformed ({exc}); check its quoting") from None
    return faq_document(name, "csv", rows, limits, no_rows="the CSV has a header but no FAQ rows")


# ---- Excel --------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float: id 7, not 7.0
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    return str(value).strip()


def load_xlsx(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    """FAQ workbook: the first sheet, laid out like the CSV (the first non-empty row is the
    header). Formulas count by their last calculated value."""
    import openpyxl

    archive = open_ooxml(name, data, limits, "xlsx")
    archive.close()
    budget = TextBudget(name, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions/styles
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:
            raise IngestError(
                name,
                f"the Excel workbook could not be read ({type(exc).__name__}: {exc}); open it "
                "in Excel, save it again as .xlsx and upload it again",
            ) from None
        try:
            if not workbook.worksheets:
                raise IngestError(name, "the workbook has no worksheets")
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers store a wrong size; read every row
            header: list[str] | None = None
            header_row = 0
            rows: list[FaqRow] = []
            counter = RowCounter(name, limits, f"the sheet '{sheet.title}'")
            for row_no, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
                cells = [budget.take(_cell_text(v)) for v in values]
                if header is None and any(cells):
                    header = [c.lower() for c in cells]
                    header_row = row_no
                    missing = missing_columns(header)
                    if missing:
                        raise _missing_header_error(
                            name,
                            missing,
                            f"row {row_no} (the first non-empty row of the first sheet, "
                            f"'{sheet.title}')",
                        )
                    continue
                counter.take()  # empty rows above the header count too: they are read as well
                if header is None:
                    continue
                fields = {h: c for h, c in zip(header, cells, strict=False) if h}
                rows.append(FaqRow(f"row {row_no}", row_no - header_row, fields))
        finally:
            workbook.close()
    if header is None:
        raise IngestError(
            name,
            f"the first sheet ('{sheet.title}') is empty; put the FAQ in the first sheet, with a "
            f"header row naming {_COLUMNS_HELP}",
        )
    return faq_document(
        name,
        "xlsx",
        rows,
        limits,
        no_rows=f"the sheet '{sheet.title}' has a header but no FAQ rows",
    )


# ---- JSON ---------------------------------------------------------------------------------

_JSON_SHAPE = (
    'a list of {"question": ..., "answer": ...} objects (optional: id, category, url), '
    'or {"faqs": [...]}'
)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        keys = ", ".join(f"'{k}'" for k in list(value)[:6])
        return f"an object with keys {keys}" if keys else "an empty object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


def load_json(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    """FAQ JSON: a list of objects with `question` and `answer`, or {"faqs": [...]}."""
    text = TextBudget(name, limits).take(decode(name, data))
    if not text.strip():
        raise IngestError(name, f"the file is empty; an FAQ JSON file is {_JSON_SHAPE}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise IngestError(
                name,
                f"the file is not JSON (it looks like {describe(data)}); an FAQ JSON file is "
                f"{_JSON_SHAPE}",
            ) from None
        raise IngestError(
            name,
            f"the file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "fix it there (any JSON validator shows the spot) and upload it again",
        ) from None
    except RecursionError:
        raise IngestError(name, "the JSON is nested too deeply to be an FAQ list") from None
    items = value
    if isinstance(value, dict):
        faqs = {k.strip().lower(): v for k, v in value.items()}.get("faqs")
        if isinstance(faqs, list):
            items = faqs
    if not isinstance(items, list):
        raise IngestError(
            name, f"the JSON has the wrong shape: expected {_JSON_SHAPE}, found {_kind(value)}"
        )
    RowCounter(name, limits, "the JSON list", "items").check(len(items))
    rows = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise IngestError(
                name,
                f"item {number} is {_kind(item)}, not an object with 'question' and 'answer'; "
                f"an FAQ JSON file is {_JSON_SHAPE}",
            )
        fields: dict[str, str] = {}
        for key, raw in item.items():
            field = str(key).strip().lower()
            if raw is None:
                fields[field] = ""
            elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
                fields[field] = str(raw)
            elif field in REQUIRED_COLUMNS or field in OPTIONAL_COLUMNS:
                raise IngestError(name, f"item {number}: '{field}' must be text, not {_kind(raw)}")
        missing = missing_columns(fields)
        if missing:
            present = ", ".join(f"'{k}'" for k in item) or "none"
            raise IngestError(
                name,
                f"item {number} has no {' or '.join(repr(m) for m in missing)} field (its "
                f"fields: {present}); every item needs {_COLUMNS_HELP}",
            )
        rows.append(FaqRow(f"item {number}", number, fields))
    return faq_document(name, "json", rows, limits, no_rows="the JSON list has no FAQ items")
