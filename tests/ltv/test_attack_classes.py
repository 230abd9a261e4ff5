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


# name: (the attack, where it is stopped: refused as unreadable, or the check that fails)
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
    "USF: /ByteRange removed": (byte_range_removed, "intact"),
    "USF: /ByteRange emptied": (byte_range_emptied, "intact"),
    "USF: /ByteRange pointing at earlier revisions only": (byte_range_elsewhere, "modification"),
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
    report = check_seal(forged, pki.trust_roots, now=T1)
    assert not report.passed, (name, report)
    outcome = report.intact if stopped_by == "intact" else report.modification
    assert outcome.status is Status.FAILED, (name, outcome)
