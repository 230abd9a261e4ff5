"""Revocation state of the PKI's end-entity certificates, and the CRL and OCSP
responses that publish it.

* :class:`RevocationRegistry` is the record of revoked certificates: a small JSON file
  in the PKI directory (``revocations.json``), replaced atomically on every change and
  re-read when another process changed it.
* :func:`build_crl` signs a CRL with the issuing CA's key. The CA key is only loaded by
  administrative commands (``init_pki``, revoking), so the CRL is *published* to a file
  (``crl/issuing-ca.crl``) and served from there.
* :class:`OcspResponder` answers RFC 6960 requests with a delegated responder
  certificate (``ocsp.pem``: ``id-kp-OCSPSigning``, ``id-pkix-ocsp-nocheck``). It never
  raises: a malformed request gets ``malformedRequest``, a certificate of another CA
  gets ``unauthorized``.

What a ``good`` answer does *not* prove: that the certificate exists (the responder
only knows revocations, like a CRL); the seal check proves the chain separately.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from signing.errors import PkiInvalidError, SigningError

__all__ = [
    "ARL_VALIDITY",
    "CRL_VALIDITY",
    "OCSP_VALIDITY",
    "REASONS",
    "OcspResponder",
    "OcspService",
    "RevocationRecord",
    "RevocationRegistry",
    "build_crl",
    "fingerprint",
]

logger = logging.getLogger(__name__)

OCSP_VALIDITY: Final = timedelta(hours=24)
"""nextUpdate - thisUpdate of an OCSP response; a response is reused while fresh."""
CRL_VALIDITY: Final = timedelta(days=30)
"""nextUpdate - thisUpdate of a published CRL; every revocation re-publishes it."""
ARL_VALIDITY: Final = timedelta(days=365)
"""The root's CRL of CA certificates changes (almost) never; re-published yearly."""

REASONS: Final[Mapping[str, x509.ReasonFlags]] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}
"""Reason names accepted on the command line (RFC 5280 spelling) and their flags."""


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's DER encoding, as the ledger registry lists it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class RevocationRecord:
    """One revoked certificate.

    ``revoked_at`` is the time from which the certificate counts as revoked. For a key
    compromise revoked with ``--since`` it is the (earlier) compromise time: signatures
    time-stamped after it are not trusted, signatures time-stamped before it are.
    """

    serial: int
    fingerprint: str
    subject: str
    revoked_at: datetime
    reason: str
    recorded_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "serial": format(self.serial, "x"),
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "revoked_at": self.revoked_at.isoformat(),
            "reason": self.reason,
            "recorded_at": self.recorded_at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> RevocationRecord:
        reason = raw["reason"]
        if reason not in REASONS:
            raise ValueError(f"unknown revocation reason {reason!r}")
        return cls(
            serial=int(raw["serial"], 16),
            fingerprint=raw["fingerprint"],
            subject=raw["subject"],
            revoked_at=_aware(datetime.fromisoformat(raw["revoked_at"])),
            reason=reason,
            recorded_at=_aware(datetime.fromisoformat(raw["recorded_at"])),
        )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("revocation times must carry a time zone")
    return value.astimezone(UTC)


