"""What a DSS revision carries for a list of certificates: each once, and an OCSP answer for
every one a responder covers. Shared by B-LT/B-LTA sealing and by renewal."""

from __future__ import annotations

from collections.abc import Callable

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from signing.ltv import RevocationSource

__all__ = ["ocsp_answers", "unique"]


def unique(certs: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """``certs`` without repeats, in order."""
    seen: set[bytes] = set()
    out = []
    for cert in certs:
        der = cert.dump()
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def _parse(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def ocsp_answers(
    certs: list[asn1_x509.Certificate],
    revocation: RevocationSource,
    convert: Callable[[asn1_x509.Certificate], x509.Certificate] = _parse,
) -> list[asn1_ocsp.OCSPResponse]:
    """An OCSP answer for each certificate but self-signed roots, where one of the project's
    responders covers its issuer. ``convert`` lets the sealer reuse its parsed chain."""
    answers = []
    for cert_asn1 in unique(certs):
        cert = convert(cert_asn1)
        if cert.issuer != cert.subject and revocation.covers(cert):
            answers.append(asn1_ocsp.OCSPResponse.load(revocation.ocsp_response(cert)))
    return answers
