"""One reading of the file: a forgery that pyHanko's parser reads one way and a viewer another
is refused, because pdfium and qpdf read every verified file too. Built here, byte by byte."""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Pki, Status, check_seal
from signing._second_reading import second_reading
from tests.tamper import append_visible_content

from .test_validation_semantics import T1, seal_at

FORGED = b"q 1 0 0 rg 40 40 515 760 re f Q"


def _last_xref(pdf: bytes) -> tuple[int, bytes]:
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf)
    assert m is not None
    tail = pdf[pdf.rindex(b"trailer") :]
    size = re.search(rb"/Size\s+(\d+)", tail)
    root = re.search(rb"/Root\s+(\d+\s+\d+\s+R)", tail)
    assert size is not None and root is not None
    return int(m[1]), b"/Size " + size[1] + b" /Root " + root[1]


def _content_object(pdf: bytes) -> tuple[int, int]:
    """(object number, offset) of the first page's first content stream, as written."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    contents = reader.root["/Pages"]["/Kids"][0].get_object().raw_get("/Contents")
    ref = contents[0] if isinstance(contents, list) else contents
    num = ref.reference.idnum if hasattr(ref, "reference") else ref.idnum
    offset = reader.xrefs[ref.reference if hasattr(ref, "reference") else ref]
    assert isinstance(offset, int)
    return num, offset


def _duplicate_xref_entry(pdf: bytes) -> bytes:
    """A last revision whose one xref section defines the page content twice: first as it
    was, then as a forged stream. Parsers that keep the first entry see nothing changed;
    those that keep the last show the forgery."""
    prev, trailer = _last_xref(pdf)
    num, original = _content_object(pdf)
    out = bytearray(pdf)
    forged_at = len(out)
    out += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (num, len(FORGED)) + FORGED
    out += b"\nendstream\nendobj\n"
    xref = len(out)
    out += b"xref\n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (num, original, num, forged_at)
    out += b"trailer\n<< " + trailer + b" /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (prev, xref)
    return bytes(out)


def test_a_genuine_file_reads_the_same_everywhere(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    report = check_seal(pdf, pki.trust_roots, now=T1)
    assert report.modification.passed, report.modification
    assert "pdfium and qpdf" in report.modification.reason


def test_a_visible_change_is_seen_by_pdfium(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    changed = append_visible_content(pdf)
    outcome = second_reading(changed, _sealed_end(pdf), 1)
    assert outcome.status is Status.FAILED
    assert "page 1" in outcome.reason


def test_an_object_defined_twice_in_one_xref_section_is_refused(
    pki: Pki, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    forged = _duplicate_xref_entry(pdf)
    report = check_seal(forged, pki.trust_roots, now=T1)
    assert report.modification.status is Status.FAILED, report.modification
    assert not report.passed
    # Each reading refuses it on its own: pyHanko's analysis above, and pdfium, which shows
    # the forged content, here.
    alone = second_reading(forged, _sealed_end(pdf), 1)
    assert alone.status is Status.FAILED
    assert "page 1" in alone.reason


def _sealed_end(pdf: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    _start, _length, offset, rest = (int(v) for v in seal.byte_range)
    return offset + rest
