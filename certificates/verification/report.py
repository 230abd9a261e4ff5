"""The verification report: one verdict built from checks with stable codes.

Verdicts follow ETSI EN 319 102-1: VALID is TOTAL-PASSED, INVALID is TOTAL-FAILED, INDETERMINATE
means the checks could not decide. The bottom line is derived, never stored separately, and it
fails closed: a report with no checks, or with any check undecided, is never VALID.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = [
    "CertificateSummary",
    "Check",
    "CheckCode",
    "CheckStatus",
    "LedgerSummary",
    "Message",
    "Verdict",
    "VerificationReport",
    "combine",
]


class Verdict(enum.StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"


class CheckStatus(enum.StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


class CheckCode(enum.StrEnum):
    """Stable codes: clients key on these, so they are never renamed."""

    SEAL_PRESENT = "SEAL_PRESENT"
    SEAL_INTACT = "SEAL_INTACT"
    SEAL_TRUSTED = "SEAL_TRUSTED"
    TIMESTAMP_VALID = "TIMESTAMP_VALID"
    NO_CHANGE_AFTER_SEAL = "NO_CHANGE_AFTER_SEAL"
    CERTIFICATE_ID = "CERTIFICATE_ID"
    LEDGER_ANCHORED = "LEDGER_ANCHORED"
    SIGNER_IS_ISSUER = "SIGNER_IS_ISSUER"
    NOT_REVOKED = "NOT_REVOKED"
    NOT_EXPIRED = "NOT_EXPIRED"
    SEAL_NOT_REVOKED = "SEAL_NOT_REVOKED"


@dataclass(frozen=True)
class Message:
    zh: str
    en: str


@dataclass(frozen=True)
class Check:
    code: CheckCode
    status: CheckStatus
    message: Message

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "verdict": self.status.value,
            "message": {"zh": self.message.zh, "en": self.message.en},
        }


def combine(checks: Sequence[Check]) -> Verdict:
    """Bottom line: any failure is INVALID; otherwise anything undecided is INDETERMINATE.

    An empty list is INDETERMINATE: nothing passes by default.
    """
    if any(c.status is CheckStatus.FAILED for c in checks):
        return Verdict.INVALID
    if not checks or any(c.status is not CheckStatus.PASSED for c in checks):
        return Verdict.INDETERMINATE
    return Verdict.VALID


@dataclass(frozen=True)
class CertificateSummary:
    id: str
    type: str
    type_name: Message
    issuer: str
    issuer_name: Message
    subject: str
    issued_at: datetime | None
    valid_until: date | None
    status: str
    status_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "type_name": {"zh": self.type_name.zh, "en": self.type_name.en},
            "issuer": self.issuer,
            "issuer_name": {"zh": self.issuer_name.zh, "en": self.issuer_name.en},
            "subject": self.subject,
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "status": self.status,
            "status_reason": self.status_reason,
        }


@dataclass(frozen=True)
class LedgerSummary:
    backend: str
    block: int | None
    tx_id: str | None
    anchored_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "block": self.block,
            "tx_id": self.tx_id,
            "anchored_at": self.anchored_at.isoformat() if self.anchored_at else None,
        }


@dataclass(frozen=True)
class VerificationReport:
    checks: tuple[Check, ...]
    certificate: CertificateSummary | None
    ledger: LedgerSummary
    checked_at: datetime

    @property
    def verdict(self) -> Verdict:
        return combine(self.checks)

    def check(self, code: CheckCode) -> Check | None:
        return next((c for c in self.checks if c.code is code), None)

    @property
    def reason(self) -> Message:
        """The verdict in one line: the first failing check's message, else the first
        undecided one's, else "genuine and in force" (only a VALID report has none of either)."""
        # Imported here: the catalogue builds its messages from this module's Message.
        from certificates.verification.messages import M

        for wanted in (CheckStatus.FAILED, CheckStatus.INDETERMINATE):
            first = next((c for c in self.checks if c.status is wanted), None)
            if first is not None:
                return first.message
        return M.GENUINE if self.checks else M.NO_CHECKS

    @property
    def ledger_status(self) -> Message | None:
        """What the certificate's ledger status means beside this verdict (``None`` without a
        certificate): an INVALID report on an "active" entry says the entry does not save it."""
        from certificates.verification.messages import ledger_status

        cert = self.certificate
        return ledger_status(cert.status, self.verdict.value) if cert else None

    def to_json(self) -> dict[str, Any]:
        reason = self.reason
        certificate = self.certificate.to_json() if self.certificate else None
        meaning = self.ledger_status
        if certificate is not None and meaning is not None:
            certificate["ledger_status"] = {
                "code": certificate["status"],
                "message": {"zh": meaning.zh, "en": meaning.en},
            }
        # The verdict and its one-line reason first: a reader who stops there is not misled.
        return {
            "verdict": self.verdict.value,
            "reason": {"zh": reason.zh, "en": reason.en},
            "certificate": certificate,
            "checks": [c.to_json() for c in self.checks],
            "ledger": self.ledger.to_json(),
            "checked_at": self.checked_at.isoformat(),
        }
