"""TLS certificates from the PKI: client certificates (mutual TLS for API clients) and the
server certificate of `serve --tls`."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store
from signing_testkit import PASSPHRASE

from signing import AgencyIdentity, KeyPassphraseError, Secret, init_pki, load_certificate
from signing.tls import (
    SERVER_CERT,
    SERVER_KEY,
    TlsCertificateError,
    certificate_fingerprint,
    ensure_server_certificate,
    issue_client_certificate,
)

AGENCY = AgencyIdentity("transport", "交通运输局", "Transport Bureau")
CLIENT_ID = "cl_00112233445566ff"


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls-pki") / "pki"
    init_pki(path, [AGENCY], Secret(PASSPHRASE))
    return path


def _verify_chain(pki_dir: Path, cert: x509.Certificate, *, client: bool) -> None:
    """An independent path validation (cryptography's RFC 5280 verifier, with the web
    profile's EKU checks): root as trust anchor, the issuing CA as intermediate."""
    builder = PolicyBuilder().store(Store([load_certificate(pki_dir / "root-ca.pem")]))
    builder = builder.time(datetime.now(UTC))
    intermediates = [load_certificate(pki_dir / "issuing-ca.pem")]
    if client:
        builder.build_client_verifier().verify(cert, intermediates)
    else:
        builder.build_server_verifier(x509.DNSName("localhost")).verify(cert, intermediates)


def test_client_certificate_profile(pki_dir: Path) -> None:
    issued = issue_client_certificate(
        pki_dir, Secret(PASSPHRASE), client_id=CLIENT_ID, agency="transport"
    )
    cert = issued.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The subject is the client id and its agency, nothing else (no person's name).
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {
        NameOID.COUNTRY_NAME: "CN",
        NameOID.ORGANIZATION_NAME: "CertLedger API Clients",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "transport",
        NameOID.COMMON_NAME: CLIENT_ID,
    }
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [
        x509.UniformResourceIdentifier(f"urn:certledger:client:transport:{CLIENT_ID}")
    ]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=365) <= lifetime <= timedelta(days=365, minutes=10)
    assert issued.fingerprint == certificate_fingerprint(cert) and len(issued.fingerprint) == 64
    _verify_chain(pki_dir, cert, client=True)
    # Secrets stay out of reprs.
    assert issued.key_passphrase.reveal() not in repr(issued)
    assert "PRIVATE" not in repr(issued)


def test_client_validity_is_configurable_and_bounded(pki_dir: Path) -> None:
    issued = issue_client_certificate(
        pki_dir,
        Secret(PASSPHRASE),
        client_id=CLIENT_ID,
        agency="transport",
        validity=timedelta(days=30),
    )
    lifetime = issued.certificate.not_valid_after_utc - issued.certificate.not_valid_before_utc
    assert lifetime < timedelta(days=31)
    for days in (0, -1, 826):
        with pytest.raises(TlsCertificateError, match="valid for 1 to 825 days"):
            issue_client_certificate(
                pki_dir,
                Secret(PASSPHRASE),
                client_id=CLIENT_ID,
                agency="transport",
                validity=timedelta(days=days),
            )


@pytest.mark.parametrize("client_id", ["", "../x", "a b", "x" * 65])
def test_client_ids_are_checked(pki_dir: Path, client_id: str) -> None:
    with pytest.raises(TlsCertificateError, match="client id"):
        issue_client_certificate(pki_dir, Secret(PASSPHRASE), client_id=client_id, agency="t")


def test_wrong_passphrase_issues_nothing(pki_dir: Path) -> None:
    with pytest.raises(KeyPassphraseError):
        issue_client_certificate(
            pki_dir, Secret("not the passphrase"), client_id=CLIENT_ID, agency="transport"
        )


def test_client_files_are_encrypted_and_never_overwritten(pki_dir: Path, tmp_path: Path) -> None:
    issued = issue_client_certificate(
        pki_dir, Secret(PASSPHRASE), client_id=CLIENT_ID, agency="transport"
    )
    out = tmp_path / "out"
    files = issued.write(out)
    password = issued.key_passphrase.reveal().encode()
    assert password.decode() != PASSPHRASE and len(password) >= 32
    assert b"ENCRYPTED PRIVATE KEY" in files.key.read_bytes()
    for secret_file in (files.key, files.pkcs12):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    key = serialization.load_pem_private_key(files.key.read_bytes(), password)
    assert key.public_key() == issued.certificate.public_key()
    with pytest.raises((ValueError, TypeError)):
        serialization.load_pem_private_key(files.key.read_bytes(), None)
    bundle = pkcs12.load_pkcs12(files.pkcs12.read_bytes(), password)
    assert bundle.cert is not None and bundle.cert.certificate == issued.certificate
    assert [c.certificate for c in bundle.additional_certs] == [issued.issuing_ca, issued.root]
    chain = x509.load_pem_x509_certificates(files.certificate.read_bytes())
    assert chain == [issued.certificate, issued.issuing_ca]
    assert x509.load_pem_x509_certificates(files.trust_root.read_bytes()) == [issued.root]
    # A second write into the same directory refuses and leaves the first files as they were.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = issue_client_certificate(
        pki_dir, Secret(PASSPHRASE), client_id=CLIENT_ID, agency="transport"
    )
    with pytest.raises(TlsCertificateError, match="exists already"):
        other.write(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_server_certificate_is_issued_once_and_renewed_for_new_hosts(pki_dir: Path) -> None:
    hosts = ("127.0.0.1", "localhost", "::1")
    first = ensure_server_certificate(pki_dir, Secret(PASSPHRASE), hosts)
    assert first.issued and first.certificate == pki_dir / SERVER_CERT
    assert first.key == pki_dir / SERVER_KEY and first.client_ca == pki_dir / "issuing-ca.pem"
    chain = x509.load_pem_x509_certificates(first.certificate.read_bytes())
    cert = chain[0]
    assert chain[1] == load_certificate(pki_dir / "issuing-ca.pem")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert b"ENCRYPTED PRIVATE KEY" in first.key.read_bytes()
    _verify_chain(pki_dir, cert, client=False)

    again = ensure_server_certificate(pki_dir, Secret(PASSPHRASE), ("localhost", "127.0.0.1"))
    assert not again.issued and again.certificate.read_bytes() == first.certificate.read_bytes()

    wider = ensure_server_certificate(pki_dir, Secret(PASSPHRASE), (*hosts, "api.example.gov"))
    assert wider.issued
    cert = x509.load_pem_x509_certificates(wider.certificate.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.example.gov" in san.get_values_for_type(x509.DNSName)

    # Near its end the certificate is replaced.
    later = datetime.now(UTC) + timedelta(days=340)
    assert ensure_server_certificate(pki_dir, Secret(PASSPHRASE), hosts, now=later).issued


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "bad host", "-x.example", ""])
def test_server_hosts_are_checked(pki_dir: Path, host: str) -> None:
    with pytest.raises(TlsCertificateError):
        ensure_server_certificate(pki_dir, Secret(PASSPHRASE), (host,))
