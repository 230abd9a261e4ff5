"""Value types shared by sealing (``sealer``) and seal checking (``seal_check``).

The two sides never import each other; both lean on these frozen dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cryptography import x509

__all__ = ["Outcome", "RevocationData", "SealLevel", "SealReport", "SealedDocument", "Status"]


class Status(enum.Enum):
    """Result of one check, in the AdES vocabulary.

    ``INDETERMINATE`` means the check could not be decided with the information at hand
    (e.g. no trust roots configured). It is never a pass.
    """

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True)
class Outcome:
    """The status of one check together with a human-readable reason (English)."""

    status: Status
    reason: str

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @classmethod
    def ok(cls, reason: str) -> Outcome:
        return cls(Status.PASSED, reason)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(Status.FAILED, reason)

    @classmethod
    def indeterminate(cls, reason: str) -> Outcome:
        return cls(Status.INDETERMINATE, reason)


@dataclass(frozen=True)
class SealedDocument:
    """A PDF carrying the agency's seal, as produced by :class:`signing.Sealer`."""

    pdf: bytes = field(repr=False)
    sealed_digest: str
    """SHA-256 (hex) of the sealed revision: the bytes up to the end of the seal's
    ``/ByteRange``. For a freshly sealed document that is the whole file. Later
    incremental updates (LTV data) do not change it, so it is what the ledger anchors."""
    signed_at: datetime
    """The time asserted by the signature timestamp (the TSA's genTime), in UTC."""


@dataclass(frozen=True)
class RevocationData:
    """Revocation data a verifier already holds (DER), used besides what the document
    embeds. Handing data in never fetches anything."""

    ocsp_responses: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    certificates: tuple[x509.Certificate, ...] = ()


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class SealReport:
    """What :func:`signing.check_seal` found out about a document's seal.

    Each :class:`Outcome` is independent. :attr:`passed` is the bottom line for the seal
    itself (intact, trusted, time-stamped, unchanged); :attr:`long_term_passed` adds the
    seal certificate's revocation status. Nothing passes by default.
    """

    seal_found: bool
    intact: Outcome
    """The signed byte range hashes to the signed digest and the signature math verifies.
    Says nothing about who signed or whether the document changed after sealing."""
    chain: Outcome
    """The signer's certificate chains to one of the explicitly given trust roots."""
    timestamp: Outcome
    """A signature timestamp is present, matches the signature, and its TSA chains to
    the same trust roots."""
    modification: Outcome
    """Nothing but long-term-validation material (DSS, document timestamps) was added
    after the sealed revision."""
    timestamp_time: datetime | None = None
    signer_certificate: x509.Certificate | None = field(default=None, repr=False)
    signer_fingerprint: str | None = None
    """SHA-256 (hex) of the signer certificate's DER encoding."""
    signed_at: datetime | None = None
    """The signature timestamp's time (same as :attr:`timestamp_time`)."""
    sealed_digest: str | None = None
    """Same definition as :attr:`SealedDocument.sealed_digest`."""
    document_info: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The ``/Info`` entries as of the sealed revision, names without the slash."""
    revocation: Outcome | None = None
    """Was the seal certificate unrevoked when the seal was made (per embedded and
    supplied revocation data)? :func:`signing.check_seal` always sets it; ``None`` only
    in reports built by hand, which then carry no revocation verdict at all."""
    seal_certificate_revoked_at: datetime | None = None
    """When trustworthy revocation data says the seal certificate is revoked from (else
    ``None``). With a passed :attr:`revocation` this lies after the seal's timestamp."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "document_info", _frozen_mapping(self.document_info))

    @property
    def passed(self) -> bool:
        return self.seal_found and all(
            outcome.passed
            for outcome in (self.intact, self.chain, self.timestamp, self.modification)
        )

    @property
    def long_term_passed(self) -> bool:
        """:attr:`passed`, and the seal certificate was unrevoked when the seal was made.

        A B-T seal (no revocation data) never passes this: its revocation status is
        INDETERMINATE. The verification verdict (``SEAL_NOT_REVOKED``) builds on it.
        """
        return self.passed and self.revocation is not None and self.revocation.passed


class SealLevel(enum.Enum):
    """PAdES baseline level of a seal.

    * ``B_T``: signature + signature timestamp.
    * ``B_LT``: B-T plus the certificates and revocation data (OCSP, CRL) needed to
      validate it later, in the document security store (DSS).
    * ``B_LTA``: B-LT plus a document timestamp over everything, renewable before the
      time-stamp authority's certificate expires.
    """

    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def embeds_validation_data(self) -> bool:
        return self is not SealLevel.B_T
