"""Build small but real files of every supported type at test time (no binary fixtures in the
repository): XLSX with openpyxl, DOCX with python-docx, PDF with fpdf2, and text files in the
encodings staff actually upload."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

FAQ_ROWS = [
    ("returns", "How do I return an item?", "Start a return from Order History.", "Returns"),
    ("returns", "Can I send something back?", "Start a return from Order History.", "Returns"),
    ("giftcards", "Do gift cards expire?", "Gift cards never expire.", "Payments"),
]


def xlsx_bytes(
    rows: list[list[object]] | None = None, *, title: str = "FAQ", leading_blank_rows: int = 0
) -> bytes:
    """A workbook whose first sheet holds `rows` (default: an FAQ with a header); a second
    sheet proves only the first one is read."""
    import openpyxl

    if rows is None:
        rows = [["ID", "Question", "Answer", "Category", "URL"]]
        rows += [[i, q, a, c, None] for i, q, a, c in FAQ_ROWS]
        rows.append([None, None, None, None, None])  # a blank row is skipped
        rows.append([7, "What is order 7?", 1234.0, None, "https://x.example/7"])
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for _ in range(leading_blank_rows):
        sheet.append([])
    for row in rows:
        sheet.append(row)
    other = workbook.create_sheet("Notes")
    other.append(["question", "answer"])
    other.append(["Is this sheet read?", "No, only the first sheet is."])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    """Title, text before the first heading, Heading 1/2 sections, a table, and a heading that
    is a question (an FAQ entry)."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Care Guide"
    document.add_paragraph("Read this before washing anything.")
    document.add_heading("Washing", level=1)
    document.add_paragraph("Wash jackets cold, on a gentle cycle.")
    document.add_paragraph("Close every zip first.")
    document.add_heading("Sizes", level=2)
    table = document.add_table(rows=3, cols=2)
    for r, (size, chest) in enumerate([("Size", "Chest"), ("M", "96 cm"), ("L", "104 cm")]):
        table.cell(r, 0).text = size
        table.cell(r, 1).text = chest
    document.add_heading("Can I tumble dry my jacket?", level=1)
    document.add_paragraph("No. Hang it to dry away from direct heat.")
    document.add_paragraph("Tumble drying melts the taped seams.")
    document.add_heading("Repairs", level=1)
    document.add_paragraph("Send torn jackets to our repair centre.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes(pages: list[str] | None = None, *, title: str = "Shipping Handbook") -> bytes:
    """A real PDF with one page per string (default: three pages)."""
    from fpdf import FPDF

    if pages is None:
        pages = [
            "How long does shipping take? Standard shipping takes 3 to 5 business days.",
            "Express shipping arrives the next business day if ordered before noon.",
            "We ship to Canada and the European Union. Customs fees are included.",
        ]
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def blank_pdf_bytes(pages: int = 2) -> bytes:
    """Pages with a drawing but no text: what a scanned document looks like to a parser."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Help Centre</title>
  <style>body { color: red; } .secret { display: none; }</style>
  <script>var tracking = "do not index me";</script>
</head>
<body>
  <nav><a href="/">Home</a> | <a href="/shop">Shop all products</a></nav>
  <p>Welcome to the <b>help</b> centre.</p>
  <h1>Delivery</h1>
  <p>We deliver   on weekdays.<br>Weekend delivery costs extra.</p>
  <h2>Do you deliver on Sundays?</h2>
  <p>No, we do not deliver on Sundays.</p>
  <p>Saturday delivery is available in cities.</p>
  <h2>Rates</h2>
  <table>
    <tr><th>Zone</th><th>Price</th></tr>
    <tr><td>Local</td><td>$5</td></tr>
  </table>
  <noscript>Please enable JavaScript.</noscript>
  <div hidden>Hidden promo text.</div>
  <h1>Returns</h1>
  <ul><li>Returns within 30 days.</li><li>Keep the receipt.</li></ul>
  <script>console.log("also not text");</script>
</body>
</html>
"""

FAQ_JSON = [
    {"id": "returns", "question": "How do I return an item?", "answer": "Use Order History."},
    {"id": "returns", "question": "Can I send something back?", "answer": "Use Order History."},
    {"question": "Do gift cards expire?", "answer": "Never.", "category": "Payments"},
]

TXT = (
    "Opening hours\n\n"
    "Our café is open from 8 to 18 on weekdays — and on Saturdays from 9.\n\n"
    "Q: Do you take reservations?\n"
    "A: Only for groups of six or more.\n"
)


def json_bytes(value: object = None) -> bytes:
    return json.dumps(FAQ_JSON if value is None else value, indent=2).encode()


def zip_bomb_docx(member_mb: int = 20) -> bytes:
    """A .docx-shaped ZIP with a small valid-looking document part and one member of
    `member_mb` MB of zeros that compresses about a thousand to one."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("word/media/padding.bin", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(member_mb):
                member.write(chunk)
    return out.getvalue()


def write_all(folder: Path) -> dict[str, Path]:
    """Every supported type (and both legacy text encodings) as files in `folder`."""
    files = {
        "faq.xlsx": xlsx_bytes(),
        "care guide.docx": docx_bytes(),
        "shipping.pdf": pdf_bytes(),
        "help.html": HTML.encode("utf-8"),
        "faq.json": json_bytes(),
        "hours.txt": TXT.encode("cp1252"),
        "hours-utf16.txt": TXT.encode("utf-16"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths
