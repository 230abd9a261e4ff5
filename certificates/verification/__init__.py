"""Verifying certificates: the seal check, the ledger check and the report they make."""

from certificates.verification.report import (
    CertificateSummary,
    Check,
    CheckCode,
    CheckStatus,
    LedgerSummary,
    Message,
    Verdict,
    VerificationReport,
)
from certificates.verification.verifier import Verifier

__all__ = [
    "CertificateSummary",
    "Check",
    "CheckCode",
    "CheckStatus",
    "LedgerSummary",
    "Message",
    "Verdict",
    "VerificationReport",
    "Verifier",
]
