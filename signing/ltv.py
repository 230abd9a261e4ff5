"""Revocation data for long-term validation, as the sealer obtains it.

A :class:`RevocationSource` hands out DER OCSP responses and CRLs for the PKI's
certificates. :class:`InProcessRevocationSource` asks the project's own responder
directly (no HTTP, no serialisation round trip) and reuses a response while it is
fresh, so sealing a batch costs one OCSP signature per certificate and reuse window,
not one per document. A revocation recorded in the registry invalidates the cached
answer at once: the sealer never embeds a stale ``good``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography import x509
from cryptography.x509 import ocsp

from signing.errors import PkiInvalidError, SigningError
from signing.models import RevocationData
from signing.pki import Pki
from signing.revocation import OcspResponder, OcspService, RevocationRegistry

__all__ = [
    "REUSE_WINDOW",
    "CertificateStatus",
    "HttpRevocationSource",
    "InProcessRevocationSource",
    "PublishedCrls",
    "RevocationSource",
    "ocsp_status",
]

logger = logging.getLogger(__name__)

REUSE_WINDOW: Final = timedelta(minutes=10)
"""How long one OCSP response is embedded in new seals before a fresh one is asked for
(bounded by the response's own nextUpdate)."""


@dataclass(frozen=True)
class CertificateStatus:
    """What one OCSP response says about one certificate."""

    revoked: bool
    revoked_at: datetime | None
    reason: str | None
    this_update: datetime


def ocsp_status(der: bytes) -> CertificateStatus:
    """Read the single status of a successful DER OCSP response (no signature check:
    only for responses this process just obtained from its own responder)."""
    response = ocsp.load_der_ocsp_response(der)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise SigningError(f"the OCSP responder answered {response.response_status.name}")
    status = response.certificate_status
    if status is ocsp.OCSPCertStatus.UNKNOWN:
        raise SigningError("the OCSP responder does not know the certificate")
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    reason = response.revocation_reason
    return CertificateStatus(
        revoked=revoked,
        revoked_at=response.revocation_time_utc if revoked else None,
        reason=reason.name if reason is not None else None,
        this_update=response.this_update_utc,
    )


class RevocationSource(Protocol):
    """Where a sealer gets revocation data to embed (and to refuse revoked seal keys)."""

    def covers(self, cert: x509.Certificate) -> bool:
        """Whether this source can answer for ``cert`` (its issuer runs a responder)."""
        ...

    def ocsp_response(self, cert: x509.Certificate) -> bytes:
        """A DER OCSP response about ``cert``, fresh enough to embed now."""
        ...

    def crls(self) -> list[bytes]:
        """The current DER CRLs of the issuing CA(s)."""
        ...

    def responder_certificates(self) -> list[x509.Certificate]:
        """Certificates needed to validate the responses (the delegated responder)."""
        ...


@dataclass
class _Cached:
    der: bytes
    fresh_until: datetime
    revoked: bool


class InProcessRevocationSource:
    """Revocation data straight from the project's responders and published CRL."""

    def __init__(
        self,
        responders: list[tuple[OcspResponder, RevocationRegistry]],
        crl_paths: tuple[Path, ...],
        *,
        clock: Callable[[], datetime] | None = None,
        reuse: timedelta = REUSE_WINDOW,
    ) -> None:
        self._responders = responders
        self._service = OcspService([r for r, _ in responders])
        self._crl_paths = tuple(Path(p) for p in crl_paths)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._reuse = reuse
        self._lock = threading.Lock()
        self._ocsp: dict[tuple[str, int], _Cached] = {}
        self._crl: dict[Path, tuple[tuple[int, int], bytes]] = {}

    @classmethod
    def from_pki(
        cls, pki: Pki, *, clock: Callable[[], datetime] | None = None
    ) -> InProcessRevocationSource:
        """:raises SigningError: the PKI predates revocation services (no OCSP responder)."""
        if pki.ocsp is None:
            raise SigningError(
                f"the PKI in {pki.pki_dir} has no OCSP responder (it predates revocation "
                "services), so B-LT/B-LTA seals cannot be made; use seal level B-T"
            )
        registry = RevocationRegistry(pki.revocations_path)
        responders = [
            (
                OcspResponder(
                    pki.issuing_ca,
                    pki.ocsp.certificate,
                    pki.ocsp.private_key,
                    registry,
                    clock=clock,
                ),
                registry,
            )
        ]
        if pki.root_ocsp is not None:
            root_registry = RevocationRegistry(pki.root_revocations_path)
            responders.append(
                (
                    OcspResponder(
                        pki.root,
                        pki.root_ocsp.certificate,
                        pki.root_ocsp.private_key,
                        root_registry,
                        clock=clock,
                    ),
                    root_registry,
                )
            )
        return cls(responders, pki.crl_paths, clock=clock)

    @property
    def service(self) -> OcspService:
        """The responders as one OCSP endpoint (for the HTTP route)."""
        return self._service

    def covers(self, cert: x509.Certificate) -> bool:
        return self._service.responder_for(cert) is not None

    def ocsp_response(self, cert: x509.Certificate) -> bytes:
        pair = next(((r, g) for r, g in self._responders if r.answers_for(cert)), None)
        if pair is None:
            raise SigningError(f"no OCSP responder answers for {cert.issuer.rfc4514_string()}")
        responder, registry = pair
        now = self._clock().astimezone(UTC)
        key = (cert.issuer.rfc4514_string(), cert.serial_number)
        # Checked on every call (a stat of the registry file): a revocation recorded by
        # another process replaces a cached "good" immediately.
        revoked_now = registry.get(cert.serial_number) is not None
        with self._lock:
            cached = self._ocsp.get(key)
            if cached is not None and cached.revoked == revoked_now and now < cached.fresh_until:
                return cached.der
        der = responder.response_for(cert)
        status = ocsp.load_der_ocsp_response(der)
        next_update = status.next_update_utc or now
        fresh_until = min(now + self._reuse, next_update)
        with self._lock:
            self._ocsp[key] = _Cached(der, fresh_until, revoked_now)
        return der

    def crls(self) -> list[bytes]:
        """The published CRLs that are still current. A CRL past its nextUpdate is left
        out (validators reject a document carrying one as "not recent enough"); the OCSP
        answers still cover every certificate, and `certledger seal crl` re-publishes (the
        root's ARL: the offline `certledger seal arl --offline-dir DIR`)."""
        now = self._clock().astimezone(UTC)
        fresh = []
        for path in self._crl_paths:
            der = self._crl_file(path)
            next_update = x509.load_der_x509_crl(der).next_update_utc
            if next_update is not None and now < next_update:
                fresh.append(der)
            else:
                logger.warning("the published CRL %s is out of date; not embedding it", path)
        return fresh

    def _crl_file(self, path: Path) -> bytes:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise PkiInvalidError(
                f"the published CRL {path} is missing; re-publish it (`certledger seal crl`; "
                "the root's ARL offline: `certledger seal arl --offline-dir DIR`)"
            ) from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._crl.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        der = path.read_bytes()
        with self._lock:
            self._crl[path] = (stamp, der)
        return der

    def responder_certificates(self) -> list[x509.Certificate]:
        return [r.responder_certificate for r, _ in self._responders]


class PublishedCrls:
    """The PKI's published CRLs as :class:`RevocationData` for a verifier (no key needed,
    re-read when a file changes). Call it to get the current data::

        Verifier(..., revocation_data=PublishedCrls(home.pki))
    """

    def __init__(self, pki_dir: Path) -> None:
        from signing.pki import ARL_FILE, CRL_FILE

        self._paths = (Path(pki_dir) / CRL_FILE, Path(pki_dir) / ARL_FILE)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[tuple[int, int], ...], RevocationData] | None = None

    def __call__(self) -> RevocationData | None:
        stamps = []
        for path in self._paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                stamps.append((0, 0))
                continue
            stamps.append((st.st_mtime_ns, st.st_size))
        key = tuple(stamps)
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        crls = tuple(p.read_bytes() for p, s in zip(self._paths, stamps, strict=True) if s[1])
        data = RevocationData(crls=crls) if crls else None
        if data is not None:
            with self._lock:
                self._cache = (key, data)
        return data