class RevocationRegistry:
    """The revoked certificates of one issuing CA, kept in a JSON file.

    Thread-safe. Readers pick up changes made by other processes (the CLI revokes while
    the server answers OCSP) by comparing the file's modification time and size.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: dict[int, RevocationRecord] = {}

    @property
    def path(self) -> Path:
        return self._path

    def records(self) -> dict[int, RevocationRecord]:
        """Revoked certificates by serial number (a copy)."""
        with self._lock:
            self._refresh()
            return dict(self._records)

    def get(self, serial: int) -> RevocationRecord | None:
        with self._lock:
            self._refresh()
            return self._records.get(serial)

    def revoke(
        self,
        cert: x509.Certificate,
        *,
        reason: str,
        revoked_at: datetime,
        now: datetime,
    ) -> RevocationRecord:
        """Record ``cert`` as revoked. Revoking twice keeps the first record (and its
        time) unless the new time is earlier: a compromise found to have started earlier
        moves the revocation back, never forward.
        """
        if reason not in REASONS:
            known = ", ".join(REASONS)
            raise SigningError(f"unknown revocation reason {reason!r}; use one of: {known}")
        revoked_at = _aware(revoked_at)
        now = _aware(now)
        if revoked_at > now:
            raise SigningError("a certificate cannot be revoked from a time in the future")
        with self._lock:
            self._refresh()
            existing = self._records.get(cert.serial_number)
            if existing is not None and existing.revoked_at <= revoked_at:
                return existing
            record = RevocationRecord(
                serial=cert.serial_number,
                fingerprint=fingerprint(cert),
                subject=cert.subject.rfc4514_string(),
                revoked_at=revoked_at,
                reason=reason,
                recorded_at=now,
            )
            updated = {**self._records, record.serial: record}
            self._write(updated)
            self._records = updated
            return record

    def _refresh(self) -> None:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            self._records, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            raw = json.loads(self._path.read_bytes())
            records = (RevocationRecord.from_json(r) for r in raw["revoked"])
            self._records = {r.serial: r for r in records}
        except (ValueError, KeyError, TypeError) as exc:
            # Fail closed: an unreadable revocation list must not read as "nothing revoked".
            raise PkiInvalidError(
                f"{self._path} is not a valid revocation list ({exc}); restore it from backup"
            ) from None
        self._stamp = stamp

    def _write(self, records: Mapping[int, RevocationRecord]) -> None:
        body = {"revoked": [r.to_json() for _, r in sorted(records.items())]}
        data = json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None  # re-stat on the next read


def build_crl(
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    records: Mapping[int, RevocationRecord],
    *,
    now: datetime,
    number: int,
    validity: timedelta = CRL_VALIDITY,
) -> bytes:
    """A DER CRL of ``records`` signed by ``issuer_key`` (the CA's own key)."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for record in records.values():
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(record.serial)
            .revocation_date(record.revoked_at)
            .add_extension(x509.CRLReason(REASONS[record.reason]), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(issuer_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


class OcspResponder:
    """Answers OCSP requests about certificates issued by ``issuer``.

    ``responder_cert`` is a delegated responder certificate issued by ``issuer`` with the
    ``id-kp-OCSPSigning`` extended key usage (RFC 6960 §4.2.2.2).
    """

    def __init__(
        self,
        issuer: x509.Certificate,
        responder_cert: x509.Certificate,
        responder_key: ec.EllipticCurvePrivateKey,
        registry: RevocationRegistry,
        *,
        clock: Callable[[], datetime] | None = None,
        validity: timedelta = OCSP_VALIDITY,
    ) -> None:
        if responder_cert.issuer != issuer.subject:
            raise SigningError("the OCSP responder certificate is not issued by this CA")
        self._issuer = issuer
        self._cert = responder_cert
        self._key = responder_key
        self._registry = registry
        self._clock = clock or (lambda: datetime.now(UTC))
        self._validity = validity
        # CertIDs name the issuer by hashes of its name and key; SHA-1 is what clients
        # (OpenSSL included) send by default, SHA-256 is accepted too.
        self._issuer_hashes = {
            alg.name: (_name_hash(issuer, alg), _key_hash(issuer, alg))
            for alg in (hashes.SHA1(), hashes.SHA256())  # noqa: S303
        }

    @property
    def issuer(self) -> x509.Certificate:
        return self._issuer

    @property
    def responder_certificate(self) -> x509.Certificate:
        return self._cert

    def answers_for(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` names this responder's CA as its issuer."""
        return cert.issuer == self._issuer.subject

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER ``OCSPRequest`` with a DER ``OCSPResponse``. Never raises."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            alg = request.hash_algorithm
            serial = request.serial_number
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
        except Exception:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        expected = self._issuer_hashes.get(alg.name)
        if expected is None or expected != (name_hash, key_hash):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        except Exception:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            return self._sign(serial, alg, nonce)
        except Exception:
            logger.exception("OCSP response could not be produced")
            return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def knows(self, alg_name: str, name_hash: bytes, key_hash: bytes) -> bool:
        """Whether a CertID with these issuer hashes names this responder's CA."""
        return self._issuer_hashes.get(alg_name) == (name_hash, key_hash)

    def response_for(self, cert: x509.Certificate) -> bytes:
        """A signed response about ``cert``, without an encoded request (in-process use).

        :raises SigningError: ``cert`` was not issued by this responder's CA.
        """
        if cert.issuer != self._issuer.subject:
            raise SigningError(f"{cert.subject.rfc4514_string()} is not issued by this CA")
        return self._sign(cert.serial_number, hashes.SHA1(), None)  # noqa: S303

    def _sign(self, serial: int, alg: hashes.HashAlgorithm, nonce: bytes | None) -> bytes:
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        record = self._registry.get(serial)
        status = ocsp.OCSPCertStatus.GOOD if record is None else ocsp.OCSPCertStatus.REVOKED
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=self._issuer_hashes[alg.name][0],
            issuer_key_hash=self._issuer_hashes[alg.name][1],
            serial_number=serial,
            algorithm=alg,
            cert_status=status,
            this_update=now,
            next_update=now + self._validity,
            revocation_time=None if record is None else record.revoked_at,
            revocation_reason=None if record is None else REASONS[record.reason],
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._cert).certificates(
            [self._cert]
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)


class OcspService:
    """One OCSP endpoint for several CAs (the root answers for the issuing CA, the
    issuing CA for seals and the TSA): each request goes to the responder whose CA it
    names."""

    def __init__(self, responders: list[OcspResponder]) -> None:
        self._responders = tuple(responders)

    @property
    def responders(self) -> tuple[OcspResponder, ...]:
        return self._responders

    def responder_for(self, cert: x509.Certificate) -> OcspResponder | None:
        return next((r for r in self._responders if r.answers_for(cert)), None)

    def respond(self, request_der: bytes) -> bytes:
        """Never raises; ``unauthorized`` when no responder knows the CA."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            key = (request.hash_algorithm.name, request.issuer_name_hash, request.issuer_key_hash)
        except Exception:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        for responder in self._responders:
            if responder.knows(*key):
                return responder.respond(request_der)
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


def _name_hash(cert: x509.Certificate, alg: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(alg)
    digest.update(cert.subject.public_bytes())
    return digest.finalize()


def _key_hash(cert: x509.Certificate, alg: hashes.HashAlgorithm) -> bytes:
    # RFC 6960: the hash of the subjectPublicKey BIT STRING value (without tag, length
    # and unused-bits octet). For an uncompressed EC point that is the X9.62 encoding.
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise PkiInvalidError("the issuing CA key is not an EC key")
    raw = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    digest = hashes.Hash(alg)
    digest.update(raw)
    return digest.finalize()


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
