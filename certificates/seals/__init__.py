"""Seal keys and the time-stamp authority over time: key-compromise revocation, rotation, HSM
enrolment, CRLs and archive-timestamp renewal, each audited."""

from certificates.seals.service import (
    KEY_COMPROMISE,
    Renewal,
    SealKeyError,
    SealKeyService,
    SealLedgerError,
    SealRevocation,
    SealRotation,
)

__all__ = [
    "KEY_COMPROMISE",
    "Renewal",
    "SealKeyError",
    "SealKeyService",
    "SealLedgerError",
    "SealRevocation",
    "SealRotation",
]
