"""The project's revocation services: the revocation registry, OCSP responses (in-process and
over HTTP, read by `openssl ocsp`), published CRLs (read by `openssl crl`), and the service
URLs written into new seal certificates."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from signing import (
    InProcessRevocationSource,
    Pki,
    RevocationRegistry,
    Secret,
    SigningError,
    load_pki,
)
from signing.pki_admin import publish_arl, revoke_certificate

from .conftest import PASSPHRASE, LoopbackServer, make_pki, require_tool

pytestmark = pytest.mark.tools


def _request(
    cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


# -- registry ------------------------------------------------------------------------------


def test_registry_records_survive_reload_and_keep_the_earliest_time(pki: Pki) -> None:
    seal = pki.seal("BJ-EDU").certificate
    now = datetime.now(UTC)
    registry = RevocationRegistry(pki.revocations_path)
    first = registry.revoke(
        seal, reason="keyCompromise", revoked_at=now - timedelta(days=2), now=now
    )
    # A later time never moves the revocation forward; an earlier one moves it back.
    assert registry.revoke(seal, reason="superseded", revoked_at=now, now=now) == first
    earlier = registry.revoke(
        seal, reason="keyCompromise", revoked_at=now - timedelta(days=5), now=now
    )
    assert earlier.revoked_at == now - timedelta(days=5)
    reloaded = RevocationRegistry(pki.revocations_path).get(seal.serial_number)
    assert reloaded == earlier
    body = json.loads(pki.revocations_path.read_text("utf-8"))
    assert body["revoked"][0]["reason"] == "keyCompromise"


def test_registry_refuses_future_times_and_unknown_reasons(pki: Pki) -> None:
    seal = pki.seal("BJ-EDU").certificate
    now = datetime.now(UTC)
    registry = RevocationRegistry(pki.revocations_path)
    with pytest.raises(SigningError, match="future"):
        registry.revoke(seal, reason="keyCompromise", revoked_at=now + timedelta(hours=1), now=now)
    with pytest.raises(SigningError, match="unknown revocation reason"):
        registry.revoke(seal, reason="bored", revoked_at=now, now=now)
    assert not pki.revocations_path.exists()


def test_corrupt_registry_fails_closed(pki: Pki) -> None:
    pki.revocations_path.write_text("{not json", "utf-8")
    with pytest.raises(SigningError, match="not a valid revocation list"):
        RevocationRegistry(pki.revocations_path).get(1)


# -- OCSP in-process -----------------------------------------------------------------------


def test_ocsp_answers_good_then_revoked_with_reason_and_nonce(pki: Pki, passphrase: Secret) -> None:
    service = InProcessRevocationSource.from_pki(pki).service
    seal = pki.seal("BJ-EDU").certificate
    good = ocsp.load_der_ocsp_response(service.respond(_request(seal, pki.issuing_ca, nonce=b"n1")))
    assert good.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n1"

    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    revoke_certificate(pki.pki_dir, passphrase, seal, reason="keyCompromise", since=since)
    revoked = ocsp.load_der_ocsp_response(service.respond(_request(seal, pki.issuing_ca)))
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_time_utc == since
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise


def test_ocsp_refuses_malformed_and_foreign_requests(pki: Pki, tmp_path: Path) -> None:
    service = InProcessRevocationSource.from_pki(pki).service
    bad = ocsp.load_der_ocsp_response(service.respond(b"\x30\x03junk"))
    assert bad.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    other = load_pki(make_pki(tmp_path / "other"), Secret(PASSPHRASE))
    foreign = _request(other.seal("BJ-EDU").certificate, other.issuing_ca)
    answer = ocsp.load_der_ocsp_response(service.respond(foreign))
    assert answer.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_root_responder_answers_for_the_issuing_ca(pki: Pki) -> None:
    service = InProcessRevocationSource.from_pki(pki).service
    answer = ocsp.load_der_ocsp_response(service.respond(_request(pki.issuing_ca, pki.root)))
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert (
        answer.certificates[0]
        .subject.rfc4514_string()
        .startswith("CN=CertLedger Demo Root OCSP Responder")
    )


# -- CRL -----------------------------------------------------------------------------------


def test_revocation_republishes_the_crl_with_a_higher_number(pki: Pki, passphrase: Secret) -> None:
    seal = pki.seal("BJ-EDU").certificate
    before = x509.load_der_x509_crl(pki.crl_path.read_bytes())
    assert before.get_revoked_certificate_by_serial_number(seal.serial_number) is None
    revoke_certificate(pki.pki_dir, passphrase, seal, reason="cessationOfOperation")
    after = x509.load_der_x509_crl(pki.crl_path.read_bytes())
    entry = after.get_revoked_certificate_by_serial_number(seal.serial_number)
    assert entry is not None
    number = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(after) == number(before) + 1
    assert after.is_signature_valid(pki.issuing_ca.public_key())  # type: ignore[arg-type]
    publish_arl(pki.pki_dir, passphrase, pki.pki_dir.with_name("pki.root-ca"))
    arl = x509.load_der_x509_crl(pki.crl_paths[1].read_bytes())
    assert arl.is_signature_valid(pki.root.public_key())  # type: ignore[arg-type]


def test_wrong_passphrase_revokes_nothing(pki: Pki) -> None:
    seal = pki.seal("BJ-EDU").certificate
    with pytest.raises(SigningError):
        revoke_certificate(
            pki.pki_dir, Secret("a-wrong-passphrase-xx"), seal, reason="keyCompromise"
        )
    assert RevocationRegistry(pki.revocations_path).get(seal.serial_number) is None


# -- service URLs --------------------------------------------------------------------------


def test_new_seal_certificates_name_the_ocsp_responder_and_crl(tmp_path: Path) -> None:
    with_urls = load_pki(
        make_pki(tmp_path / "a", base_url="https://ca.example.gov/"), Secret(PASSPHRASE)
    )
    cert = with_urls.seal("BJ-EDU").certificate
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = {d.access_method: d.access_location.value for d in aia}
    assert urls[AuthorityInformationAccessOID.OCSP] == "https://ca.example.gov/ocsp"
    assert (
        urls[AuthorityInformationAccessOID.CA_ISSUERS]
        == "https://ca.example.gov/pki/issuing-ca.crt"
    )
    crldp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crldp[0].full_name[0].value == "https://ca.example.gov/crl/issuing-ca.crl"

    without = load_pki(make_pki(tmp_path / "b"), Secret(PASSPHRASE))
    with pytest.raises(x509.ExtensionNotFound):
        without.seal("BJ-EDU").certificate.extensions.get_extension_for_class(
            x509.AuthorityInformationAccess
        )


def test_the_issuing_ca_names_the_roots_services(tmp_path: Path) -> None:
    """Validators look for revocation data of every certificate below the root: the issuing
    CA's names the root's ARL, the OCSP endpoint (the root's delegated responder answers for
    it) and the root certificate."""
    with_urls = load_pki(
        make_pki(tmp_path / "a", base_url="https://ca.example.gov/"), Secret(PASSPHRASE)
    )
    ca = with_urls.issuing_ca
    aia = ca.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = {d.access_method: d.access_location.value for d in aia}
    assert urls[AuthorityInformationAccessOID.OCSP] == "https://ca.example.gov/ocsp"
    assert (
        urls[AuthorityInformationAccessOID.CA_ISSUERS] == "https://ca.example.gov/pki/root-ca.crt"
    )
    crldp = ca.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crldp[0].full_name[0].value == "https://ca.example.gov/crl/root-ca.crl"
    # The root itself names nothing (it is the trust anchor).
    with pytest.raises(x509.ExtensionNotFound):
        with_urls.root.extensions.get_extension_for_class(x509.AuthorityInformationAccess)


def test_pki_without_revocation_services_still_loads(pki_dir: Path, passphrase: Secret) -> None:
    for name in ("ocsp.pem", "ocsp.key.pem", "root-ocsp.pem", "root-ocsp.key.pem"):
        (pki_dir / name).unlink()
    old = load_pki(pki_dir, passphrase)
    assert old.ocsp is None and old.root_ocsp is None
    with pytest.raises(SigningError, match="no OCSP responder"):
        InProcessRevocationSource.from_pki(old)


# -- over HTTP, read by OpenSSL -------------------------------------------------------------


def test_openssl_ocsp_reads_good_then_revoked(
    served: LoopbackServer, pki: Pki, passphrase: Secret, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    seal = _pem(tmp_path / "seal.pem", pki.seal("BJ-EDU").certificate)
    issuer = _pem(tmp_path / "issuing.pem", pki.issuing_ca)
    roots = _pem(tmp_path / "roots.pem", pki.root, pki.issuing_ca)

    def ask() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                openssl,
                "ocsp",
                "-issuer",
                issuer,
                "-cert",
                seal,
                "-url",
                f"{served.url}/ocsp",
                "-CAfile",
                roots,
                "-resp_text",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = ask()
    assert "Response verify OK" in good.stderr + good.stdout, good.stdout + good.stderr
    assert f"{seal}: good" in good.stdout
    revoke_certificate(
        pki.pki_dir, passphrase, pki.seal("BJ-EDU").certificate, reason="keyCompromise"
    )
    revoked = ask()
    assert "Response verify OK" in revoked.stderr + revoked.stdout
    assert f"{seal}: revoked" in revoked.stdout
    assert "Reason: keyCompromise" in revoked.stdout


def test_ocsp_get_form_and_content_type_checks(served: LoopbackServer, pki: Pki) -> None:
    request = _request(pki.seal("BJ-EDU").certificate, pki.issuing_ca)
    encoded = base64.b64encode(request).decode()
    got = httpx.get(f"{served.url}/ocsp/{encoded}", timeout=10)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(got.content).certificate_status is ocsp.OCSPCertStatus.GOOD
    wrong = httpx.post(
        f"{served.url}/ocsp", content=request, headers={"content-type": "text/plain"}
    )
    assert wrong.status_code == 415
    assert httpx.get(f"{served.url}/ocsp/!!!", timeout=10).status_code == 400


def test_openssl_crl_verifies_the_published_crl(
    served: LoopbackServer, pki: Pki, passphrase: Secret, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    revoke_certificate(
        pki.pki_dir, passphrase, pki.seal("BJ-EDU").certificate, reason="keyCompromise"
    )
    crl = tmp_path / "issuing-ca.crl"
    response = httpx.get(f"{served.url}/crl/issuing-ca.crl", timeout=10)
    assert response.headers["content-type"] == "application/pkix-crl"
    crl.write_bytes(response.content)
    chain = _pem(tmp_path / "chain.pem", pki.issuing_ca, pki.root)
    out = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", crl, "-CAfile", chain, "-noout", "-text"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "verify OK" in out.stderr + out.stdout, out.stdout + out.stderr
    serial = format(pki.seal("BJ-EDU").certificate.serial_number, "X")
    assert serial in out.stdout.replace(":", "").upper()
    assert "Key Compromise" in out.stdout
    ca = httpx.get(f"{served.url}/pki/issuing-ca.crt", timeout=10)
    assert x509.load_der_x509_certificate(ca.content) == pki.issuing_ca
    root = httpx.get(f"{served.url}/pki/root-ca.crt", timeout=10)
    assert x509.load_der_x509_certificate(root.content) == pki.root
    assert httpx.get(f"{served.url}/pki/root-ca.key.crt", timeout=10).status_code == 404
    assert httpx.get(f"{served.url}/crl/nope.crl", timeout=10).status_code == 404
