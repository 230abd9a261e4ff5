"""When was the seal made, and was its certificate revoked then? Time is frozen: the PKI is
made at T0, documents are sealed at T1, and revocations happen before or after T1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from signing import (
    Pki,
    RevocationData,
    SealCertificateError,
    Sealer,
    SealLevel,
    Secret,
    Status,
    check_seal,
    load_pki,
)
from signing.pki_admin import revoke_certificate

from .conftest import FONT, SEAL_BOX, T0

T1 = T0 + timedelta(days=30)  # sealing time


def seal_at(pki: Pki, pdf: bytes, when: datetime, level: SealLevel = SealLevel.B_LTA) -> bytes:
    with freeze_time(when):
        sealer = Sealer.from_pki(pki, "BJ-EDU", FONT, level=level)
        return sealer.seal(pdf, page=0, box=SEAL_BOX, reason="颁发证书", location="北京").pdf


def current_crl(pki: Pki) -> RevocationData:
    return RevocationData(crls=tuple(p.read_bytes() for p in pki.crl_paths))


def test_offline_b_lta_uses_embedded_data_only(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    report = check_seal(pdf, pki.trust_roots, now=T1 + timedelta(days=400))
    assert report.revocation is not None
    assert report.revocation.status is Status.PASSED, report.revocation
    assert "OCSP data issued" in report.revocation.reason
    assert report.long_term_passed


def test_revoked_after_sealing_stays_valid(
    pki: Pki, passphrase: Secret, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    with freeze_time(T1 + timedelta(days=10)):
        revoke_certificate(
            pki.pki_dir, passphrase, pki.seal("BJ-EDU").certificate, reason="keyCompromise"
        )
    later = T1 + timedelta(days=20)
    report = check_seal(pdf, pki.trust_roots, now=later, revocation_data=current_crl(pki))
    assert report.revocation is not None
    assert report.revocation.status is Status.PASSED, report.revocation
    assert "the timestamp proves the seal came first" in report.revocation.reason
    assert report.long_term_passed


def test_revoked_before_sealing_is_invalid(
    pki: Pki, passphrase: Secret, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    # The compromise is discovered later but dated back to before the seal was made.
    with freeze_time(T1 + timedelta(days=10)):
        revoke_certificate(
            pki.pki_dir,
            passphrase,
            pki.seal("BJ-EDU").certificate,
            reason="keyCompromise",
            since=T1 - timedelta(days=1),
        )
    report = check_seal(
        pdf, pki.trust_roots, now=T1 + timedelta(days=20), revocation_data=current_crl(pki)
    )
    assert report.revocation is not None
    assert report.revocation.status is Status.FAILED, report.revocation
    assert "before the seal was time-stamped" in report.revocation.reason
    assert (
        "keyCompromise" in report.revocation.reason or "key_compromise" in report.revocation.reason
    )
    assert not report.long_term_passed


def test_sealing_with_a_revoked_certificate_is_refused(
    pki: Pki, passphrase: Secret, certificate_pdf: bytes
) -> None:
    with freeze_time(T1):
        sealer = Sealer.from_pki(pki, "BJ-EDU", FONT)
        sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
        revoke_certificate(
            pki.pki_dir, passphrase, pki.seal("BJ-EDU").certificate, reason="keyCompromise"
        )
        # The same sealer (with a cached "good" OCSP answer) refuses at once.
        with pytest.raises(SealCertificateError, match="revoked"):
            sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
        # Also at B-T, where nothing is embedded.
        bt = Sealer.from_pki(pki, "BJ-EDU", FONT, level=SealLevel.B_T)
        with pytest.raises(SealCertificateError, match="revoked"):
            bt.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")


def test_sealing_with_an_expired_certificate_is_refused(pki: Pki, certificate_pdf: bytes) -> None:
    expiry = pki.seal("BJ-EDU").certificate.not_valid_after_utc
    with freeze_time(expiry + timedelta(days=1)):
        sealer = Sealer.from_pki(pki, "BJ-EDU", FONT)
        with pytest.raises(SealCertificateError, match="expired"):
            sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")


def test_missing_revocation_data_is_indeterminate_never_valid(
    pki: Pki, certificate_pdf: bytes
) -> None:
    pdf = seal_at(pki, certificate_pdf, T1, level=SealLevel.B_T)
    report = check_seal(pdf, pki.trust_roots, now=T1 + timedelta(days=1))
    assert report.passed  # intact, trusted, time-stamped, unchanged ...
    assert report.revocation is not None
    assert report.revocation.status is Status.INDETERMINATE  # ... but revocation is unknown
    assert "no revocation data" in report.revocation.reason
    assert not report.long_term_passed


def test_missing_ocsp_responder_leaves_b_t_only(
    pki_dir: Path, passphrase: Secret, certificate_pdf: bytes
) -> None:
    for name in ("ocsp.pem", "ocsp.key.pem"):
        (pki_dir / name).unlink()
    old = load_pki(pki_dir, passphrase)
    with pytest.raises(Exception, match="no OCSP responder"):
        Sealer.from_pki(old, "BJ-EDU", FONT, level=SealLevel.B_LTA)
    pdf = seal_at(old, certificate_pdf, T1, level=SealLevel.B_T)
    report = check_seal(pdf, old.trust_roots, now=T1)
    assert report.revocation is not None
    assert report.revocation.status is Status.INDETERMINATE


def test_revocation_data_from_another_ca_is_ignored(
    pki: Pki, certificate_pdf: bytes, tmp_path: Path
) -> None:
    from .conftest import PASSPHRASE, make_pki

    other = load_pki(make_pki(tmp_path / "other"), Secret(PASSPHRASE))
    pdf = seal_at(pki, certificate_pdf, T1, level=SealLevel.B_T)
    # A CRL that does not verify under the seal's issuer cannot vouch for anything.
    report = check_seal(pdf, pki.trust_roots, now=T1, revocation_data=current_crl(other))
    assert report.revocation is not None
    assert report.revocation.status is Status.INDETERMINATE
    assert "do not verify or do not cover it" in report.revocation.reason


def test_seal_time_is_the_trusted_timestamp(pki: Pki, certificate_pdf: bytes) -> None:
    pdf = seal_at(pki, certificate_pdf, T1)
    report = check_seal(pdf, pki.trust_roots, now=T1)
    assert report.signed_at is not None
    assert abs(report.signed_at - T1) < timedelta(seconds=2)
    assert report.signed_at.tzinfo is UTC or report.signed_at.utcoffset() == timedelta(0)
