"""X.509 certificate profiles for the demo government PKI (ECDSA P-256, SHA-256)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = [
    "ISSUING_VALIDITY",
    "LEAF_VALIDITY",
    "ROOT_VALIDITY",
    "Issuer",
    "ServiceUrls",
    "ca_name",
    "issue_ca",
    "issue_ledger_node",
    "issue_ocsp_responder",
    "issue_seal",
    "issue_tls_client",
    "issue_tls_server",
    "issue_tsa",
    "seal_subject",
    "self_signed_root",
]

ROOT_VALIDITY = timedelta(days=20 * 365 + 5)
ISSUING_VALIDITY = timedelta(days=10 * 365 + 2)
LEAF_VALIDITY = timedelta(days=3 * 365 + 1)

# Certificates become valid a little before "now" so that a verifier whose clock runs
# slightly behind does not reject a freshly issued certificate.
_BACKDATE = timedelta(minutes=5)

_SEAL_SUFFIX = "电子印章"


@dataclass(frozen=True)
class Issuer:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ServiceUrls:
    """Where relying parties find the issuing CA's revocation services (RFC 5280
    AIA and CRL distribution points). ``base`` is the public address of the server."""

    base: str
    ca_slug: str = "issuing-ca"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    @property
    def crl(self) -> str:
        return f"{self.base}/crl/{self.ca_slug}.crl"

    @property
    def ca_issuers(self) -> str:
        return f"{self.base}/pki/{self.ca_slug}.crt"


def _with_service_urls(
    builder: x509.CertificateBuilder, urls: ServiceUrls | None
) -> x509.CertificateBuilder:
    if urls is None:
        return builder
    return builder.add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(urls.ocsp),
                ),
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(urls.ca_issuers),
                ),
            ]
        ),
        critical=False,
    ).add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(urls.crl)],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    )


def ca_name(org_name: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime,
    validity: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before - _BACKDATE)
        .not_valid_after(not_before + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _limit(issuer: Issuer, not_before: datetime, validity: timedelta) -> timedelta:
    # A certificate must never outlive its issuer: path validation would fail for the
    # tail of its lifetime, and that failure would surface years later.
    return min(validity, issuer.certificate.not_valid_after_utc - not_before)


def self_signed_root(
    name: x509.Name, key: ec.EllipticCurvePrivateKey, now: datetime
) -> x509.Certificate:
    builder = (
        _builder(name, name, key.public_key(), now, ROOT_VALIDITY)
        # pathlen 1: the root may certify exactly one layer of CAs (the issuing CA).
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
            critical=False,
        )
    )
    return builder.sign(key, hashes.SHA256())


def issue_ca(
    issuer: Issuer,
    name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    urls: ServiceUrls | None = None,
) -> x509.Certificate:
    """A CA certificate under ``issuer``; with ``urls`` (the issuer's services: the root's
    ARL, the OCSP endpoint, the root certificate) validators find the revocation data for it
    as they do for end-entity certificates, instead of warning that there is none."""
    builder = (
        _builder(
            name,
            issuer.certificate.subject,
            public_key,
            now,
            _limit(issuer, now, ISSUING_VALIDITY),
        )
        # pathlen 0: the issuing CA signs end-entity certificates only.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_aki(issuer.certificate), critical=False)
    )
    return _with_service_urls(builder, urls).sign(issuer.key, hashes.SHA256())


def _end_entity(
    issuer: Issuer,
    name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    key_usage: x509.KeyUsage,
) -> x509.CertificateBuilder:
    return (
        _builder(
            name, issuer.certificate.subject, public_key, now, _limit(issuer, now, LEAF_VALIDITY)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(_aki(issuer.certificate), critical=False)
    )


def seal_subject(code: str, name_zh: str) -> x509.Name:
    # cryptography encodes O, OU and CN as UTF8String (C stays PrintableString), which is
    # what Chinese agency names need.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name_zh),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, code),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name_zh} {_SEAL_SUFFIX}"),
        ]
    )


def issue_seal(
    issuer: Issuer,
    code: str,
    name_zh: str,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    urls: ServiceUrls | None = None,
) -> x509.Certificate:
    # nonRepudiation (contentCommitment) is what PAdES validators expect on a key that
    # commits an organisation to a document's content.
    builder = _end_entity(
        issuer, seal_subject(code, name_zh), public_key, now, _leaf_key_usage(non_repudiation=True)
    )
    return _with_service_urls(builder, urls).sign(issuer.key, hashes.SHA256())


def issue_ocsp_responder(
    issuer: Issuer, name: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.Certificate:
    builder = (
        _end_entity(issuer, name, public_key, now, _leaf_key_usage(non_repudiation=False))
        # RFC 6960 §4.2.2.2: a delegated responder is marked by this EKU, issued by the
        # CA whose certificates it answers for.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=True)
        # §4.2.2.2.1: clients need not check the responder's own revocation status
        # (its responses would otherwise vouch for themselves).
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    return builder.sign(issuer.key, hashes.SHA256())


def issue_tsa(
    issuer: Issuer,
    name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    urls: ServiceUrls | None = None,
) -> x509.Certificate:
    builder = _with_service_urls(
        _end_entity(issuer, name, public_key, now, _leaf_key_usage(non_repudiation=True)), urls
    ).add_extension(
        # RFC 3161 §2.3: the TSA certificate MUST carry exactly this EKU, marked critical,
        # so the key cannot be mistaken for (or misused as) a general signing key.
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
        critical=True,
    )
    return builder.sign(issuer.key, hashes.SHA256())


def issue_ledger_node(
    issuer: Issuer, name: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.Certificate:
    builder = _end_entity(issuer, name, public_key, now, _leaf_key_usage(non_repudiation=False))
    return builder.sign(issuer.key, hashes.SHA256())


def issue_tls_client(
    issuer: Issuer,
    name: x509.Name,
    uri: str,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    validity: timedelta,
) -> x509.Certificate:
    """A mutual-TLS client certificate: digitalSignature, EKU clientAuth only, so the key
    cannot serve as a TLS server, stamp time or seal a document. ``uri`` goes into the SAN
    (the web profile that strict verifiers apply wants one, also on client certificates)."""
    builder = (
        _builder(name, issuer.certificate.subject, public_key, now, _limit(issuer, now, validity))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(non_repudiation=False), critical=True)
        .add_extension(_aki(issuer.certificate), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        # Not critical, unlike the TSA's: the CA/Browser Forum profile, which TLS libraries
        # (cryptography's verifier, browsers) enforce, requires a non-critical EKU.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return builder.sign(issuer.key, hashes.SHA256())


def issue_tls_server(
    issuer: Issuer,
    name: x509.Name,
    hosts: Sequence[str],
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    validity: timedelta,
) -> x509.Certificate:
    """A TLS server certificate for ``hosts`` (DNS names or IP addresses, all in the SAN:
    clients match the SAN, never the CN), EKU serverAuth only."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = (
        _builder(name, issuer.certificate.subject, public_key, now, _limit(issuer, now, validity))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(non_repudiation=False), critical=True)
        .add_extension(_aki(issuer.certificate), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return builder.sign(issuer.key, hashes.SHA256())
