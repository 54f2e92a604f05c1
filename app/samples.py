"""Sample documents written on demand, so the demo needs nothing outside the repository.

One born-digital invoice (a PDF with a text layer) and one scanned receipt (a PNG with no
text layer, so it goes through OCR): the two paths every real batch takes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
from PIL import Image, ImageFilter

INVOICE_LINES = [
    ("ACME Office Supplies Ltd.", 16),
    ("12 Harbour Road, Bristol BS1 4AA", 10),
    ("", 10),
    ("INVOICE", 20),
    ("Invoice number: INV-2026-0042", 11),
    ("Issue date: 03/11/2026", 11),
    ("Due date: 03/12/2026", 11),
    ("Bill to: Northwind Traders, 5 Mill Lane, Leeds", 11),
    ("", 11),
    ("Item                      Qty     Price      Amount", 11),
    ("A4 paper, 500 sheets        10      4.20       42.00", 11),
    ("Ballpoint pens, box          3      6.50       19.50", 11),
    ("Stapler                      1     12.90       12.90", 11),
    ("", 11),
    ("Subtotal                                      74.40", 11),
    ("VAT 20%                                       14.88", 11),
    ("Total due (GBP)                               89.28", 12),
]

RECEIPT_LINES = [
    "CORNER CAFE SDN BHD",
    "NO 8, JALAN MERDEKA, 50050 KUALA LUMPUR",
    "DATE: 14/10/2026   TIME: 12:41",
    "RECEIPT NO: CS-10293",
    "2 X LATTE                 RM 19.00",
    "1 X CROISSANT             RM  6.50",
    "SUBTOTAL                  RM 25.50",
    "SST 6%                    RM  1.53",
    "TOTAL                     RM 27.03",
    "THANK YOU, PLEASE COME AGAIN",
]


def write_samples(folder: Path) -> list[Path]:
    """Write the sample invoice and receipt into `folder` (overwriting) and return them."""
    folder.mkdir(parents=True, exist_ok=True)
    invoice = folder / "invoice-acme.pdf"
    invoice.write_bytes(_text_pdf(INVOICE_LINES, width=595, height=842))
    receipt = folder / "receipt-corner-cafe.png"
    receipt.write_bytes(_scanned_png([(line, 11) for line in RECEIPT_LINES]))
    return [invoice, receipt]


def _text_pdf(lines: list[tuple[str, int]], *, width: int, height: int) -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    y = 60.0
    for text, size in lines:
        if text:
            page.insert_text((50, y), text, fontsize=size, fontname="cour")
        y += size * 1.6
    return document.tobytes()


def _scanned_png(lines: list[tuple[str, int]]) -> bytes:
    """Render the lines on a narrow page, then make it look scanned: grey, slightly blurred."""
    pdf = pymupdf.open("pdf", _text_pdf(lines, width=340, height=300))
    pixmap = pdf[0].get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
    image = Image.open(io.BytesIO(pixmap.tobytes("png"))).filter(ImageFilter.GaussianBlur(0.6))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