class HttpRevocationSource:
    """Revocation data from OCSP responders and CRL URLs over HTTP, for sealers that do not
    run beside the PKI. One ``httpx.Client`` (keep-alive) serves every request, and answers
    are reused while fresh (at most :data:`REUSE_WINDOW`, never past nextUpdate), so a batch
    costs one OCSP round trip per certificate and window, not one per document.

    Fails closed: an unreachable responder or an unusable answer raises
    :class:`SigningError`, so nothing is sealed at B-LT/B-LTA without revocation data. A
    revocation reaches this sealer when its cached answer expires (within the window).
    """

    def __init__(
        self,
        ocsp_url: str,
        issuers: list[x509.Certificate],
        crl_urls: list[str] | None = None,
        *,
        client: Any | None = None,
        clock: Callable[[], datetime] | None = None,
        reuse: timedelta = REUSE_WINDOW,
        timeout: float = 10.0,
    ) -> None:
        import httpx

        self._ocsp_url = ocsp_url
        self._issuers = {c.subject.public_bytes(): c for c in issuers}
        self._crl_urls = list(crl_urls or [])
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._reuse = reuse
        self._lock = threading.Lock()
        self._ocsp: dict[tuple[bytes, int], _Cached] = {}
        self._crls: dict[str, tuple[datetime, bytes]] = {}
        self._responders: dict[bytes, x509.Certificate] = {}

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def covers(self, cert: x509.Certificate) -> bool:
        return cert.issuer.public_bytes() in self._issuers

    def _get(self, url: str) -> bytes:
        import httpx

        try:
            response = self._client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise SigningError(f"cannot fetch {url}: {type(exc).__name__}") from None
        data: bytes = response.content
        return data

    def ocsp_response(self, cert: x509.Certificate) -> bytes:
        import httpx
        from cryptography.hazmat.primitives import hashes, serialization

        issuer = self._issuers.get(cert.issuer.public_bytes())
        if issuer is None:
            raise SigningError(f"no OCSP responder configured for {cert.issuer.rfc4514_string()}")
        key = (cert.issuer.public_bytes(), cert.serial_number)
        now = self._clock().astimezone(UTC)
        with self._lock:
            cached = self._ocsp.get(key)
            if cached is not None and now < cached.fresh_until:
                return cached.der
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 (CertID hash, RFC 6960)
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        try:
            reply = self._client.post(
                self._ocsp_url,
                content=request,
                headers={"content-type": "application/ocsp-request"},
            )
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise SigningError(
                f"the OCSP responder {self._ocsp_url} cannot be reached ({type(exc).__name__}); "
                "nothing is sealed without revocation data"
            ) from None
        der: bytes = reply.content
        try:
            parsed = ocsp.load_der_ocsp_response(der)
            ok = parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
            if not ok or parsed.serial_number != cert.serial_number:
                raise ValueError(parsed.response_status.name)
            next_update = parsed.next_update_utc or now
            for responder in parsed.certificates:
                self._responders[responder.public_bytes(serialization.Encoding.DER)] = responder
        except ValueError as exc:
            raise SigningError(f"the OCSP responder gave no usable answer ({exc})") from None
        with self._lock:
            self._ocsp[key] = _Cached(der, min(now + self._reuse, next_update), False)
        return der

    def crls(self) -> list[bytes]:
        now = self._clock().astimezone(UTC)
        out = []
        for url in self._crl_urls:
            with self._lock:
                cached = self._crls.get(url)
            if cached is None or now >= cached[0]:
                der = self._get(url)
                try:
                    next_update = x509.load_der_x509_crl(der).next_update_utc or now
                except ValueError:
                    raise SigningError(f"{url} did not return a DER CRL") from None
                cached = (min(now + self._reuse, next_update), der)
                with self._lock:
                    self._crls[url] = cached
                if now >= next_update:
                    logger.warning("the CRL at %s is out of date; not embedding it", url)
                    continue
            out.append(cached[1])
        return out

    def responder_certificates(self) -> list[x509.Certificate]:
        return list(self._responders.values())
