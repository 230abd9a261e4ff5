"""Helpers shared by the signing tests: test documents and small PDF surgery."""

from __future__ import annotations

import hashlib
import io
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

PASSPHRASE = "test-passphrase-not-for-production"
CERT_ID = "CL-2026-000123"
SEAL_BOX = (400.0, 60.0, 520.0, 180.0)

_BODY_FONT = "SigningTestBody"


class _InfoWithCertId(pdfdoc.PDFInfo):  # type: ignore[misc]
    """reportlab's /Info plus the CertLedgerId entry the renderer writes."""

    cert_id = ""

    def format(self, document: object) -> bytes:
        formatted: bytes = super().format(document)
        entry = b"/CertLedgerId " + pdfdoc.PDFString(self.cert_id).format(document)
        return formatted.replace(b"<<", b"<< " + entry + b" ", 1)


def make_certificate_pdf(font: Path, *, cert_id: str = CERT_ID, font_index: int = 0) -> bytes:
    """An A4 certificate of roughly 60 KB: Chinese text in an embedded TrueType subset,
    a vector guilloche border, and no reference to any unembedded standard font."""
    if _BODY_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_BODY_FONT, str(font), subfontIndex=font_index))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, initialFontName=_BODY_FONT, invariant=1)
    info = _InfoWithCertId()
    info.cert_id = cert_id
    canvas._doc.info = info
    canvas.setTitle("学历证书")
    canvas.setFont(_BODY_FONT, 26)
    canvas.drawCentredString(A4[0] / 2, 770, "中华人民共和国 学历证书")
    canvas.setFont(_BODY_FONT, 11)
    body = "".join(chr(0x4E00 + 7 * i) for i in range(100))
    for row in range(3):
        canvas.drawString(48, 730 - 16 * row, body[40 * row : 40 * (row + 1)])
    canvas.drawString(48, 660, f"证书编号 {cert_id}")
    path = canvas.beginPath()
    for k in range(3000):
        t = 2 * math.pi * k / 3000
        x = 297 + 250 * math.cos(t) + 20 * math.cos(37 * t)
        y = 420 + 380 * math.sin(t) + 20 * math.sin(41 * t)
        (path.moveTo if k == 0 else path.lineTo)(x, y)
    canvas.drawPath(path)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def incremental(pdf: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)


def finish(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def append_visible_text(pdf: bytes, text: bytes = b"FORGED") -> bytes:
    """An incremental update that paints extra text on page 1."""
    writer = incremental(pdf)
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            }
        )
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/FForged"): font}
            )
        }
    )
    stream = generic.StreamObject(stream_data=b"BT /FForged 36 Tf 100 400 Td (" + text + b") Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream), resources=resources)
    return finish(writer)


def add_square_annotation(pdf: bytes) -> bytes:
    """An incremental update that adds a red Square annotation to page 1."""
    writer = incremental(pdf)
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    annot = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Square"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.FloatObject(v) for v in (100, 100, 300, 200)]
                ),
                generic.NameObject("/C"): generic.ArrayObject(
                    [generic.FloatObject(1), generic.FloatObject(0), generic.FloatObject(0)]
                ),
                generic.NameObject("/Contents"): generic.TextStringObject("void"),
            }
        )
    )
    annots = page.get("/Annots")
    if annots is None:
        page[generic.NameObject("/Annots")] = generic.ArrayObject([annot])
        writer.update_container(page)
    else:
        annots.append(annot)
        raw = page.raw_get("/Annots")
        if isinstance(raw, generic.IndirectObject):
            writer.mark_update(raw)
        else:
            writer.update_container(page)
    return finish(writer)


def change_info(pdf: bytes, key: str, value: str) -> bytes:
    """An incremental update that changes one /Info entry."""
    writer = incremental(pdf)
    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info[generic.NameObject("/" + key)] = generic.TextStringObject(value)
    writer.mark_update(info_ref)
    return finish(writer)


def flip_byte_in_page_content(pdf: bytes, offset: int = 40) -> bytes:
    """Flip one byte inside page 1's (Flate-compressed) content stream, in place."""
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    if isinstance(contents, generic.ArrayObject):
        contents = contents[0]
    idnum = contents.reference.idnum
    obj_start = re.search(rb"(?:^|[\r\n])%d 0 obj" % idnum, pdf)
    assert obj_start is not None
    data_start = pdf.index(b"stream", obj_start.end()) + len(b"stream\n")
    position = data_start + offset
    tampered = bytearray(pdf)
    tampered[position] ^= 0x01
    return bytes(tampered)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (make system-deps installs it)")
    return path


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=60
    )


def raw_incremental_update(pdf: bytes, objects: dict[int, bytes]) -> bytes:
    """Append a hand-written incremental update (classic xref table) that replaces the
    given objects (number -> body between ``obj`` and ``endobj``), as a tool other than
    pyHanko would. Keeps /Root, /Info and /ID of the previous trailer."""
    reader = PdfFileReader(io.BytesIO(pdf))
    trailer = reader.trailer
    startxref = int(pdf[pdf.rindex(b"startxref") + 9 :].split()[0])
    out = bytearray(pdf)
    if not out.endswith(b"\n"):
        out += b"\n"
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n"
    for number, offset in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n \n" % (number, offset)

    def ref(key: str) -> bytes:
        value = trailer.raw_get(key)
        return b"%d %d R" % (value.idnum, value.generation)

    ids = trailer["/ID"]
    id_hex = b"[<%s> <%s>]" % (
        ids[0].original_bytes.hex().encode(),
        ids[1].original_bytes.hex().encode(),
    )
    out += (
        b"trailer\n<< /Size %d /Root %s /Info %s /ID %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (int(trailer["/Size"]), ref("/Root"), ref("/Info"), id_hex, startxref, xref_at)
    )
    return bytes(out)


def replace_xmp(pdf: bytes, transform: Callable[[bytes], bytes]) -> bytes:
    """An incremental update that rewrites the XMP metadata stream."""
    reader = PdfFileReader(io.BytesIO(pdf))
    ref = reader.root.get_value_as_reference("/Metadata")
    xml = transform(ref.get_object().data)
    body = b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xml)
    return raw_incremental_update(pdf, {ref.idnum: body + xml + b"\nendstream"})
