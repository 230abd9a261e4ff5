"""The seal's /ByteRange must cover the whole file up to the end of its revision except exactly
the /Contents hex string (universal signature forgery, signature wrapping)."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Pki
from signing.seal_check import byte_range_problem

from .test_validation_semantics import T1, seal_at


def _seal_range(pdf: bytes) -> list[int]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    return [int(v) for v in seal.byte_range]


def test_genuine_ranges_pass(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    assert byte_range_problem(pdf, _seal_range(pdf)) is None
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    for sig in reader.embedded_signatures:  # the archive timestamp's too
        assert byte_range_problem(pdf, [int(v) for v in sig.byte_range]) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: [1, r[1] - 1, r[2], r[3]], "do not start at the beginning"),
        (lambda r: [0, r[1] - 10, r[2], r[3]], "not exactly the signature's hex string"),
        (lambda r: [0, r[1], r[2] + 10, r[3] - 10], "not exactly the signature's hex string"),
        (lambda r: [0, r[1], r[2], r[3] - 7], "do not end where a revision ends"),
        (lambda r: [0, r[1], r[2], r[3] + 10**9], "out of order or outside the file"),
        (lambda r: [0, r[2], r[1], r[3]], "out of order or outside the file"),
        (lambda r: r[:3], "3 numbers instead of 4"),
    ],
    ids=[
        "late-start",
        "gap-too-wide",
        "gap-too-wide-2",
        "short-end",
        "past-eof",
        "swapped",
        "three",
    ],
)
def test_malformed_ranges_are_named(
    pki: Pki, certificate_pdf: bytes, change: object, reason: str
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    problem = byte_range_problem(pdf, change(_seal_range(pdf)))  # type: ignore[operator]
    assert problem is not None and reason in problem
