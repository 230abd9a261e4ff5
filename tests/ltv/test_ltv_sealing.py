"""B-LT and B-LTA seals: what is embedded, that the anchored digest is the sealed revision's,
that revocation answers are reused while fresh, and that independent tools agree: poppler's
pdfsig and pyHanko's own AdES long-term validation with embedded data only."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import (
    InProcessRevocationSource,
    Pki,
    Sealer,
    SealLevel,
    Secret,
    SigningError,
    Status,
    check_seal,
    load_pki,
)

from .conftest import FONT, PASSPHRASE, SEAL_BOX, free_port, make_pki, require_tool


def _seal(pki: Pki, pdf: bytes, level: SealLevel) -> tuple[bytes, str]:
    doc = Sealer.from_pki(pki, "BJ-EDU", FONT, level=level).seal(
        pdf, page=0, box=SEAL_BOX, reason="颁发证书", location="北京"
    )
    return doc.pdf, doc.sealed_digest


def _dss(pdf: bytes) -> dict[str, int]:
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = reader.root["/DSS"]
    return {key: len(dss.get(key, [])) for key in ("/Certs", "/OCSPs", "/CRLs")}


def _fields(pdf: bytes) -> list[tuple[str, str]]:
    reader = PdfFileReader(io.BytesIO(pdf))
    return [(s.field_name, s.sig_object_type) for s in reader.embedded_signatures]


def _sealed_revision_digest(pdf: bytes) -> str:
    reader = PdfFileReader(io.BytesIO(pdf))
    seal = next(s for s in reader.embedded_signatures if s.sig_object_type == "/Sig")
    _start, _length_a, offset_b, length_b = (int(v) for v in seal.byte_range)
    return hashlib.sha256(pdf[: offset_b + length_b]).hexdigest()


@pytest.mark.parametrize("level", [SealLevel.B_LT, SealLevel.B_LTA])
def test_validation_data_is_embedded_without_changing_the_sealed_digest(
    tmp_path: Path, certificate_pdf: bytes, level: SealLevel
) -> None:
    pki = _fresh_pki(tmp_path)
    pdf, digest = _seal(pki, certificate_pdf, level)
    counts = _dss(pdf)
    # seal, issuing CA, root, TSA, two OCSP responders
    assert counts["/Certs"] >= 5
    # seal certificate, issuing CA (from the root's responder), TSA certificate
    assert counts["/OCSPs"] == 3
    assert counts["/CRLs"] == 2  # the issuing CA's CRL and the root's ARL
    fields = _fields(pdf)
    assert fields[0] == ("CertLedgerSeal", "/Sig")
    if level is SealLevel.B_LTA:
        assert fields[1:] == [("CertLedgerArchive1", "/DocTimeStamp")]
    else:
        assert fields[1:] == []
    assert digest == _sealed_revision_digest(pdf)
    report = check_seal(pdf, pki.trust_roots)
    assert report.sealed_digest == digest
    assert report.long_term_passed, report
    assert "long-term-validation" in report.modification.reason


def test_b_lt_without_a_revocation_source_is_refused(pki: Pki) -> None:
    with pytest.raises(SigningError, match="revocation source"):
        Sealer(
            pki.seal("BJ-EDU"),
            Sealer.from_pki(pki, "BJ-EDU", FONT)._timestamper,
            stamp_font=FONT,
            level=SealLevel.B_LTA,
        )


def test_stale_crl_is_left_out_and_ocsp_still_covers(pki: Pki, certificate_pdf: bytes) -> None:
    # The fixture PKI was made at T0, so its first CRL (30 days) is out of date now.
    pdf, _ = _seal(pki, certificate_pdf, SealLevel.B_LTA)
    assert _dss(pdf)["/CRLs"] == 1  # the root's ARL only
    report = check_seal(pdf, pki.trust_roots)
    assert report.long_term_passed, report.revocation


def test_ocsp_answers_are_reused_while_fresh_and_dropped_on_revocation(pki: Pki) -> None:
    from signing.pki_admin import revoke_certificate

    source = InProcessRevocationSource.from_pki(pki)
    seal = pki.seal("BJ-EDU").certificate
    first = source.ocsp_response(seal)
    assert source.ocsp_response(seal) is first  # reused, not re-signed
    revoke_certificate(pki.pki_dir, Secret(PASSPHRASE), seal, reason="keyCompromise")
    assert source.ocsp_response(seal) != first


def test_illegal_change_after_b_lta_fails_although_pyhanko_tolerates_it(
    certificate_pdf: bytes, tmp_path: Path
) -> None:
    pki = _fresh_pki(tmp_path)
    pdf, _ = _seal(pki, certificate_pdf, SealLevel.B_LTA)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    info_ref = writer.trailer.raw_get("/Info")
    info_ref.get_object()[generic.NameObject("/Title")] = generic.TextStringObject("Forged")
    writer.mark_update(info_ref)
    out = io.BytesIO()
    writer.write(out)
    forged = out.getvalue()
    report = check_seal(forged, pki.trust_roots)
    assert report.intact.passed and report.chain.passed and report.timestamp.passed
    assert report.modification.status is Status.FAILED
    assert "Title" in report.modification.reason
    assert not report.long_term_passed
    # pyHanko's AdES long-term validation, embedded data only, still judges it VALID:
    # the verdict has to combine it with our modification analysis.
    assert _pyhanko_ades(pki, forged, tmp_path) == "VALID"


def _fresh_pki(root: Path, base_url: str | None = None) -> Pki:
    # Made now (not at T0): pyHanko's AdES validation wants the embedded CRLs current, and
    # the first CRL of a PKI is valid for 30 days (``certledger seal crl`` re-publishes).
    now = datetime.now(UTC)
    return load_pki(make_pki(root, base_url=base_url, now=now), Secret(PASSPHRASE))


def _pyhanko_ades(pki: Pki, pdf: bytes, tmp_path: Path) -> str:
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    f = tmp_path / "doc.pdf"
    f.write_bytes(pdf)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyhanko",
            "sign",
            "adesverify",
            "--trust",
            str(root),
            "--trust-replace",
            "--executive-summary",
            str(f),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("CertLedgerSeal:")]
    assert line, out.stdout + out.stderr
    return line[0].rsplit(":", 1)[1]


@pytest.mark.tools
def test_pyhanko_cli_validates_b_lta_with_embedded_data_only(
    tmp_path: Path, certificate_pdf: bytes
) -> None:
    # The certificates name OCSP/CRL URLs on a port where nothing listens, so any fetch
    # would fail: a VALID judgement can only come from the embedded data.
    dead = f"http://127.0.0.1:{free_port()}"
    pki = _fresh_pki(tmp_path, base_url=dead)
    pdf, _ = _seal(pki, certificate_pdf, SealLevel.B_LTA)
    assert _pyhanko_ades(pki, pdf, tmp_path) == "VALID"
    bt, _ = _seal(pki, certificate_pdf, SealLevel.B_T)
    assert _pyhanko_ades(pki, bt, tmp_path) != "VALID"


@pytest.mark.tools
def test_pdfsig_reports_the_b_lta_seal_valid(
    pki: Pki, certificate_pdf: bytes, tmp_path: Path
) -> None:
    pdfsig = require_tool("pdfsig")
    pdf, _ = _seal(pki, certificate_pdf, SealLevel.B_LTA)
    f = tmp_path / "sealed.pdf"
    f.write_bytes(pdf)
    out = subprocess.run([pdfsig, str(f)], capture_output=True, text=True, timeout=60)
    first = out.stdout.split("Signature #2")[0]
    assert "Signature Field Name: CertLedgerSeal" in first, out.stdout + out.stderr
    assert "Signature is Valid." in first
    assert "CertLedgerArchive1" in out.stdout
