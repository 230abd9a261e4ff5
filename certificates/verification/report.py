"""The verification report: one verdict built from checks with stable codes.

Verdicts follow ETSI EN 319 102-1: VALID is TOTAL-PASSED, INVALID is TOTAL-FAILED, INDETERMINATE
means the checks could not decide. The bottom line is derived, never stored separately, and it
fails closed: a report with no checks, or with any check undecided, is never VALID.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
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
    "ledger_status",
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
    # The anchoring receipt as checked on this service's own ledger node (block, tx id, data
    # hash, verdict: certificates.verification.receipts), where the ledger checks receipts.
    receipt: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.backend,
            "block": self.block,
            "tx_id": self.tx_id,
            "anchored_at": self.anchored_at.isoformat() if self.anchored_at else None,
        }
        if self.receipt is not None:  # absent otherwise: embedded reports read as before
            out["receipt"] = dict(self.receipt)
        return out


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
        for wanted in (CheckStatus.FAILED, CheckStatus.INDETERMINATE):
            first = next((c for c in self.checks if c.status is wanted), None)
            if first is not None:
                return first.message
        return _GENUINE if self.checks else _NO_CHECKS

    @property
    def ledger_status(self) -> Message | None:
        """What the certificate's ledger status means beside this verdict (``None`` without a
        certificate): an INVALID report on an "active" entry says the entry does not save it."""
        cert = self.certificate
        return ledger_status(cert.status, self.verdict) if cert else None

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


# The one-line reason of a report with nothing failing or undecided (messages.py builds on
# this module, so these live here).
_GENUINE = Message(
    "证照真实有效：由发证机构签发，内容未被篡改，且仍在有效期内。",
    "Genuine and in force: issued by the agency shown, unaltered, and within its validity period.",
)
_NO_CHECKS = Message("未能进行任何检查。", "Nothing could be checked.")


# What the ledger's status of a certificate means, said beside the verdict: "active" on the
# ledger says only that the agency has not revoked or suspended the entry, never that the
# document in hand is genuine.
_LEDGER_STATUS: dict[str, Message] = {
    "active": Message(
        "账本登记状态：正常（发证机构未撤销、未暂停）。",
        "Ledger status: active (the agency has not revoked or suspended it).",
    ),
    "revoked": Message(
        "账本登记状态：已撤销（最终状态，不再有效）。",
        "Ledger status: revoked (final; it is no longer in force).",
    ),
    "suspended": Message(
        "账本登记状态：已暂停（恢复之前不能采信）。",
        "Ledger status: suspended (not to be relied on until reinstated).",
    ),
}
_NOT_THIS_FILE = Message(
    "但本文件未通过核验，不能采信，结论见上。",
    "This does not make the document valid: it failed verification (see the verdict).",
)
_UNDECIDED_FILE = Message(
    "但本文件暂时无法确认，结论见上。",
    "The document itself could not be confirmed yet (see the verdict).",
)


def ledger_status(status: str, verdict: Verdict) -> Message:
    """What ``status`` on the ledger means for a report whose verdict is ``verdict``."""
    base = _LEDGER_STATUS.get(
        status,
        Message("账本登记状态：无法识别。", "Ledger status: not one this service knows."),
    )
    if status != "active" or verdict is Verdict.VALID:
        return base
    tail = _NOT_THIS_FILE if verdict is Verdict.INVALID else _UNDECIDED_FILE
    return Message(f"{base.zh}{tail.zh}", f"{base.en} {tail.en}")
