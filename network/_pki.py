"""Crypto material for the local Fabric network, made by the project (no cryptogen).

Per organisation: an identity CA (its certificate is the MSP's ``cacerts``) and a TLS CA
(``tlscacerts``). Node and user identities carry their role as the certificate's OU
(``peer``, ``orderer``, ``admin``, ``client``) and the MSP config enables Node OUs, so the
channel policies can say ``'MarketRegulationMSP.peer'`` and mean only that org's peers.

Keys are ECDSA P-256 in PKCS#8 PEM, written 0600. They protect a *local test network*:
an agency joining a real network brings its own CA and keys and only the certificates
travel. The MSP keystore file name is Fabric's SKI (SHA-256 of the uncompressed public
point) so the peer finds the key without scanning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertAuthority", "Issued", "fabric_ski", "write_msp", "write_tls"]

_VALIDITY = dt.timedelta(days=3650)


def fabric_ski(key: ec.EllipticCurvePublicKey) -> str:
    """Fabric's key identifier: SHA-256 of the uncompressed EC point, hex."""
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return hashlib.sha256(point).hexdigest()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if secret:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def __repr__(self) -> str:  # never show key material
        return f"Issued({self.cert.subject.rfc4514_string()!r}, key=<hidden>)"


class CertAuthority:
    """A self-signed root that issues leaf certificates for one organisation."""

    def __init__(self, org: str, common_name: str) -> None:
        self.org = org
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        self.root = Issued(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self.root.cert_pem

    def issue(self, common_name: str, *, ou: str | None = None, tls: bool = False) -> Issued:
        """A leaf for ``common_name``; ``ou`` is the Fabric role, ``tls`` adds loopback SANs."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org)]
        if ou:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.root.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=tls,
                    data_encipherment=False,
                    key_agreement=tls,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.key.public_key()),
                False,
            )
        )
        if tls:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName(common_name),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        return Issued(builder.sign(self.root.key, hashes.SHA256()), key)


def write_msp(
    directory: Path, ca: CertAuthority, tls_ca: CertAuthority, signer: Issued | None
) -> None:
    """An MSP directory: CA and TLS CA certificates, Node OU config, and (for a local MSP)
    the signing certificate and its key."""
    _write(directory / "cacerts" / "ca.pem", ca.cert_pem)
    _write(directory / "tlscacerts" / "tlsca.pem", tls_ca.cert_pem)

    def ou(name: str) -> dict[str, str]:
        return {"Certificate": "cacerts/ca.pem", "OrganizationalUnitIdentifier": name}

    # JSON is YAML: Fabric parses this file with a YAML reader.
    config = {
        "NodeOUs": {
            "Enable": True,
            "ClientOUIdentifier": ou("client"),
            "PeerOUIdentifier": ou("peer"),
            "AdminOUIdentifier": ou("admin"),
            "OrdererOUIdentifier": ou("orderer"),
        }
    }
    _write(directory / "config.yaml", json.dumps(config, indent=1).encode())
    if signer is not None:
        _write(directory / "signcerts" / "cert.pem", signer.cert_pem)
        ski = fabric_ski(signer.key.public_key())
        _write(directory / "keystore" / f"{ski}_sk", signer.key_pem, secret=True)


def write_tls(directory: Path, tls_ca: CertAuthority, pair: Issued) -> None:
    """``server.crt``, ``server.key`` and ``ca.crt`` for one node or client."""
    _write(directory / "ca.crt", tls_ca.cert_pem)
    _write(directory / "server.crt", pair.cert_pem)
    _write(directory / "server.key", pair.key_pem, secret=True)
