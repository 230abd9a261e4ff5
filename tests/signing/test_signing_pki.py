from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import AGENCIES
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from signing_testkit import PASSPHRASE, require_tool, run_tool

from signing import (
    AgencyIdentity,
    KeyPassphraseError,
    Pki,
    PkiExistsError,
    PkiInvalidError,
    PkiNotInitialisedError,
    Secret,
    SigningError,
    UnknownAgencyError,
    init_pki,
    load_certificate,
    load_pki,
    load_trust_roots,
)

KEY_FILES = (  # the root CA's key is not among them: it is in the offline directory
    "issuing-ca.key.pem",
    "tsa.key.pem",
    "ledger-node.key.pem",
    "agencies/BJ-EDU/seal.key.pem",
    "agencies/SH-HRSS/seal.key.pem",
)


def _ext(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def _lifetime(cert: x509.Certificate) -> timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def _assert_p256_sha256(cert: x509.Certificate) -> None:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"


def _assert_key_ids(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    ski = _ext(issuer, x509.SubjectKeyIdentifier).value
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert isinstance(ski, x509.SubjectKeyIdentifier)
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ski.digest
    _ext(cert, x509.SubjectKeyIdentifier)


def test_layout(pki_dir: Path) -> None:
    for name in (
        "root-ca.pem",
        "issuing-ca.pem",
        "tsa.pem",
        "ledger-node.pem",
        "trust-roots.pem",
        "agencies/BJ-EDU/seal.pem",
        "agencies/SH-HRSS/seal.pem",
        *KEY_FILES,
    ):
        assert (pki_dir / name).is_file(), name
    assert not (pki_dir / "root-ca.key.pem").exists()
    assert (pki_dir.with_name("pki.root-ca") / "root-ca.key.pem").is_file()


def test_ca_certificates(pki: Pki) -> None:
    for cert, pathlen in ((pki.root, 1), (pki.issuing_ca, 0)):
        _assert_p256_sha256(cert)
        bc = _ext(cert, x509.BasicConstraints)
        assert bc.critical
        assert bc.value == x509.BasicConstraints(ca=True, path_length=pathlen)
        ku = _ext(cert, x509.KeyUsage)
        assert ku.critical
        assert isinstance(ku.value, x509.KeyUsage)
        assert ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
    assert pki.root.subject == pki.root.issuer
    assert pki.issuing_ca.issuer == pki.root.subject
    _assert_key_ids(pki.issuing_ca, pki.root)
    assert timedelta(days=20 * 365) <= _lifetime(pki.root) <= timedelta(days=20 * 366)
    assert timedelta(days=10 * 365) <= _lifetime(pki.issuing_ca) <= timedelta(days=10 * 366)


@pytest.mark.parametrize("agency", AGENCIES, ids=lambda a: a.code)
def test_seal_certificate(pki: Pki, agency: AgencyIdentity) -> None:
    seal = pki.seal(agency.code)
    cert = seal.certificate
    _assert_p256_sha256(cert)
    assert _ext(cert, x509.BasicConstraints).critical
    assert _ext(cert, x509.BasicConstraints).value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    assert isinstance(ku.value, x509.KeyUsage)
    assert ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    subject = {attr.oid: attr for attr in cert.subject}
    assert subject[NameOID.COUNTRY_NAME].value == "CN"
    assert subject[NameOID.ORGANIZATION_NAME].value == agency.name_zh
    assert subject[NameOID.ORGANIZATIONAL_UNIT_NAME].value == agency.code
    assert subject[NameOID.COMMON_NAME].value == f"{agency.name_zh} 电子印章"
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        assert subject[oid]._type == x509.name._ASN1Type.UTF8String
    assert cert.issuer == pki.issuing_ca.subject
    _assert_key_ids(cert, pki.issuing_ca)
    assert timedelta(days=3 * 365) <= _lifetime(cert) <= timedelta(days=3 * 366)
    assert seal.chain == (pki.issuing_ca, pki.root)
    assert seal.name_zh == agency.name_zh
    assert seal.private_key.public_key() == cert.public_key()


def test_tsa_certificate(pki: Pki) -> None:
    cert = pki.tsa.certificate
    _assert_p256_sha256(cert)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert eku.critical, "RFC 3161 requires the timeStamping EKU to be critical"
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]  # type: ignore[call-overload]
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    assert isinstance(ku.value, x509.KeyUsage)
    assert ku.value.digital_signature
    assert _ext(cert, x509.BasicConstraints).value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    assert timedelta(days=3 * 365) <= _lifetime(cert) <= timedelta(days=3 * 366)
    assert pki.tsa.chain == (pki.issuing_ca, pki.root)


def test_ledger_node_certificate(pki: Pki) -> None:
    cert = pki.node.certificate
    _assert_p256_sha256(cert)
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    assert isinstance(ku.value, x509.KeyUsage)
    assert ku.value.digital_signature and not ku.value.key_cert_sign
    assert cert.issuer == pki.issuing_ca.subject


def test_trust_roots_are_exactly_the_root(pki: Pki, pki_dir: Path) -> None:
    assert pki.trust_roots == (pki.root,)
    assert load_trust_roots(pki_dir / "trust-roots.pem") == (pki.root,)


def test_agencies_listed(pki: Pki) -> None:
    assert pki.agencies() == ("BJ-EDU", "SH-HRSS")
    with pytest.raises(UnknownAgencyError, match="NOPE"):
        pki.seal("NOPE")


@pytest.mark.parametrize("name", KEY_FILES)
def test_keys_are_encrypted_and_private(pki_dir: Path, name: str) -> None:
    path = pki_dir / name
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in path.read_bytes()
    assert PASSPHRASE.encode() not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wrong_passphrase(pki_dir: Path) -> None:
    wrong = "definitely-the-wrong-passphrase"
    with pytest.raises(KeyPassphraseError) as info:
        load_pki(pki_dir, Secret(wrong))
    message = str(info.value)
    assert message.startswith("the key passphrase (CERTLEDGER_PASSPHRASE) does not decrypt ")
    assert ".key.pem" in message
    assert wrong not in message and wrong not in repr(info.value)
    assert PASSPHRASE not in message
    # nothing secret hides in the exception chain either
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_reprs_do_not_show_keys(pki: Pki) -> None:
    for shown in (repr(pki), repr(pki.seal("BJ-EDU")), repr(pki.tsa), repr(pki.node)):
        assert "PRIVATE" not in shown
        assert "EllipticCurvePrivateKey" not in shown
    assert "<hidden>" in repr(pki.seal("BJ-EDU"))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PkiNotInitialisedError, match="certledger init"):
        load_pki(tmp_path / "nowhere", Secret(PASSPHRASE))


