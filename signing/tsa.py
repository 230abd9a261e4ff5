"""An RFC 3161 time-stamp authority run by the project itself, and a pyHanko client
that talks to it in-process.

:class:`TimeStampAuthority` turns a DER ``TimeStampReq`` into a DER ``TimeStampResp``;
the API layer mounts :meth:`TimeStampAuthority.respond` behind an HTTP endpoint
(``Content-Type: application/timestamp-query`` in, ``application/timestamp-reply`` out).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from signing.errors import SigningError
from signing.pki import TsaIdentity

__all__ = [
    "DEFAULT_POLICY_OID",
    "QUERY_CONTENT_TYPE",
    "REPLY_CONTENT_TYPE",
    "InProcessTimeStamper",
    "SessionTimeStamper",
    "TimeStampAuthority",
]

logger = logging.getLogger(__name__)

DEFAULT_POLICY_OID: Final = "1.3.6.1.4.1.55555.1.1"
"""A private-arc OID naming this demo TSA's (unpublished) time-stamp policy."""

QUERY_CONTENT_TYPE: Final = "application/timestamp-query"
REPLY_CONTENT_TYPE: Final = "application/timestamp-reply"

# Hash algorithms whose imprints we time-stamp, with the digest length each must have.
# SHA-1 and MD5 are refused: a time-stamp over a collidable hash proves little.
_ACCEPTED_IMPRINTS: Final = {"sha256": 32, "sha384": 48, "sha512": 64}

_ACCURACY_SECONDS: Final = 1


