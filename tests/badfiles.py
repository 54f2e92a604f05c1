"""Writers of small test documents, good and bad, for the pipeline and app-layer tests.

Each `make_*` function writes one file into `directory` and returns its path. Files are
built with PyMuPDF and Pillow at test time, so nothing binary is committed and every file is
exactly the case its name says.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw, ImageFont

BORN_DIGITAL_LINES = (
    "Invoice number INV-2024-0042",
    "Date of issue 14 March 2024",
    "Total amount due 1,234.56 EUR",
)
SCANNED_LINES = (
    "ACME SUPPLIES LIMITED",
    "RECEIPT NUMBER 778812",
    "TOTAL PAID 98.40",
)
TIFF_PAGE_LINES = ("FIRST PAGE ALPHA", "SECOND PAGE BRAVO", "THIRD PAGE CHARLIE")
BOMB_SIDE = 30_000
A4_POINTS = (595, 842)
LARGEST_PDF_PAGE_POINTS = 14_400  # the PDF spec's limit for a page side (200 inches)


def text_page_pdf(lines: tuple[str, ...], *, rotation: int = 0, fontsize: float = 14) -> bytes:
    """A one-page A4 PDF with `lines` as real text, top-left, optionally /Rotate'd."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
    for number, line in enumerate(lines):
        page.insert_text((72, 100 + number * fontsize * 2), line, fontsize=fontsize)
    page.set_rotation(rotation)
    return doc.tobytes()


def text_image(lines: tuple[str, ...], *, dpi: int = 150, full_page: bool = False) -> Image.Image:
    """An RGB image of `lines` as a scanner would see them (rendered from a real PDF).

    By default only the top strip of the A4 page that holds the text, to keep OCR quick.
    """
    doc = pymupdf.open(stream=text_page_pdf(lines, fontsize=18), filetype="pdf")
    clip = None if full_page else pymupdf.Rect(0, 0, A4_POINTS[0], 260)
    pixmap = doc[0].get_pixmap(dpi=dpi, alpha=False, clip=clip)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def make_born_digital_pdf(directory: Path, lines: tuple[str, ...] = BORN_DIGITAL_LINES) -> Path:
    """A valid PDF with a text layer holding `lines`."""
    return _write(directory / "born_digital.pdf", text_page_pdf(lines))


def make_multipage_pdf(directory: Path, pages: int, *, name: str = "pages.pdf") -> Path:
    """A born-digital PDF of `pages` pages, each saying which page it is (and its file)."""
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
        page.insert_text((72, 100), f"{name} page {number + 1} of {pages}", fontsize=14)
        page.insert_text((72, 130), "Invoice total due 12.50 EUR", fontsize=14)
    return _write(directory / name, doc.tobytes())


def make_rotated_pdf(directory: Path, rotation: int = 90) -> Path:
    """A born-digital PDF whose page carries /Rotate `rotation`."""
    return _write(
        directory / f"rotated_{rotation}.pdf", text_page_pdf(BORN_DIGITAL_LINES, rotation=rotation)
    )


def make_scanned_pdf(directory: Path, *, page_number_stamp: bool = True) -> Path:
    """An image-only PDF of `SCANNED_LINES`, with a text page-number stamp by default.

    The stamp is what scanning software adds; it must not stop the page being OCR'd.
    """
    buffer = io.BytesIO()
    text_image(SCANNED_LINES, full_page=True).save(buffer, format="JPEG", quality=85)
    doc = pymupdf.open()
    page = doc.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
    page.insert_image(page.rect, stream=buffer.getvalue())
    if page_number_stamp:
        page.insert_text((A4_POINTS[0] - 60, A4_POINTS[1] - 20), "1 / 1", fontsize=8)
    return _write(directory / "scanned.pdf", doc.tobytes())


def make_corrupt_pdf(directory: Path) -> Path:
    """A %PDF header followed by random bytes (and an %%EOF, so it is not merely truncated)."""
    rng = random.Random(1234)
    junk = bytes(rng.getrandbits(8) for _ in range(4096))
    return _write(directory / "corrupt.pdf", b"%PDF-1.7\n" + junk + b"\n%%EOF\n")


