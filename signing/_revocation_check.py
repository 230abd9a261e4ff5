"""Was the seal certificate revoked when the seal was made? Decided from revocation data
at hand only (embedded in the document, or handed in by the caller); nothing is fetched.

Steps (numbers are cited in the code):

1. Find the seal certificate's issuer among the available certificates: same name *and*
   its key verifies the seal certificate's signature.
2. Read every OCSP response that answers for the seal certificate. Each counts only if
   it is signed by the issuer itself or by a delegated responder the issuer certified
   for OCSP signing (RFC 6960 §4.2.2.2), valid when the response was produced.
3. Read every CRL of the issuer whose signature the issuer's key verifies.
4. Decide. Any trustworthy "revoked" wins over "good" answers: revoked from time R means
   the seal is FAILED unless a trusted signature timestamp proves the seal existed
   before R (then PASSED, with the reason). Without a revocation, a "good" answer
   issued no earlier than :data:`MAX_REVINFO_AGE` before the seal's time passes. No
   usable data is INDETERMINATE, never PASSED.

What a pass does *not* prove: that the timestamp authority's own certificate was
unrevoked (its tokens are checked against the trust roots separately).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from signing.models import Outcome

__all__ = ["MAX_REVINFO_AGE", "assess_revocation"]

MAX_REVINFO_AGE: Final = timedelta(minutes=15)
"""A "good" answer may be this much older than the seal's timestamp and still count:
sealers reuse a response for a few minutes (and drop it at once on a revocation)."""


@dataclass(frozen=True)
class _Evidence:
    source: str
    revoked_at: datetime | None
    reason: str | None
    issued_at: datetime


def assess_revocation(
    signer: x509.Certificate,
    certificates: Iterable[x509.Certificate],
    ocsp_responses: Sequence[bytes],
    crls: Sequence[bytes],
    *,
    proof_of_existence: datetime | None,
    now: datetime,
) -> tuple[Outcome, datetime | None]:
    """Revocation status of ``signer`` at the time the seal was made, and the time the
    certificate is revoked from when trustworthy data says it is revoked (else ``None``).

    ``proof_of_existence`` is the time of a *trusted* signature timestamp (or ``None``).
    """
    certs = list(certificates)
    issuer = _find_issuer(signer, certs)  # step 1
    if issuer is None:
        unavailable = "the seal certificate's issuer is not available, so revocation data "
        return Outcome.indeterminate(unavailable + "cannot be checked"), None
    evidence = [
        *_from_ocsp(signer, issuer, certs, ocsp_responses),
        *_from_crls(signer, issuer, crls),
    ]
    outcome = _decide(evidence, proof_of_existence, now, bool(ocsp_responses or crls))  # step 4
    revoked = [e.revoked_at for e in evidence if e.revoked_at is not None]
    return outcome, min(revoked) if revoked else None


def _find_issuer(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _verify(key_owner: x509.Certificate, signature: bytes, data: bytes, alg: object) -> bool:
    public = key_owner.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        alg, hashes.HashAlgorithm
    ):
        return False
    try:
        public.verify(signature, data, ec.ECDSA(alg))
    except InvalidSignature:
        return False
    return True


def _cert_id_hashes(issuer: x509.Certificate, alg: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    name = hashes.Hash(alg)
    name.update(issuer.subject.public_bytes())
    key = hashes.Hash(alg)
    public = issuer.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        key.update(
            public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
    return name.finalize(), key.finalize()


def _is_delegated_responder(
    responder: x509.Certificate, issuer: x509.Certificate, at: datetime
) -> bool:
    if responder.issuer != issuer.subject:
        return False
    try:
        responder.verify_directly_issued_by(issuer)
        eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    valid = responder.not_valid_before_utc <= at <= responder.not_valid_after_utc
    return valid and ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _from_ocsp(
    signer: x509.Certificate,
    issuer: x509.Certificate,
    certs: list[x509.Certificate],
    responses: Sequence[bytes],
) -> list[_Evidence]:
    found: list[_Evidence] = []
    for der in responses:  # step 2
        try:
            response = ocsp.load_der_ocsp_response(der)
            if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
                continue
            produced = response.produced_at_utc
            signers = [issuer, *response.certificates, *certs]
            trusted = any(
                (c == issuer or _is_delegated_responder(c, issuer, produced))
                and _responder_matches(response, c)
                and _verify(
                    c,
                    response.signature,
                    response.tbs_response_bytes,
                    response.signature_hash_algorithm,
                )
                for c in signers
            )
            if not trusted:
                continue
            for single in response.responses:
                if single.serial_number != signer.serial_number:
                    continue
                if (single.issuer_name_hash, single.issuer_key_hash) != _cert_id_hashes(
                    issuer, single.hash_algorithm
                ):
                    continue
                status = single.certificate_status
                if status is ocsp.OCSPCertStatus.UNKNOWN:
                    continue
                revoked = status is ocsp.OCSPCertStatus.REVOKED
                reason = single.revocation_reason
                found.append(
                    _Evidence(
                        "OCSP",
                        single.revocation_time_utc if revoked else None,
                        reason.name if revoked and reason is not None else None,
                        single.this_update_utc,
                    )
                )
        except (ValueError, TypeError):
            continue
    return found


def _responder_matches(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    key_hash = response.responder_key_hash
    if key_hash is None:
        return False
    return key_hash == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _from_crls(
    signer: x509.Certificate, issuer: x509.Certificate, crls: Sequence[bytes]
) -> list[_Evidence]:
    found: list[_Evidence] = []
    for der in crls:  # step 3
        try:
            crl = x509.load_der_x509_crl(der)
            public = issuer.public_key()
            if crl.issuer != issuer.subject or not isinstance(public, ec.EllipticCurvePublicKey):
                continue
            if not crl.is_signature_valid(public):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(signer.serial_number)
            if entry is None:
                found.append(_Evidence("CRL", None, None, crl.last_update_utc))
                continue
            try:
                reason: str | None = entry.extensions.get_extension_for_class(
                    x509.CRLReason
                ).value.reason.name
            except x509.ExtensionNotFound:
                reason = None
            found.append(_Evidence("CRL", entry.revocation_date_utc, reason, crl.last_update_utc))
        except (ValueError, TypeError):
            continue
    return found


def _decide(
    evidence: list[_Evidence], poe: datetime | None, now: datetime, had_data: bool
) -> Outcome:
    revocations = [e for e in evidence if e.revoked_at is not None]
    if revocations:
        first = min(revocations, key=lambda e: e.revoked_at or now)
        assert first.revoked_at is not None
        reason = first.reason or "unspecified"
        what = f"revoked from {first.revoked_at.isoformat()} (reason {reason}, per {first.source})"
        if poe is not None and poe < first.revoked_at:
            return Outcome.ok(
                f"the seal certificate was {what}, after the seal was time-stamped at "
                f"{poe.isoformat()}: the timestamp proves the seal came first"
            )
        if poe is None:
            return Outcome.failed(
                f"the seal certificate was {what}, and no trusted timestamp proves the seal "
                "was made before"
            )
        return Outcome.failed(
            f"the seal certificate was {what}, before the seal was time-stamped at "
            f"{poe.isoformat()}"
        )
    reference = poe or now
    usable = [e for e in evidence if e.issued_at >= reference - MAX_REVINFO_AGE]
    if usable:
        best = max(usable, key=lambda e: e.issued_at)
        return Outcome.ok(
            f"not revoked: {best.source} data issued {best.issued_at.isoformat()} says the seal "
            "certificate was good when the seal was made"
        )
    if evidence:
        return Outcome.indeterminate(
            "the available revocation data was issued too long before the seal was made "
            "to show the seal certificate was still good"
        )
    if had_data:
        return Outcome.indeterminate(
            "no usable revocation data for the seal certificate: the embedded OCSP responses "
            "and CRLs do not verify or do not cover it"
        )
    return Outcome.indeterminate(
        "no revocation data for the seal certificate is available (the document is not "
        "sealed at PAdES B-LT or B-LTA), so its revocation status cannot be decided"
    )
