"""B-LTA renewal: a new document timestamp before the last timestamp's TSA certificate
expires, without changing the anchored digest of the sealed revision."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from freezegun import freeze_time
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    Pki,
    Sealer,
    SealLevel,
    Secret,
    TimeStampAuthority,
    check_seal,
    load_pki,
)
from signing.pki_admin import rotate_tsa
from signing.renewal import last_timestamp_expiry, renew_archive_timestamp, sealed_revision_digest
from tests.e2e.conftest import example, make_deployment

from .conftest import FONT, SEAL_BOX, T0

T1 = T0 + timedelta(days=30)


def _fields(pdf: bytes) -> list[str]:
    return [s.field_name for s in PdfFileReader(io.BytesIO(pdf)).embedded_signatures]


def test_renewal_adds_a_document_timestamp_and_keeps_the_digest(
    pki: Pki, certificate_pdf: bytes
) -> None:
    with freeze_time(T1):
        sealed = Sealer.from_pki(pki, "BJ-EDU", FONT).seal(
            certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l"
        )
    expiry = last_timestamp_expiry(sealed.pdf)
    assert expiry == pki.tsa.certificate.not_valid_after_utc
    renew_at = expiry - timedelta(days=100)
    with freeze_time(renew_at):
        stamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
        renewed = renew_archive_timestamp(
            sealed.pdf, stamper, InProcessRevocationSource.from_pki(pki)
        )
    assert _fields(renewed) == ["CertLedgerSeal", "CertLedgerArchive1", "CertLedgerArchive2"]
    assert renewed.startswith(sealed.pdf)
    assert sealed_revision_digest(renewed) == sealed.sealed_digest
    report = check_seal(renewed, pki.trust_roots, now=renew_at)
    assert report.sealed_digest == sealed.sealed_digest
    assert report.long_term_passed, report
    assert "2 later revision(s)" in report.modification.reason


def test_b_t_documents_report_the_signature_timestamps_tsa(
    pki: Pki, certificate_pdf: bytes
) -> None:
    with freeze_time(T1):
        sealed = Sealer.from_pki(pki, "BJ-EDU", FONT, level=SealLevel.B_T).seal(
            certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l"
        )
    assert last_timestamp_expiry(sealed.pdf) == pki.tsa.certificate.not_valid_after_utc


def test_renewal_with_a_rotated_tsa_extends_the_horizon(
    pki: Pki, passphrase: Secret, certificate_pdf: bytes
) -> None:
    with freeze_time(T1):
        sealed = Sealer.from_pki(pki, "BJ-EDU", FONT).seal(
            certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l"
        )
    old_expiry = last_timestamp_expiry(sealed.pdf)
    assert old_expiry is not None
    renew_at = old_expiry - timedelta(days=100)
    with freeze_time(renew_at):
        new_tsa = rotate_tsa(pki.pki_dir, passphrase)
        fresh = load_pki(pki.pki_dir, passphrase)
        assert fresh.tsa.certificate == new_tsa
        renewed = renew_archive_timestamp(
            sealed.pdf,
            InProcessTimeStamper(TimeStampAuthority(fresh.tsa)),
            InProcessRevocationSource.from_pki(fresh),
        )
    new_expiry = last_timestamp_expiry(renewed)
    assert new_expiry == new_tsa.not_valid_after_utc
    assert new_expiry is not None and new_expiry > old_expiry
    assert sealed_revision_digest(renewed) == sealed.sealed_digest
    assert check_seal(renewed, fresh.trust_roots, now=renew_at).long_term_passed
    # What an offline validator needs for the newest timestamp is in the file, after it:
    # an OCSP answer for the new TSA certificate, and a CRL published after that certificate.
    crl = x509.load_der_x509_crl(fresh.crl_path.read_bytes())
    assert crl.last_update_utc >= new_tsa.not_valid_before_utc
    reader = PdfFileReader(io.BytesIO(renewed))
    stamp = reader.embedded_signatures[-1]
    assert stamp.sig_object_type == "/DocTimeStamp"
    assert reader.xrefs.total_revisions - 1 > stamp.signed_revision
    dss = DocumentSecurityStore.read_dss(reader)
    answered = {ocsp.load_der_ocsp_response(r.get_object().data).serial_number for r in dss.ocsps}
    assert new_tsa.serial_number in answered
    assert any(
        x509.load_der_x509_crl(c.get_object().data).last_update_utc >= new_tsa.not_valid_before_utc
        for c in dss.crls
    )


@pytest.mark.e2e
def test_ltv_renew_command_renews_stored_certificates(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    out = tmp_path / "permit.pdf"
    issued = json.loads(dep.issue_permit(data, out, check=True).stdout)
    nothing = json.loads(
        dep.cli("ltv", "renew", "--within-days", "30", "--json", check=True).stdout
    )
    assert nothing["renewed"] == []
    # Everything expires within 5000 days, so everything is renewed.
    result = json.loads(
        dep.cli("ltv", "renew", "--within-days", "5000", "--json", check=True).stdout
    )
    assert issued["id"] in result["renewed"]
    assert result["skipped"] == []
    status = json.loads(dep.cli("status", issued["id"], "--json", check=True).stdout)
    assert status["status"] == "active"
