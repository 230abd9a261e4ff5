"""Every document timestamp after the seal is validated, not only recognised by its type: an
archive timestamp whose token was corrupted, or one from a TSA outside the trust roots, leaves
the seal not VALID (the first INVALID, the second not trusted)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    Pki,
    SealingError,
    Secret,
    Status,
    TimeStampAuthority,
    check_seal,
    init_pki,
    load_pki,
)
from signing.renewal import renew_archive_timestamp

from .conftest import AGENCY, PASSPHRASE, T0
from .test_validation_semantics import T1, seal_at

LATER = T1 + timedelta(days=1)


def _doc_timestamp_gap(pdf: bytes) -> tuple[int, int]:
    """The /Contents hex string of the last document timestamp: (start, end) offsets."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    stamps = [s for s in reader.embedded_signatures if s.sig_object_type == "/DocTimeStamp"]
    assert stamps, "a B-LTA seal carries a document timestamp"
    start, length, end, _ = (int(v) for v in stamps[-1].byte_range)
    return start + length, end


def test_a_genuine_archive_timestamp_passes(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    report = check_seal(pdf, pki.trust_roots, now=LATER)
    assert report.timestamp.status is Status.PASSED, report.timestamp
    assert report.passed


def test_a_corrupted_archive_timestamp_is_invalid(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    gap_start, _gap_end = _doc_timestamp_gap(pdf)
    # A hex digit inside the token's DER (past the string's '<' and the first bytes), the
    # file's length and every offset unchanged: the bytes the timestamp covers are intact.
    pos = gap_start + 1 + 600
    digit = pdf[pos : pos + 1]
    assert digit in b"0123456789abcdefABCDEF"
    flipped = b"1" if digit != b"1" else b"2"
    tampered = pdf[:pos] + flipped + pdf[pos + 1 :]
    report = check_seal(tampered, pki.trust_roots, now=LATER)
    assert report.timestamp.status is Status.FAILED, report.timestamp
    assert "document timestamp" in report.timestamp.reason
    assert not report.passed


@pytest.fixture
def foreign(tmp_path: Path) -> Pki:
    """Another PKI with its own TSA and responders, which our trust roots do not name."""
    foreign_dir = tmp_path / "foreign" / "pki"
    init_pki(foreign_dir, [AGENCY], Secret(PASSPHRASE), now=T0, org_name="Some Other PKI")
    return load_pki(foreign_dir, Secret(PASSPHRASE))


def test_an_archive_timestamp_from_a_foreign_tsa_is_not_trusted(
    foreign: Pki, pki: Pki, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    with freeze_time(T1 + timedelta(hours=1)):
        # The other PKI's own revocation data comes with its timestamp, as its tool adds it.
        renewed = renew_archive_timestamp(
            pdf,
            InProcessTimeStamper(TimeStampAuthority(foreign.tsa)),
            InProcessRevocationSource.from_pki(foreign),
        )
    # Untouched seal, one more (well-formed) timestamp: only its TSA is wrong.
    assert check_seal(pdf, pki.trust_roots, now=LATER).passed
    report = check_seal(renewed, pki.trust_roots, now=LATER)
    assert report.timestamp.status is not Status.PASSED, report.timestamp
    assert "TSA of the document timestamp" in report.timestamp.reason
    assert report.intact.passed and report.chain.passed
    assert not report.passed


def test_renewal_refuses_a_timestamp_it_cannot_give_validation_data_for(
    foreign: Pki, pki: Pki, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    with freeze_time(T1 + timedelta(hours=1)), pytest.raises(SealingError) as refused:
        renew_archive_timestamp(
            pdf,
            InProcessTimeStamper(TimeStampAuthority(foreign.tsa)),
            InProcessRevocationSource.from_pki(pki),
        )
    assert "TSA certificate" in str(refused.value)
    assert "Nothing was written" in str(refused.value)
