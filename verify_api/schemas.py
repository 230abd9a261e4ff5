"""The JSON the HTTP API answers, as Pydantic models: they are the response schemas of the
OpenAPI document (clients generate typed code from it), and the fuzz test checks every answer
against them. The routes still write their bodies directly (the status and lookup answers are
encoded once and served from caches); the models describe those bytes exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_RESPONSES",
    "AgreementBody",
    "AuditTrailBody",
    "Bilingual",
    "CertificateStatusBody",
    "DetailsBody",
    "ErrorBody",
    "HealthBody",
    "IssuedBody",
    "LookupBody",
    "StatusChangedBody",
    "SubscriptionBody",
    "SubscriptionCreatedBody",
    "VerificationReportBody",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bilingual(_Body):
    zh: str
    en: str


class FieldErrorBody(_Body):
    field: str
    code: str
    message: Bilingual


class ErrorDetail(BaseModel):
    # Some refusals carry more (the field errors of invalid data, the lookup's decision).
    model_config = ConfigDict(extra="allow")
    code: str
    message: Bilingual
    errors: list[FieldErrorBody] | None = None
    existing_id: str | None = None  # ALREADY_ISSUED: the active certificate in the way


class ErrorBody(_Body):
    """Every refusal: a code to act on and a message in Chinese and English."""

    detail: ErrorDetail


class HealthBody(_Body):
    status: Literal["ok"]


class ReceiptBody(_Body):
    """The anchoring receipt as checked on the verifier's own ledger node (Fabric)."""

    tx_id: str
    block: int
    data_hash: str | None
    verdict: Literal["PASSED", "FAILED"]
    reason: str


class LedgerRefBody(_Body):
    backend: str
    block: int | None
    tx_id: str | None
    anchored_at: str | None
    receipt: ReceiptBody | None = None  # only on a ledger that checks receipts (Fabric)


class CertificateStatusBody(_Body):
    """The public status. ``unknown``: the ledger could not be read; ``pending``: stored
    here, not yet anchored."""

    id: str
    type: str
    type_name: Bilingual | None
    issuer: str
    issuer_name: Bilingual | None
    subject: str | None
    issued_at: str | None
    valid_until: str | None
    status: Literal["active", "suspended", "revoked", "pending", "unknown"]
    status_reason: str | None
    ledger: LedgerRefBody


class StatusChangedBody(_Body):
    id: str
    status: Literal["active", "suspended", "revoked"]
    reason: str


class IssuedLedgerBody(_Body):
    backend: str
    block: int | None
    tx_id: str | None


class IssuedBody(_Body):
    id: str
    type: str
    issuer: str
    verify_url: str
    pdf_url: str
    sealed_digest: str
    status: Literal["active", "pending"]
    ledger: IssuedLedgerBody
    supersedes: str | None = None  # a re-issue: the version it replaced


class CheckBody(_Body):
    code: str
    verdict: Literal["PASSED", "FAILED", "INDETERMINATE"]
    message: Bilingual


class LedgerStatusBody(_Body):
    """The ledger's status and what it means beside the verdict ("active" on the ledger
    never makes an INVALID document valid)."""

    code: str
    message: Bilingual


class CertificateSummaryBody(_Body):
    id: str
    type: str
    type_name: Bilingual
    issuer: str
    issuer_name: Bilingual
    subject: str
    issued_at: str | None
    valid_until: str | None
    status: str
    status_reason: str | None
    ledger_status: LedgerStatusBody


class VerificationReportBody(_Body):
    verdict: Literal["VALID", "INVALID", "INDETERMINATE"]
    reason: Bilingual = Field(
        description="the verdict in one line: the first failing check, or genuine and in force"
    )
    certificate: CertificateSummaryBody | None
    checks: list[CheckBody]
    ledger: LedgerRefBody
    checked_at: str


class SubscriptionBody(_Body):
    id: str
    agency: str
    url: str
    events: list[str]
    cert_id: str | None
    created_at: str
    revoked_at: str | None


class SubscriptionCreatedBody(SubscriptionBody):
    secret: str  # shown once


class AgreementBody(_Body):
    id: str
    grantor: str
    grantee: str
    types: list[str]
    purposes: list[str]
    fields: list[str]
    valid_until: str
    status: str
    reason: str | None
    created_at: str
    ledger_tx: str | None


class ReleasedCertificateBody(_Body):
    """A certificate as an agreement releases it: the public facts and exactly the allowed
    fields (the others are absent, not null)."""

    id: str
    type: str
    issuer: str
    status: str
    status_reason: str | None
    valid_until: str | None
    fields: dict[str, Any]


class DetailsBody(ReleasedCertificateBody):
    purpose: str
    basis: str  # the decision's code
    agreements: list[str]  # the agreements that allowed it


class LookupBody(_Body):
    type: str
    purpose: str
    basis: str
    agreements: list[str]
    certificates: list[ReleasedCertificateBody]


class AuditEntryBody(_Body):
    seq: int
    at: str
    client_id: str
    agency: str | None
    action: str
    cert_id: str | None
    cert_type: str | None
    purpose: str | None
    fields: list[str]
    result: str
    reason: str | None
    prev_hash: str
    hash: str


class AuditTrailBody(_Body):
    id: str
    entries: list[AuditEntryBody]


_ERROR = {"model": ErrorBody}
# The refusals any route may answer with (FastAPI's own 422 shape is replaced by ours).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**_ERROR, "description": what}
    for status, what in {
        400: "bad request",
        401: "no valid credential",
        403: "not allowed",
        404: "not found",
        409: "refused by the certificate's state",
        413: "too large",
        422: "malformed or invalid",
        429: "rate limited",
        503: "a dependency (ledger, audit log) is unavailable, or not configured",
    }.items()
}
