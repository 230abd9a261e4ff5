"""Cross-reference structures two parsers could read apart are refused (one reading of the
file): startxref off its target, an object defined twice in one section, entries pointing
outside their revision or at another object. Built here, byte by byte."""

from __future__ import annotations

import re

import pytest

from signing import Pki, SealReport, Status, UnreadablePdfError, check_seal
from tests import hostile

from .test_validation_semantics import T1, seal_at


@pytest.fixture
def genuine(pki: Pki, certificate_pdf: bytes) -> bytes:
    pdf = seal_at(pki, certificate_pdf, T1)
    report = check_seal(pdf, pki.trust_roots, now=T1)
    assert report.passed, report.modification
    return pdf


def _refused(report: SealReport, phrase: str) -> None:
    assert not report.passed
    assert report.modification.status is Status.FAILED, report.modification
    assert "read more than one way" in report.modification.reason, report.modification.reason
    assert phrase in report.modification.reason, report.modification.reason


def _identical_catalog_update(pdf: bytes) -> bytes:
    num, inner = hostile._catalog(pdf)
    return hostile._append(pdf, {num: b"<<" + inner + b">>"})


def test_a_genuine_update_has_one_reading(pki: Pki, genuine: bytes) -> None:
    report = check_seal(_identical_catalog_update(genuine), pki.trust_roots, now=T1)
    assert report.passed, report.modification


def test_startxref_pointing_at_whitespace_before_the_table(pki: Pki, genuine: bytes) -> None:
    forged = _identical_catalog_update(genuine)
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", forged)
    assert m is not None
    at = int(m[1])
    # Two spaces before "xref", startxref pointing at the first: pyHanko skips them.
    shifted = forged[:at] + b"  " + forged[at:]
    tail = shifted[m.start() + 2 :].replace(m[1], str(at).encode(), 1)
    report = check_seal(shifted[: m.start() + 2] + tail, pki.trust_roots, now=T1)
    _refused(report, "startxref")


def test_an_entry_pointing_at_another_object(pki: Pki, genuine: bytes) -> None:
    forged = _identical_catalog_update(genuine)
    num, _ = hostile._catalog(genuine)
    # Point the catalog's entry at the start of the file's first object instead.
    first = re.search(rb"\n1 0 obj", forged)
    assert first is not None
    entry = re.compile(rb"(xref\n%d 1\n)(\d{10})( 00000 n )" % num)
    forged = entry.sub(lambda m: m[1] + b"%010d" % (first.start() + 1) + m[3], forged)
    try:
        report = check_seal(forged, pki.trust_roots, now=T1)
    except UnreadablePdfError:
        return  # refused before any verdict: also one reading
    _refused(report, "does not point at that object")


def test_an_entry_pointing_into_an_earlier_revision(pki: Pki, genuine: bytes) -> None:
    num, _inner = hostile._catalog(genuine)
    starts = [m.start() for m in re.finditer(rb"(?<!\d)%d 0 obj" % num, genuine)]
    # A new revision whose catalog entry points back at the previous revision's catalog:
    # the same object, read from bytes that belong to another revision.
    forged = _identical_catalog_update(genuine)
    entry = re.compile(rb"(xref\n%d 1\n)(\d{10})( 00000 n )" % num)
    forged = entry.sub(lambda m: m[1] + b"%010d" % starts[-1] + m[3], forged)
    report = check_seal(forged, pki.trust_roots, now=T1)
    _refused(report, "outside its own revision")


def test_an_object_defined_twice_in_one_section(pki: Pki, genuine: bytes) -> None:
    forged = _identical_catalog_update(genuine)
    num, _ = hostile._catalog(genuine)
    entry = re.compile(rb"xref\n%d 1\n(\d{10} 00000 n \n)" % num)
    m = entry.search(forged)
    assert m is not None
    doubled = forged[: m.start()] + b"xref\n%d 1\n" % num + m[1] + b"%d 1\n" % num + m[1]
    doubled += forged[m.end() :]
    # The table grew: startxref still points at "xref", which did not move.
    report = check_seal(doubled, pki.trust_roots, now=T1)
    _refused(report, "more than once")
