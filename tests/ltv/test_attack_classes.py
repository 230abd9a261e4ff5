"""Published PDF-signature attack classes against a B-LTA certificate (seal, DSS, archive
timestamp), each built here byte by byte: never VALID, never a crash. References: Mladenov et
al., "1 Trillion Dollar Refund" (CCS 2019: universal signature forgery, incremental saving,
signature wrapping); Mainka et al., "Shadow Attacks" (NDSS 2021); Rohlmann et al., "Breaking
the Specification: PDF Certification" (S&P 2021)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Pki, Status, UnreadablePdfError, check_seal
from tests import hostile

from .test_validation_semantics import T1, seal_at

FORGED = b"q 1 0 0 rg 40 40 515 760 re f Q"


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _page(pdf: bytes) -> tuple[int, bytes]:
    num = hostile._first_page(pdf)
    return num, hostile._last_object(pdf, num)


def _replace_content(pdf: bytes, extra: dict[int, bytes] | None = None) -> bytes:
    """A revision whose page content is a forged stream (plus ``extra`` objects)."""
    _prev, size, _root, _info = hostile._trailer(pdf)
    num, body = _page(pdf)
    body = re.sub(rb"/Contents\s+(\[[^\]]*\]|\d+\s+\d+\s+R)", b"/Contents %d 0 R" % size, body)
    return hostile._append(pdf, {size: _stream(FORGED), num: body, **(extra or {})})


def _seal_value(pdf: bytes) -> tuple[int, bytes]:
    """Object number and body of the seal's signature dictionary (/V of its field)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    ref = seal.sig_field.raw_get("/V")
    return ref.idnum, hostile._last_object(pdf, ref.idnum)


def prepended(pdf: bytes) -> bytes:
    return b"%PDF-1.7\n% another document's header\n" + pdf


def second_document(pdf: bytes) -> bytes:
    return pdf + b"\n" + hostile.many_revisions(pdf, 1)[: len(pdf) // 2] + b"\n%%EOF\n"


def change_after_the_archive_timestamp(pdf: bytes) -> bytes:
    return _replace_content(pdf)


def change_inside_a_dss_revision(pdf: bytes) -> bytes:
    _prev, size, _root, _info = hostile._trailer(pdf)
    num, inner = hostile._catalog(pdf)
    dss = b"<< /Type /DSS /Certs [] /OCSPs [] /CRLs [] >>"
    inner = re.sub(rb"/DSS\s+\d+\s+\d+\s+R", b"", inner)
    # One revision: a fresh DSS (allowed on its own) and the forged page content with it.
    forged = _replace_content(
        pdf, {size + 1: dss, num: b"<<" + inner + b" /DSS %d 0 R >>" % (size + 1)}
    )
    return forged


def byte_range_removed(pdf: bytes) -> bytes:
    num, body = _seal_value(pdf)
    body = re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"", body)
    return hostile._append(_replace_content(pdf), {num: body})


def byte_range_emptied(pdf: bytes) -> bytes:
    num, body = _seal_value(pdf)
    body = re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange [0 0 0 0]", body)
    return hostile._append(_replace_content(pdf), {num: body})


def byte_range_elsewhere(pdf: bytes) -> bytes:
    """The seal's dictionary redefined after a forged revision, its /ByteRange still the
    original's: it now covers only the first revisions, not the forged one."""
    num, body = _seal_value(pdf)
    return hostile._append(_replace_content(pdf), {num: body})


