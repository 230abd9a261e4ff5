"""TLS certificates from the project's PKI: mutual-TLS client certificates for API clients, and
the server certificate ``certledger serve --tls`` presents.

Both are issued by the issuing CA (its key is decrypted for one call, as in
:mod:`signing.pki_admin`). A client certificate names only the client id and its agency: no
person's name, since a certificate is shown to every server the client talks to and outlives
any change of staff. The client's key is generated here, written encrypted under a fresh random
passphrase (never the PKI's) for the client to take away, and then forgotten: the deployment
keeps nothing of it, and its registry keeps only the certificate's SHA-256 fingerprint.

Layout added to a PKI directory::

    tls/server.pem       the server certificate, then the issuing CA (the chain to send)
    tls/server.key.pem   its key, encrypted with the PKI passphrase like every other key
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import _certs
from signing._files import write_new_file
from signing._keys import KDF_ROUNDS, generate_key, read_private_key, write_private_key
from signing.errors import PkiInvalidError, PkiNotInitialisedError, SigningError
from signing.pki import ISSUING_CERT, ROOT_CERT, load_certificate
from signing.pki_admin import _issuer
from signing.secret import Secret

__all__ = [
    "CLIENT_CA",
    "CLIENT_VALIDITY",
    "MAX_CLIENT_VALIDITY",
    "SERVER_CERT",
    "SERVER_KEY",
    "ClientCredentials",
    "ClientFiles",
    "ServerTlsFiles",
    "TlsCertificateError",
    "certificate_fingerprint",
    "check_client_ca",
    "client_subject",
    "client_uri",
    "ensure_server_certificate",
    "issue_client_certificate",
]

CLIENT_VALIDITY = timedelta(days=365)
MAX_CLIENT_VALIDITY = timedelta(days=825)
SERVER_VALIDITY = timedelta(days=365)
# `serve --tls` issues a new server certificate when the current one has less left than this.
SERVER_RENEW_WITHIN = timedelta(days=30)

SERVER_CERT = "tls/server.pem"
SERVER_KEY = "tls/server.key.pem"
CLIENT_CA = ISSUING_CERT
"""The one CA whose certificates the server accepts from TLS clients (see
``verify_api.http.tls``): the issuing CA, not the root, so that no other CA the root might certify
could ever mint API credentials."""

_CERT_FILE_MODE = 0o644
_SECRET_FILE_MODE = 0o600
# Client ids and agency codes end up in file names and subject attributes: a strict alphabet
# rules out path traversal and odd characters.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_AGENCY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_ORG = "CertLedger API Clients"


class TlsCertificateError(SigningError):
    """A TLS certificate cannot be issued as asked (bad client id, host or validity), or its
    files cannot be written."""


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex: what the client registry stores."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class ClientFiles:
    """Where :meth:`ClientCredentials.write` put the client's files."""

    certificate: Path  # the client certificate, then the issuing CA (PEM)
    key: Path  # its private key, encrypted PKCS#8 PEM (mode 0600)
    pkcs12: Path  # certificate, key and CA certificates in one PKCS#12 file (mode 0600)
    trust_root: Path  # the root CA, to verify the server's certificate


