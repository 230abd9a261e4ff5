"""After the seal only DSS/VRI data and document timestamps may follow: no /Info or XMP key is
exempt, every object of every later revision counts, and so does the trailer."""

from __future__ import annotations

import io
import re

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Pki, SealReport, Status, check_seal
from tests import hostile

from .test_validation_semantics import T1, seal_at


@pytest.fixture
def genuine(pki: Pki, certificate_pdf: bytes) -> bytes:
    pdf = seal_at(pki, certificate_pdf, T1)
    assert check_seal(pdf, pki.trust_roots, now=T1).passed
    return pdf


def _refs(reader: PdfFileReader, revision: int) -> set[int]:
    return {
        ref.idnum for ref in reader.get_historical_resolver(revision).explicit_refs_in_revision()
    }


def _metadata_numbers(reader: PdfFileReader) -> set[int]:
    """The object numbers of /Info and (where the file has one) the XMP stream."""
    info = reader.trailer.raw_get("/Info")
    assert isinstance(info, generic.IndirectObject)
    numbers = {info.idnum}
    if "/Metadata" in reader.root:
        xmp = reader.root.raw_get("/Metadata")
        assert isinstance(xmp, generic.IndirectObject)
        numbers.add(xmp.idnum)
    return numbers


def _refused(report: SealReport, *phrases: str) -> None:
    assert not report.passed
    assert report.modification.status is Status.FAILED, report.modification
    for phrase in phrases:
        assert phrase in report.modification.reason, report.modification.reason


def test_the_lta_revision_leaves_the_metadata_as_sealed(genuine: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(genuine), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    later = range(seal.signed_revision + 1, reader.xrefs.total_revisions)
    assert len(later) >= 1
    metadata = _metadata_numbers(reader)
    for revision in later:
        assert not _refs(reader, revision) & metadata, revision


def _info_with(pdf: bytes, key: bytes, value: bytes) -> bytes:
    _prev, _size, _root, info = hostile._trailer(pdf)
    num = int(info.split()[0])
    body = hostile._last_object(pdf, num)
    body = re.sub(rb"/%s\s*(\([^)]*\)|<[^>]*>)" % key, b"", body)
    body = body.replace(b"<<", b"<< /%s %s" % (key, value), 1)
    return hostile._append(pdf, {num: body})


@pytest.mark.parametrize(
    ("key", "value"),
    [(b"ModDate", b"(D:20991231235959Z)"), (b"Producer", b"(another writer 1.0)")],
)
def test_a_metadata_only_change_is_a_change(
    pki: Pki, genuine: bytes, key: bytes, value: bytes
) -> None:
    report = check_seal(_info_with(genuine, key, value), pki.trust_roots, now=T1)
    _refused(report, "document information", key.decode())


def test_the_trailer_pointing_at_an_identical_copy_of_info_is_a_change(
    pki: Pki, genuine: bytes
) -> None:
    _prev, size, _root, info = hostile._trailer(genuine)
    copy = hostile._last_object(genuine, int(info.split()[0]))
    forged = hostile._append(genuine, {size: copy})
    # hostile._append keeps the old /Info; point the new trailer at the copy instead.
    head, tail = forged.rsplit(b"trailer", 1)
    tail = tail.replace(b"/Info " + info, b"/Info %d 0 R" % size)
    _refused(check_seal(head + b"trailer" + tail, pki.trust_roots, now=T1), "trailer", "/Info")


def test_a_new_trailer_key_is_a_change(pki: Pki, genuine: bytes) -> None:
    # The catalog rewritten unchanged (an identical object is not a change in itself).
    num, inner = hostile._catalog(genuine)
    forged = hostile._append(genuine, {num: b"<<" + inner + b">>"})
    head, tail = forged.rsplit(b"trailer\n<<", 1)
    forged = head + b"trailer\n<< /Extra (added after sealing)" + tail
    _refused(check_seal(forged, pki.trust_roots, now=T1), "trailer", "/Extra")


def test_an_object_nothing_references_is_a_change(pki: Pki, genuine: bytes) -> None:
    _prev, size, _root, _info = hostile._trailer(genuine)
    forged = hostile._append(genuine, {size: b"<< /Note (an orphan added after sealing) >>"})
    _refused(check_seal(forged, pki.trust_roots, now=T1), "changed the document after sealing")