class _Rejection(Exception):
    """Internal: the request is refused with the given PKIFailureInfo bits."""

    def __init__(self, fail_info: set[str], text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


@dataclass(frozen=True)
class _TokenConstants:
    """DER encodings of the token parts that are the same for every response."""

    certificates: tuple[bytes, ...]
    signing_certificate_attr: bytes
    content_type_attr: bytes
    sid: bytes
    tsa_name: bytes
    sha256: bytes
    ecdsa_sha256: bytes


class _SerialNumbers:
    """Serial numbers that are unique and strictly increasing for this instance.

    A plain counter would repeat after a restart or across worker processes that share
    one TSA certificate. Instead the high bits carry a nanosecond clock reading (kept
    strictly increasing under a lock), the low 32 bits a random per-instance tag, so two
    instances collide only if they draw the same tag *and* the same nanosecond.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._instance_tag = secrets.randbits(32)

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return (self._last << 32) | self._instance_tag


class TimeStampAuthority:
    """Issue RFC 3161 time-stamp tokens signed by the PKI's TSA key.

    Thread-safe: the only shared mutable state is the serial-number generator.
    """

    def __init__(
        self,
        identity: TsaIdentity,
        *,
        policy_oid: str = DEFAULT_POLICY_OID,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        _check_tsa_certificate(identity.certificate)
        try:
            core.ObjectIdentifier(policy_oid).dump()
        except (ValueError, TypeError):
            raise SigningError(f"TSA policy {policy_oid!r} is not a dotted OID") from None
        self._identity = identity
        self._policy = policy_oid
        self._clock = clock or (lambda: datetime.now(UTC))
        self._serials = _SerialNumbers()
        self._key: ec.EllipticCurvePrivateKey = identity.private_key

        cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
        cert = asn1_x509.Certificate.load(cert_der)
        # The parts of every token that never change are encoded once, here, and
        # re-loaded per request: asn1crypto re-serialises values built from Python data
        # on every dump, which made up most of the cost of a response.
        self._constants = _TokenConstants(
            # Sent when the requester sets certReq: the TSA certificate and the
            # intermediates, never the root (trust anchors come from the verifier).
            certificates=(
                cert_der,
                *(
                    c.public_bytes(serialization.Encoding.DER)
                    for c in identity.chain
                    if c.subject != c.issuer
                ),
            ),
            # ESS signingCertificateV2 binds the signature to this exact TSA certificate,
            # so a token cannot be re-attributed to another certificate with the same key.
            signing_certificate_attr=cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "hash_algorithm": {"algorithm": "sha256"},
                                    "cert_hash": hashlib.sha256(cert_der).digest(),
                                    "issuer_serial": {
                                        "issuer": [
                                            asn1_x509.GeneralName(
                                                name="directory_name", value=cert.issuer
                                            )
                                        ],
                                        "serial_number": cert.serial_number,
                                    },
                                }
                            ]
                        }
                    ],
                }
            ).dump(),
            content_type_attr=cms.CMSAttribute(
                {"type": "content_type", "values": ["tst_info"]}
            ).dump(),
            sid=cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": cert.issuer,
                        "serial_number": cert.serial_number,
                    }
                }
            ).dump(),
            tsa_name=asn1_x509.GeneralName(name="directory_name", value=cert.subject).dump(),
            sha256=algos.DigestAlgorithm({"algorithm": "sha256"}).dump(),
            ecdsa_sha256=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump(),
        )

    @property
    def policy_oid(self) -> str:
        return self._policy

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp``.

        Never raises: malformed requests and unsupported algorithms get a *rejection*
        response with a failInfo; an internal error gets ``systemFailure``.
        """
        response: core.Asn1Value
        try:
            response = self._grant(self._parse(request_der))
        except _Rejection as rejection:
            response = _rejection(rejection.fail_info, rejection.text)
        except Exception:
            logger.exception("time-stamp token could not be produced")
            response = _rejection({"system_failure"}, "internal error in the TSA")
        der: bytes = response.dump()
        return der

    # -- request validation -------------------------------------------------------

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        if not request_der:
            raise _Rejection({"bad_request", "bad_data_format"}, "empty request")
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            request.native  # asn1crypto parses lazily; force a full parse now  # noqa: B018
        except Exception:
            raise _Rejection(
                {"bad_request", "bad_data_format"}, "request is not a DER TimeStampReq"
            ) from None
        if request["version"].native != "v1":
            raise _Rejection({"bad_request"}, "unsupported TimeStampReq version")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        expected_length = _ACCEPTED_IMPRINTS.get(algorithm)
        if expected_length is None:
            accepted = ", ".join(sorted(_ACCEPTED_IMPRINTS))
            raise _Rejection(
                {"bad_alg"}, f"hash algorithm {algorithm} not accepted; use one of {accepted}"
            )
        params = imprint["hash_algorithm"]["parameters"]
        if params.native is not None:
            raise _Rejection({"bad_alg"}, "hash algorithm parameters must be absent or NULL")
        if len(imprint["hashed_message"].native) != expected_length:
            raise _Rejection(
                {"bad_request", "bad_data_format"},
                f"message imprint has the wrong length for {algorithm}",
            )
        policy = request["req_policy"].native
        if policy is not None and policy != self._policy:
            raise _Rejection({"unaccepted_policy"}, f"policy {policy} is not offered")
        if request["extensions"].native:
            # RFC 3161 §2.4.1: refuse extensions we do not understand (we understand none).
            raise _Rejection({"unaccepted_extensions"}, "request extensions are not supported")
        return request

    # -- token construction -------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("TSA clock returned a naive datetime; it must be timezone-aware")
        now = now.astimezone(UTC)
        return now.replace(microsecond=now.microsecond - now.microsecond % 1000)

    def _grant(self, request: tsp.TimeStampReq) -> tsp.TimeStampResp:
        k = self._constants
        gen_time = self._now()
        tst_fields: dict[str, Any] = {
            "version": "v1",
            "policy": self._policy,
            # Copied verbatim: the imprint is exactly what the requester asked us to date.
            "message_imprint": request["message_imprint"],
            "serial_number": self._serials.next(),
            "gen_time": gen_time,
            "accuracy": {"seconds": _ACCURACY_SECONDS},
            "ordering": False,
            "tsa": asn1_x509.GeneralName.load(k.tsa_name),
        }
        if request["nonce"].native is not None:
            tst_fields["nonce"] = request["nonce"].native
        tst_info_der = tsp.TSTInfo(tst_fields).dump()

        signed_attrs = _sorted_set(
            [
                cms.CMSAttribute.load(k.content_type_attr),
                cms.CMSAttribute(
                    {"type": "signing_time", "values": [cms.Time({"utc_time": gen_time})]}
                ),
                cms.CMSAttribute(
                    {
                        "type": "message_digest",
                        "values": [hashlib.sha256(tst_info_der).digest()],
                    }
                ),
                cms.CMSAttribute.load(k.signing_certificate_attr),
            ]
        )
        # The signature covers the DER encoding of the attributes as a SET OF
        # (RFC 5652 §5.4), not the [0] IMPLICIT form stored in the SignerInfo.
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))

        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(k.sid),
                "digest_algorithm": algos.DigestAlgorithm.load(k.sha256),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm.load(k.ecdsa_sha256),
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm.load(k.sha256)],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_info_der),
            },
            "signer_infos": [signer_info],
        }
        if request["cert_req"].native:
            signed_data["certificates"] = [
                cms.CertificateChoices.load(der) for der in k.certificates
            ]
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})