@dataclass(frozen=True, repr=False)
class ClientCredentials:
    """A freshly issued client certificate with its key, before anything is written.

    ``key_passphrase`` protects the written key and PKCS#12 file; it is random, shown to the
    operator once and kept nowhere.
    """

    client_id: str
    agency: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)
    issuing_ca: x509.Certificate
    root: x509.Certificate
    key_passphrase: Secret = field(compare=False)

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(client_id={self.client_id!r}, agency={self.agency!r}, "
            f"fingerprint={self.fingerprint!r}, private_key=<hidden>)"
        )

    def write(self, out_dir: Path) -> ClientFiles:
        """Write ``<client id>.pem``, ``.key.pem``, ``.p12`` and ``.trust-root.pem`` into
        ``out_dir`` (created, mode 0700). Existing files are never overwritten; on failure
        nothing of this client is left behind.

        :raises TlsCertificateError: a file exists already or cannot be written.
        """
        out_dir = Path(out_dir)
        base = self.client_id
        files = ClientFiles(
            certificate=out_dir / f"{base}.pem",
            key=out_dir / f"{base}.key.pem",
            pkcs12=out_dir / f"{base}.p12",
            trust_root=out_dir / f"{base}.trust-root.pem",
        )
        password = self.key_passphrase.reveal().encode("utf-8")
        # The key file's KDF (signing._keys): PBES2, PBKDF2-HMAC-SHA256 at KDF_ROUNDS, AES-256.
        # cryptography keeps the PKCS#12 MAC at 2,048 rounds; the password is 192 random bits.
        p12_encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password)
        )
        p12 = pkcs12.serialize_key_and_certificates(
            name=base.encode("ascii"),
            key=self.private_key,
            cert=self.certificate,
            cas=[self.issuing_ca, self.root],
            encryption_algorithm=p12_encryption,
        )
        written: list[Path] = []
        try:
            out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for path, data, mode in (
                (files.certificate, _pem(self.certificate, self.issuing_ca), _CERT_FILE_MODE),
                (files.pkcs12, p12, _SECRET_FILE_MODE),
                (files.trust_root, _pem(self.root), _CERT_FILE_MODE),
            ):
                write_new_file(path, data, mode=mode)
                written.append(path)
            write_private_key(files.key, self.private_key, self.key_passphrase)
            written.append(files.key)
        except OSError as exc:
            for path in written:
                path.unlink(missing_ok=True)
            what = "exists already" if isinstance(exc, FileExistsError) else exc.strerror
            raise TlsCertificateError(
                f"cannot write the client's files into {out_dir}: "
                f"{Path(exc.filename or out_dir).name} {what}"
            ) from None
        return files


def client_subject(client_id: str, agency: str) -> x509.Name:
    # The client id and the agency code, nothing about a person (see the module docstring).
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, agency),
            x509.NameAttribute(NameOID.COMMON_NAME, client_id),
        ]
    )


def client_uri(client_id: str, agency: str) -> str:
    """The client certificate's SAN: the same two facts as its subject, as a URI."""
    return f"urn:certledger:client:{agency}:{client_id}"


def issue_client_certificate(
    pki_dir: Path,
    passphrase: Secret,
    *,
    client_id: str,
    agency: str,
    validity: timedelta = CLIENT_VALIDITY,
    now: datetime | None = None,
) -> ClientCredentials:
    """Generate a P-256 key and have the issuing CA certify it for TLS client authentication
    (EKU clientAuth only). Nothing is written: call :meth:`ClientCredentials.write`.

    :raises TlsCertificateError: a malformed client id or agency code, or a validity outside
        one day .. :data:`MAX_CLIENT_VALIDITY`.
    :raises KeyPassphraseError: the passphrase does not decrypt the issuing CA's key.
    """
    if not _CLIENT_ID.fullmatch(client_id):
        raise TlsCertificateError(f"client id {client_id!r} is not 1-64 letters, digits, - or _")
    if not _AGENCY_CODE.fullmatch(agency):
        raise TlsCertificateError(f"agency code {agency!r} is not 1-64 letters, digits, - or _")
    if not timedelta(days=1) <= validity <= MAX_CLIENT_VALIDITY:
        raise TlsCertificateError(
            f"a client certificate is valid for 1 to {MAX_CLIENT_VALIDITY.days} days"
        )
    pki_dir = Path(pki_dir)
    issuer = _issuer(pki_dir, passphrase)
    root = load_certificate(pki_dir / ROOT_CERT)
    key = generate_key()
    cert = _certs.issue_tls_client(
        issuer,
        client_subject(client_id, agency),
        client_uri(client_id, agency),
        key.public_key(),
        _now(now),
        validity,
    )
    return ClientCredentials(
        client_id=client_id,
        agency=agency,
        certificate=cert,
        private_key=key,
        issuing_ca=issuer.certificate,
        root=root,
        # 192 random bits: the files travel to the client, so the passphrase carries the
        # strength against offline guessing (see signing.pki.MIN_PASSPHRASE_LENGTH).
        key_passphrase=Secret(secrets.token_urlsafe(24)),
    )