def _append_with_xref_stream(pdf: bytes, objects: dict[int, bytes]) -> bytes:
    """One incremental update that (re)writes ``objects`` and is indexed by a
    cross-reference stream instead of a classic table (PDF 1.5+)."""
    prev, size, root, info = hostile._trailer(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for num, body in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref_num = max([size, *(n + 1 for n in objects)])
    offsets[xref_num] = len(out)
    numbers = sorted(offsets)
    rows = b"".join(b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00\x00" for n in numbers)
    index = b" ".join(b"%d 1" % n for n in numbers)
    header = b"<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Root %s /Prev %d" % (
        xref_num + 1,
        index,
        root,
        prev,
    )
    if info:
        header += b" /Info " + info
    out += b"%d 0 obj\n" % xref_num + header + b" /Length %d >>\nstream\n" % len(rows)
    out += rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref_num]
    return bytes(out)


def change_through_an_xref_stream(pdf: bytes) -> bytes:
    _prev, size, _root, _info = hostile._trailer(pdf)
    num, body = _page(pdf)
    body = re.sub(rb"/Contents\s+(\[[^\]]*\]|\d+\s+\d+\s+R)", b"/Contents %d 0 R" % size, body)
    return _append_with_xref_stream(pdf, {size: _stream(FORGED), num: body})


def evil_annotation(pdf: bytes) -> bytes:
    """Certification attack: a FreeText annotation (permitted by P=2/P=3, not by P=1)."""
    _prev, size, _root, _info = hostile._trailer(pdf)
    num, body = _page(pdf)
    annot = (
        b"<< /Type /Annot /Subtype /FreeText /Rect [40 600 560 700] /F 4 "
        b"/Contents (Capital: 100,000,000 CNY) /DA (/Helv 24 Tf 1 0 0 rg) >>"
    )
    body = re.sub(rb"/Annots\s*\[", b"/Annots [%d 0 R " % size, body, count=1)
    return hostile._append(pdf, {size: annot, num: body})


def sneaky_signature(pdf: bytes) -> bytes:
    """Certification attack: a visible signature field whose appearance paints over the page;
    made here as an empty field with a widget, the attacker's signature left out."""
    _prev, size, _root, _info = hostile._trailer(pdf)
    num, body = _page(pdf)
    _cat_num, cat_inner = hostile._catalog(pdf)
    acro = re.search(rb"/AcroForm\s+(\d+)\s+0\s+R", cat_inner)
    assert acro is not None
    acro_num = int(acro[1])
    acro_body = hostile._last_object(pdf, acro_num)
    acro_body = re.sub(rb"/Fields\s*\[", b"/Fields [%d 0 R " % size, acro_body, count=1)
    overlay = b"<< /Type /XObject /Subtype /Form /BBox [0 0 520 120] /Length %d >>\nstream\n"
    paint = b"1 1 1 rg 0 0 520 120 re f"
    field = (
        b"<< /FT /Sig /T (Approval) /Type /Annot /Subtype /Widget /F 4 /Rect [40 600 560 720] "
        b"/P %d 0 R /AP << /N %d 0 R >> >>" % (num, size + 1)
    )
    body = re.sub(rb"/Annots\s*\[", b"/Annots [%d 0 R " % size, body, count=1)
    return hostile._append(
        pdf,
        {
            size: field,
            size + 1: overlay % len(paint) + paint + b"\nendstream",
            num: body,
            acro_num: acro_body,
        },
    )


def shadow_replace_an_xobject(pdf: bytes) -> bytes:
    """Shadow "replace": an object the sealed page draws (the seal's appearance) redefined."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    appearance = seal.sig_field["/AP"].raw_get("/N")
    paint = b"1 1 1 rg 0 0 1000 1000 re f"
    body = b"<< /Type /XObject /Subtype /Form /BBox [0 0 1000 1000] /Length %d >>\nstream\n"
    return hostile._append(pdf, {appearance.idnum: body % len(paint) + paint + b"\nendstream"})


def shadow_hide_by_dropping_a_stream(pdf: bytes) -> bytes:
    """Shadow "hide": the page's content array is cut down in a later revision."""
    num, body = _page(pdf)
    body = re.sub(rb"/Contents\s+(\[[^\]]*\]|\d+\s+\d+\s+R)", b"/Contents []", body)
    return hostile._append(pdf, {num: body})


def signature_wrapping(pdf: bytes) -> bytes:
    """SWA: forged objects inserted into the seal's gap, and the seal's dictionary redefined
    with a /ByteRange widened over them, so the signed bytes are still the original ones."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    start, first, gap_end, second = (int(v) for v in seal.byte_range)
    _prev, size, _root, _info = hostile._trailer(pdf)
    inserted = b"\n%d 0 obj\n" % size + _stream(FORGED) + b"\nendobj\n"
    wrapped = pdf[:gap_end] + inserted + pdf[gap_end:]
    num, body = _seal_value(pdf)
    widened = b"/ByteRange [%d %d %d %d]" % (start, first, gap_end + len(inserted), second)
    body = re.sub(rb"/ByteRange\s*\[[^\]]*\]", widened, body)
    page, page_body = _page(pdf)
    page_body = re.sub(
        rb"/Contents\s+(\[[^\]]*\]|\d+\s+\d+\s+R)", b"/Contents %d 0 R" % size, page_body
    )
    return hostile._append(wrapped, {num: body, page: page_body}, size=size + 1)


# name: (the attack, where it is stopped: refused as unreadable, the check that fails, or
# "any" of those)
ATTACKS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "prepended data": (prepended, "unreadable"),
    "a second document appended": (second_document, "unreadable"),
    "content changed after the archive timestamp (ISA, classic xref)": (
        change_after_the_archive_timestamp,
        "modification",
    ),
    "content changed inside a revision that adds DSS data": (
        change_inside_a_dss_revision,
        "modification",
    ),
    "signature wrapping: /ByteRange widened over inserted objects": (signature_wrapping, "any"),
    "USF: /ByteRange removed": (byte_range_removed, "intact"),
    "USF: /ByteRange emptied": (byte_range_emptied, "intact"),
    "USF: /ByteRange pointing at earlier revisions only": (byte_range_elsewhere, "modification"),
    "content changed through a cross-reference stream (ISA, xref stream)": (
        change_through_an_xref_stream,
        "modification",
    ),
    "certification: Evil Annotation (FreeText over the page)": (evil_annotation, "modification"),
    "certification: Sneaky Signature (a visible signature field)": (
        sneaky_signature,
        "modification",
    ),
    "shadow: replace an object the page draws": (shadow_replace_an_xobject, "modification"),
    "shadow: hide by dropping the page's content": (
        shadow_hide_by_dropping_a_stream,
        "modification",
    ),
    "shadow: hide-and-replace via a new content stream": (
        lambda pdf: _replace_content(hostile.many_revisions(pdf, 1)),
        "modification",
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_never_valid(pki: Pki, certificate_pdf: bytes, name: str) -> None:
    genuine = seal_at(pki, certificate_pdf, T1)
    assert check_seal(genuine, pki.trust_roots, now=T1).passed
    attack, stopped_by = ATTACKS[name]
    forged = attack(genuine)
    if stopped_by == "unreadable":
        with pytest.raises(UnreadablePdfError):
            check_seal(forged, pki.trust_roots, now=T1)
        return
    if stopped_by == "any":
        # Refused as unreadable, or read and found not VALID: either way one clear answer.
        try:
            report = check_seal(forged, pki.trust_roots, now=T1)
        except UnreadablePdfError:
            return
        assert not report.passed, (name, report)
        return
    report = check_seal(forged, pki.trust_roots, now=T1)
    assert not report.passed, (name, report)
    outcome = report.intact if stopped_by == "intact" else report.modification
    assert outcome.status is Status.FAILED, (name, outcome)
