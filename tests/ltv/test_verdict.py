"""The verification report's SEAL_NOT_REVOKED check: from embedded data alone, and with the
PKI's published CRLs handed to the verifier (signing.ltv.PublishedCrls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from freezegun import freeze_time

from certificates.verification.report import CheckCode, CheckStatus
from certificates.verification.verifier import Verifier
from ledger import AgencyRecord, LedgerRecord
from signing import Pki, Sealer, SealLevel, Secret
from signing.ltv import PublishedCrls
from signing.pki_admin import revoke_certificate

from .conftest import FONT, SEAL_BOX, T0

T1 = T0 + timedelta(days=30)


@dataclass
class NoLedger:
    backend: str = "fake"

    def get(self, cert_id: str) -> LedgerRecord | None:
        return None

    def registry(self) -> list[AgencyRecord]:
        return []


def _check(verifier: Verifier, pdf: bytes) -> tuple[CheckStatus, str]:
    report = verifier.verify_pdf(pdf)
    check = next(c for c in report.checks if c.code is CheckCode.SEAL_NOT_REVOKED)
    return check.status, check.message.en


def _sealed(pki: Pki, pdf: bytes, level: SealLevel = SealLevel.B_LTA) -> bytes:
    with freeze_time(T1):
        sealer = Sealer.from_pki(pki, "BJ-EDU", FONT, level=level)
        return sealer.seal(pdf, page=0, box=SEAL_BOX, reason="r", location="l").pdf


def test_seal_not_revoked_from_embedded_data(pki: Pki, certificate_pdf: bytes) -> None:
    verifier = Verifier(trust_roots=pki.trust_roots, ledger=NoLedger())  # type: ignore[arg-type]
    assert _check(verifier, _sealed(pki, certificate_pdf))[0] is CheckStatus.PASSED
    status, message = _check(verifier, _sealed(pki, certificate_pdf, SealLevel.B_T))
    assert status is CheckStatus.INDETERMINATE
    assert "no revocation data" in message  # the reason is shown


def test_published_crl_turns_a_backdated_revocation_into_a_failure(
    pki: Pki, passphrase: Secret, certificate_pdf: bytes
) -> None:
    before = _sealed(pki, certificate_pdf)
    with freeze_time(T1 + timedelta(days=2)):
        after = (
            Sealer.from_pki(pki, "BJ-EDU", FONT)
            .seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
            .pdf
        )
        revoke_certificate(
            pki.pki_dir,
            passphrase,
            pki.seal("BJ-EDU").certificate,
            reason="keyCompromise",
            since=T1 + timedelta(days=1),
        )
    verifier = Verifier(
        trust_roots=pki.trust_roots,
        ledger=NoLedger(),  # type: ignore[arg-type]
        revocation_data=PublishedCrls(pki.pki_dir),
    )
    with freeze_time(T1 + timedelta(days=3)):
        ok_status, ok_message = _check(verifier, before)
        bad_status, _ = _check(verifier, after)
    assert ok_status is CheckStatus.PASSED
    assert "revoked after the seal was made" in ok_message
    assert bad_status is CheckStatus.FAILED