@dataclass(frozen=True)
class ServerTlsFiles:
    """What the TLS server loads: its chain, its (encrypted) key, and the CA it accepts
    client certificates from."""

    certificate: Path
    key: Path
    client_ca: Path
    issued: bool  # True when this call issued a new server certificate


def _check_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in hosts:
        host = raw.strip().strip("[]").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if not _DNS_NAME.fullmatch(host):
                raise TlsCertificateError(
                    f"{raw!r} is neither an IP address nor a DNS name"
                ) from None
        else:
            if address.is_unspecified:
                raise TlsCertificateError(
                    f"{raw!r} is the wildcard address; name the address clients connect to"
                )
            host = str(address)
        if host not in out:
            out.append(host)
    if not out:
        raise TlsCertificateError("a server certificate needs at least one host name")
    return tuple(out)


def _san_hosts(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v).lower() for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def _usable(
    pki_dir: Path,
    passphrase: Secret,
    hosts: Sequence[str],
    issuing: x509.Certificate,
    now: datetime,
) -> bool:
    """Whether the current server certificate can be served as it is: issued by this issuing
    CA, for every host, for serverAuth, valid well beyond today, with a key that opens."""
    cert_path, key_path = pki_dir / SERVER_CERT, pki_dir / SERVER_KEY
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, IndexError, x509.ExtensionNotFound):
        return False
    if (
        cert.issuer != issuing.subject
        or ExtendedKeyUsageOID.SERVER_AUTH not in eku
        or not set(hosts) <= _san_hosts(cert)
        or not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - SERVER_RENEW_WITHIN
    ):
        return False
    key = read_private_key(key_path, passphrase, display_name=SERVER_KEY)
    return key.public_key() == cert.public_key()


def ensure_server_certificate(
    pki_dir: Path,
    passphrase: Secret,
    hosts: Sequence[str],
    *,
    now: datetime | None = None,
) -> ServerTlsFiles:
    """The server certificate for ``hosts`` under ``pki_dir/tls/``: the current one when it
    still fits (see :func:`_usable`), else a new one from the issuing CA (serverAuth, every
    host in the SAN, valid a year), replacing the old one.

    :raises TlsCertificateError: a host is neither an IP address nor a DNS name.
    :raises KeyPassphraseError: the passphrase does not decrypt a key.
    """
    pki_dir = Path(pki_dir)
    hosts = _check_hosts(hosts)
    now = _now(now)
    try:
        issuing = load_certificate(pki_dir / ISSUING_CERT)
    except PkiNotInitialisedError:
        raise PkiNotInitialisedError(
            f"no PKI found in {pki_dir}; run `certledger init` to create one"
        ) from None
    files = ServerTlsFiles(pki_dir / SERVER_CERT, pki_dir / SERVER_KEY, pki_dir / CLIENT_CA, False)
    if _usable(pki_dir, passphrase, hosts, issuing, now):
        return files
    issuer = _issuer(pki_dir, passphrase)
    key = generate_key()
    cert = _certs.issue_tls_server(
        issuer,
        _certs.ca_name("CertLedger", "CertLedger API server"),
        hosts,
        key.public_key(),
        now,
        SERVER_VALIDITY,
    )
    tls_dir = pki_dir / SERVER_CERT.split("/")[0]
    tls_dir.mkdir(mode=0o700, exist_ok=True)
    staging = tls_dir / ".issuing"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    write_new_file(staging / "server.pem", _pem(cert, issuer.certificate), mode=_CERT_FILE_MODE)
    write_private_key(staging / "server.key.pem", key, passphrase)
    # Key first, then certificate: a crash in between leaves a key that does not match its
    # certificate, which the next start notices (_usable) and repairs by issuing again.
    os.replace(staging / "server.key.pem", files.key)
    os.replace(staging / "server.pem", files.certificate)
    staging.rmdir()
    return ServerTlsFiles(files.certificate, files.key, files.client_ca, True)


def check_client_ca(pki_dir: Path) -> Path:
    """The issuing CA certificate file the server trusts for client certificates.

    :raises PkiInvalidError: it is missing or not a CA certificate.
    """
    path = Path(pki_dir) / CLIENT_CA
    cert = load_certificate(path)
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    if not ca:
        raise PkiInvalidError(f"{path} is not a CA certificate")
    return path