def _check_tsa_certificate(cert: x509.Certificate) -> None:
    # RFC 3161 §2.3: a TSA signs with a key whose certificate carries exactly the
    # timeStamping EKU, marked critical. Refusing anything else at start-up keeps a
    # seal or node key from being wired in as a TSA by mistake.
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise SigningError(
            "the TSA certificate must carry exactly the timeStamping extended key usage, "
            "marked critical; use the PKI's tsa.pem"
        )


def _sorted_set(attributes: list[cms.CMSAttribute]) -> cms.CMSAttributes:
    # DER requires SET OF members in ascending order of their encodings. asn1crypto keeps
    # insertion order, while OpenSSL re-encodes (and so sorts) before verifying; signing
    # an unsorted set would make OpenSSL reject the token.
    return cms.CMSAttributes(sorted(attributes, key=lambda attr: attr.dump()))


class _LenientTimeStampResp(core.Sequence):  # type: ignore[misc]
    # RFC 3161 makes timeStampToken OPTIONAL (absent when the request is refused);
    # asn1crypto's TimeStampResp marks it required, so rejections are written and
    # read with this variant.
    _fields = [  # noqa: RUF012  (asn1crypto's declarative schema)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _rejection(fail_info: set[str], text: str) -> _LenientTimeStampResp:
    return _LenientTimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": fail_info,
            }
        }
    )


class InProcessTimeStamper(TimeStamper):
    """A pyHanko ``TimeStamper`` that hands requests straight to a
    :class:`TimeStampAuthority` in this process: no HTTP, no serialisation round trip
    beyond DER, the same code path as the HTTP endpoint otherwise.
    """

    def __init__(self, tsa: TimeStampAuthority, *, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)  # type: ignore[no-untyped-call]
        self._tsa = tsa

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        der = self._tsa.respond(req.dump())
        status = _LenientTimeStampResp.load(der)["status"]
        if status["status"].native not in ("granted", "granted_with_mods"):
            # Report the refusal the way pyHanko's HTTP client reports I/O problems.
            texts = "; ".join(status["status_string"].native or [])
            fail_info = ", ".join(sorted(status["fail_info"].native or []))
            raise TimestampRequestError(
                f"the time-stamp authority refused the request: {texts} (failInfo: {fail_info})"
            )
        return tsp.TimeStampResp.load(der)


class SessionTimeStamper(TimeStamper):
    """A pyHanko ``TimeStamper`` for an RFC 3161 TSA over HTTP that keeps ONE
    ``httpx.Client`` (keep-alive connections) for every request, instead of a new session
    per request; pass the same client to :class:`signing.ltv.HttpRevocationSource` to share
    the connection pool with the OCSP requests. The blocking request runs in a worker
    thread, so the event loop is not held up.
    """

    def __init__(
        self,
        url: str,
        *,
        client: Any | None = None,
        timeout: float = 10.0,
        include_nonce: bool = True,
    ) -> None:
        import httpx

        super().__init__(include_nonce=include_nonce)  # type: ignore[no-untyped-call]
        self._url = url
        self._client = client or httpx.Client(timeout=timeout)

    def _post(self, body: bytes) -> bytes:
        import httpx

        try:
            reply = self._client.post(
                self._url, content=body, headers={"content-type": QUERY_CONTENT_TYPE}
            )
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise TimestampRequestError(
                f"the time-stamp authority at {self._url} failed ({type(exc).__name__})"
            ) from None
        if reply.headers.get("content-type", "").split(";")[0].strip() != REPLY_CONTENT_TYPE:
            raise TimestampRequestError("the time-stamp authority did not answer with a reply")
        data: bytes = reply.content
        return data

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        import asyncio

        der = await asyncio.to_thread(self._post, req.dump())
        try:
            status = _LenientTimeStampResp.load(der)["status"]
            granted = status["status"].native in ("granted", "granted_with_mods")
        except ValueError:
            raise TimestampRequestError("the time-stamp reply does not parse") from None
        if not granted:
            texts = "; ".join(status["status_string"].native or [])
            raise TimestampRequestError(f"the time-stamp authority refused the request: {texts}")
        return tsp.TimeStampResp.load(der)