def test_missing_key_file(tmp_path: Path, passphrase: Secret) -> None:
    pki_dir = tmp_path / "pki"
    init_pki(pki_dir, AGENCIES[:1], passphrase)
    (pki_dir / "tsa.key.pem").unlink()
    with pytest.raises(PkiNotInitialisedError, match=r"tsa\.key\.pem"):
        load_pki(pki_dir, passphrase)


def test_plaintext_key_is_refused(tmp_path: Path, passphrase: Secret) -> None:
    from cryptography.hazmat.primitives import serialization

    pki_dir = tmp_path / "pki"
    init_pki(pki_dir, AGENCIES[:1], passphrase)
    key_path = pki_dir / "tsa.key.pem"
    key = serialization.load_pem_private_key(key_path.read_bytes(), PASSPHRASE.encode())
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PkiInvalidError, match="not an encrypted"):
        load_pki(pki_dir, passphrase)


def test_refuses_to_overwrite(pki_dir: Path, passphrase: Secret) -> None:
    before = (pki_dir / "root-ca.pem").read_bytes()
    with pytest.raises(PkiExistsError, match="refusing to overwrite"):
        init_pki(pki_dir, AGENCIES, passphrase)
    assert (pki_dir / "root-ca.pem").read_bytes() == before


def test_empty_existing_directory_is_fine(tmp_path: Path, passphrase: Secret) -> None:
    (tmp_path / "pki").mkdir()
    init_pki(tmp_path / "pki", AGENCIES[:1], passphrase)
    assert (tmp_path / "pki" / "root-ca.pem").is_file()


def test_nothing_left_behind_on_failure(tmp_path: Path, passphrase: Secret) -> None:
    bad = AgencyIdentity("../escape", "某局", "Some Bureau")
    with pytest.raises(SigningError, match="invalid"):
        init_pki(tmp_path / "pki", [bad], passphrase)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("agencies", "passphrase", "match"),
    [
        (AGENCIES, "short", "at least 12 characters"),
        ((), PASSPHRASE, "at least one agency"),
        ((AGENCIES[0], AGENCIES[0]), PASSPHRASE, "twice"),
        ((AgencyIdentity("X", " ", "x"),), PASSPHRASE, "empty Chinese name"),
    ],
)
def test_invalid_requests(
    tmp_path: Path, agencies: tuple[AgencyIdentity, ...], passphrase: str, match: str
) -> None:
    with pytest.raises(SigningError, match=match):
        init_pki(tmp_path / "pki", agencies, Secret(passphrase))


def test_now_sets_validity(tmp_path: Path, passphrase: Secret) -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    init_pki(tmp_path / "pki", AGENCIES[:1], passphrase, now=when)
    pki = load_pki(tmp_path / "pki", passphrase)
    assert (
        pki.root.not_valid_before_utc <= when < pki.root.not_valid_before_utc + timedelta(hours=1)
    )


def test_trust_roots_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PkiNotInitialisedError):
        load_trust_roots(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(PkiInvalidError):
        load_trust_roots(tmp_path / "junk.pem")


@pytest.mark.tools
def test_openssl_accepts_the_chains(pki_dir: Path) -> None:
    openssl = require_tool("openssl")
    result = run_tool(
        openssl,
        "verify",
        "-x509_strict",
        "-CAfile",
        pki_dir / "trust-roots.pem",
        "-untrusted",
        pki_dir / "issuing-ca.pem",
        pki_dir / "agencies/BJ-EDU/seal.pem",
        pki_dir / "tsa.pem",
        pki_dir / "ledger-node.pem",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": OK") == 3


def test_short_aliases(pki: Pki) -> None:
    assert pki.node.cert is pki.node.certificate and pki.node.key is pki.node.private_key
    assert pki.tsa.cert is pki.tsa.certificate and pki.tsa.key is pki.tsa.private_key
    seal = pki.seal("BJ-EDU")
    assert seal.cert is seal.certificate and seal.key is seal.private_key


def test_load_certificate(pki: Pki, pki_dir: Path, tmp_path: Path) -> None:
    assert load_certificate(pki_dir / "ledger-node.pem") == pki.node.certificate
    with pytest.raises(PkiNotInitialisedError):
        load_certificate(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(PkiInvalidError):
        load_certificate(tmp_path / "junk.pem")


def test_ca_keys_are_not_loaded_into_memory(pki: Pki) -> None:
    """Serving processes hold only operational keys (seals, TSA, ledger node)."""
    assert not any(isinstance(v, ec.EllipticCurvePrivateKey) for v in vars(pki).values())