def make_truncated_pdf(directory: Path) -> Path:
    """A real multi-page PDF cut in half, as an interrupted upload leaves it."""
    doc = pymupdf.open()
    for number in range(6):
        page = doc.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
        for line in range(30):
            page.insert_text((72, 72 + line * 20), f"Page {number + 1} line {line + 1} text")
    data = doc.tobytes(garbage=0, deflate=False)
    return _write(directory / "truncated.pdf", data[: len(data) // 2])


def make_zero_page_pdf(directory: Path) -> Path:
    """A well-formed PDF whose page tree is empty (PyMuPDF refuses to save one itself)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    data = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(data)
    data += b"xref\n0 3\n0000000000 65535 f \n"
    data += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    data += b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return _write(directory / "zero_pages.pdf", data)


def make_truncated_jpeg(directory: Path) -> Path:
    """A JPEG cut after its header: it opens, but its pixels cannot be decoded."""
    buffer = io.BytesIO()
    text_image(SCANNED_LINES).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    return _write(directory / "truncated.jpg", data[: len(data) // 3])


def make_encrypted_pdf(directory: Path, password: str = "secret") -> Path:
    """A born-digital PDF that needs `password` to open."""
    doc = pymupdf.open(stream=text_page_pdf(BORN_DIGITAL_LINES), filetype="pdf")
    data = doc.tobytes(
        encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "-owner"
    )
    return _write(directory / "encrypted.pdf", data)


def make_empty_file(directory: Path) -> Path:
    """A zero-byte file named like a PDF."""
    return _write(directory / "empty.pdf", b"")


def make_png_named_pdf(directory: Path) -> Path:
    """PNG bytes under a .pdf name: must be processed as the PNG it is."""
    buffer = io.BytesIO()
    text_image(SCANNED_LINES).save(buffer, format="PNG")
    return _write(directory / "actually_png.pdf", buffer.getvalue())


def make_unsupported_file(directory: Path, kind: str = "zip") -> Path:
    """A file docfuse does not read: a ZIP archive (`kind="zip"`) or plain text (`"text"`)."""
    if kind == "text":
        return _write(directory / "notes.pdf", b"Just some notes, not a PDF at all.\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return _write(directory / "archive.pdf", buffer.getvalue())


def make_decompression_bomb(directory: Path, side: int = BOMB_SIDE) -> Path:
    """A valid 1-bit PNG of `side` x `side` zeros: ~100 KB on disk, `side**2` pixels decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat)
    return _write(directory / "bomb.png", data + _chunk(b"IEND", b""))


def make_oversized_page_pdf(directory: Path) -> Path:
    """A two-page PDF whose second page is 14400 x 14400 pt (30000 px square at 150 DPI)."""
    doc = pymupdf.open(stream=text_page_pdf(BORN_DIGITAL_LINES), filetype="pdf")
    big = doc.new_page(width=LARGEST_PDF_PAGE_POINTS, height=LARGEST_PDF_PAGE_POINTS)
    big.insert_text((72, 72), "A very large poster page", fontsize=40)
    return _write(directory / "oversized_page.pdf", doc.tobytes())


def make_multipage_tiff(directory: Path, lines: tuple[str, ...] = TIFF_PAGE_LINES) -> Path:
    """A TIFF with one frame per entry of `lines`, each frame showing its line."""
    frames = [text_image((line,)) for line in lines]
    path = directory / "multipage.tiff"
    frames[0].save(
        path,
        format="TIFF",
        save_all=True,
        append_images=frames[1:],
        dpi=(150, 150),
        compression="tiff_deflate",
    )
    return path


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# Glyph names a font with no Unicode map may carry: extraction turns them into these
# characters, while the glyphs draw ordinary letters.
LYING_GLYPH_NAMES = (
    "iacute", "oacute", "bullet", "ucircumflex", "Udieresis", "eacute", "section", "ntilde",
    "Odieresis", "degree", "agrave", "ccedilla", "egrave", "icircumflex", "ograve", "atilde",
    "otilde", "aring", "ae", "oslash", "yacute", "thorn", "eth", "germandbls", "adieresis",
)  # fmt: skip
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def lying_pdf(lines: tuple[str, ...], honest: tuple[str, ...] = ()) -> bytes:
    """A one-page PDF that shows `lines` but whose text layer reads as garbage, as with a
    font that has no Unicode map: a Type 3 font whose glyphs paint pictures of the real
    letters under misleading glyph names. `honest` lines follow in Helvetica."""
    letters = sorted(set("".join(lines)) - {" "})
    names = {
        ch: LYING_GLYPH_NAMES[i % len(LYING_GLYPH_NAMES)] + "x" * (i // len(LYING_GLYPH_NAMES))
        for i, ch in enumerate(letters)
    }
    codes = {ch: 65 + i for i, ch in enumerate(letters)}
    pdf = _RawPdf()
    images = {ch: pdf.add(_glyph_image(ch)) for ch in letters}
    procs = {
        ch: pdf.stream(b"600 0 d0 q 600 0 0 1000 0 -200 cm /I%d Do Q" % images[ch])
        for ch in letters
    }
    charprocs = pdf.add(
        b"<< " + b" ".join(b"/%s %d 0 R" % (names[c].encode(), procs[c]) for c in letters) + b" >>"
    )
    font = pdf.add(
        b"<< /Type /Font /Subtype /Type3 /FontBBox [0 -200 600 800] "
        b"/FontMatrix [0.001 0 0 0.001 0 0] /CharProcs %d 0 R "
        b"/Encoding << /Type /Encoding /Differences [%s] >> /FirstChar 65 "
        b"/LastChar %d /Widths [%s] /Resources << /XObject << %s >> >> >>"
        % (
            charprocs,
            b" ".join(b"%d /%s" % (codes[c], names[c].encode()) for c in letters),
            64 + len(letters),
            b" 600" * len(letters),
            b" ".join(b"/I%d %d 0 R" % (images[c], images[c]) for c in letters),
        )
    )  # fmt: skip
    text = b"BT /T3 14 Tf 72 760 Td "
    for line in lines:
        words = (bytes(codes[ch] for ch in word).hex().encode() for word in line.split())
        text += b"[" + b" -400 ".join(b"<" + word + b">" for word in words) + b"] TJ 0 -22 Td "
    for line in honest:
        text += b"/H 14 Tf (" + line.encode("latin-1") + b") Tj 0 -22 Td "
    contents = pdf.stream(text + b"ET")
    helvetica = pdf.add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    page = pdf.add(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
        b"/Resources << /Font << /T3 %d 0 R /H %d 0 R >> >> >>" % (contents, font, helvetica)
    )
    return pdf.finish(page)


def _glyph_image(char: str) -> bytes:
    picture = Image.new("L", (60, 100), 255)
    ImageDraw.Draw(picture).text((5, 0), char, font=ImageFont.truetype(str(DEJAVU), 80), fill=0)
    raw = zlib.compress(picture.tobytes())
    return (
        b"<< /Type /XObject /Subtype /Image /Width 60 /Height 100 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % len(raw)
        + raw
        + b"\nendstream"
    )


class _RawPdf:
    """Objects numbered from 3 (1 is the catalog, 2 the page tree), then an xref table."""

    def __init__(self) -> None:
        self.objects: dict[int, bytes] = {}

    def add(self, body: bytes) -> int:
        number = len(self.objects) + 3
        self.objects[number] = body
        return number

    def stream(self, data: bytes) -> int:
        return self.add(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")

    def finish(self, page: int) -> bytes:
        self.objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
        self.objects[2] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page
        out = io.BytesIO(b"%PDF-1.7\n")
        out.seek(0, io.SEEK_END)
        offsets = {}
        for number in sorted(self.objects):
            offsets[number] = out.tell()
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, self.objects[number]))
        start, size = out.tell(), max(self.objects) + 1
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        out.write(b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size)))
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, start))
        return out.getvalue()


def make_one_word_scan(directory: Path, word: str = "Approved") -> Path:
    """A scan with a single word on it: OCR reads it, but too little to trust the page."""
    image = Image.new("RGB", (900, 400), "white")
    ImageDraw.Draw(image).text((60, 150), word, fill="black", font=ImageFont.load_default(72))
    path = directory / "one-word.png"
    image.save(path)
    return path


def make_tiff_damaged_on_page_two(directory: Path) -> Path:
    """A three-page TIFF whose first page reads and whose second page's data is damaged:
    the failure comes after a page has been read, so nothing may be kept of it."""
    path = make_multipage_tiff(directory)
    with Image.open(path) as image:
        image.seek(1)
        start = image.tag_v2[273][0]  # StripOffsets: where the second page's pixels begin
    data = bytearray(path.read_bytes())
    for offset in range(start + 2, start + 40):
        data[offset] ^= 0x5A
    damaged = directory / "damaged-page-2.tiff"
    damaged.write_bytes(bytes(data))
    path.unlink()
    return damaged
