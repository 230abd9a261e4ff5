"""Verification pipeline: one report from the seal check and the ledger check.

Steps (numbers are cited in the code):
  1. Read the seal from the PDF against the explicit trust roots (never the OS store).
  2. Find the certificate id the seal covers (from the sealed revision, not a later one).
  3. Ask the ledger for that id. An unreachable ledger makes every ledger check INDETERMINATE:
     the document may be fine, but we cannot say so, and we never say VALID without the ledger.
  4. The sealed revision's digest must equal the anchored digest, the seal certificate must be
     one the ledger's agency registry lists for the issuing agency, the certificate must not be
     revoked or suspended, and today must fall inside its validity period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from cryptography import x509

from certificates.agencies import AGENCIES
from certificates.errors import DocumentRefused, UnreadableDocument, VerificationBusy
from certificates.ids import CertificateId, InvalidCertificateId
from certificates.types import CERTIFICATE_TYPES
from certificates.verification import messages
from certificates.verification.messages import M
from certificates.verification.receipts import (
    RECEIPT_MISMATCH,
    ReceiptOutcome,
    ReceiptSource,
    ReceiptUnreadable,
    check_receipt,
)
from certificates.verification.report import (
    CertificateSummary,
    Check,
    CheckCode,
    CheckStatus,
    LedgerSummary,
    Message,
    VerificationReport,
)
from ledger import Ledger, LedgerError, LedgerRecord, LedgerUnavailable
from signing import (
    DocumentLimitExceeded,
    RevocationData,
    SealReport,
    Status,
    UnreadablePdfError,
    VerifierBusyError,
    check_seal,
)

__all__ = ["SealChecker", "Verifier"]


class SealChecker(Protocol):
    """Checks the seal of a document from outside (an upload): :class:`signing.sandbox.
    SealCheckSandbox` runs it in a bounded worker process."""

    def check(
        self,
        pdf: bytes,
        trust_roots: tuple[x509.Certificate, ...],
        *,
        now: datetime,
        revocation_data: RevocationData | None = None,
    ) -> SealReport: ...


_STATUS = {
    Status.PASSED: CheckStatus.PASSED,
    Status.FAILED: CheckStatus.FAILED,
    Status.INDETERMINATE: CheckStatus.INDETERMINATE,
}

_REGISTRY_TTL = 30.0


@dataclass(frozen=True)
class _LedgerView:
    record: LedgerRecord | None
    available: bool
    seal_fingerprints: frozenset[str]
    receipt: ReceiptOutcome | None = None  # None: the ledger does not check receipts


class Verifier:
    def __init__(
        self,
        *,
        trust_roots: Sequence[x509.Certificate],
        ledger: Ledger,
        is_pending: Callable[[str], bool] | None = None,
        describe: Callable[[str], tuple[str, datetime] | None] | None = None,
        clock: Callable[[], datetime] | None = None,
        revocation_data: Callable[[], RevocationData | None] | None = None,
        receipt_of: ReceiptSource | None = None,
    ) -> None:
        # Trust roots are passed in explicitly; an empty tuple makes the chain check fail
        # closed inside signing.check_seal.
        self._roots = tuple(trust_roots)
        self._ledger = ledger
        self._is_pending = is_pending or (lambda _id: False)
        # The issuer's local store knows the subject (a masked name) and the issue time; a
        # verifier without that store reports the ledger's facts only.
        self._describe = describe or (lambda _id: None)
        # The anchoring receipt the issuer's store kept (block, tx, data hash), if any.
        self._receipt_of = receipt_of or (lambda _id: None)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Current revocation data the verifier already holds (e.g. the PKI's published
        # CRL), used besides what the document embeds; never fetched over a network.
        self._revocation_data = revocation_data or (lambda: None)
        self._registry: dict[str, frozenset[str]] = {}
        self._registry_at = 0.0
        self._lock = threading.Lock()
        # Documents from outside go through this when set (a server's sandbox); without it
        # they are checked in this process, under the same caps.
        self.untrusted: SealChecker | None = None

    # -- public --------------------------------------------------------------------------------

    def verify_pdf(self, pdf: bytes) -> VerificationReport:
        """The full report on a document from outside (an upload, a file a clerk was given).

        :raises DocumentRefused: it asks more work than any genuine certificate needs.
        :raises UnreadableDocument: it is not a readable PDF.
        :raises VerificationBusy: the sandbox has no worker free; retry shortly.
        """
        now = self._clock()
        return self.report_for(self._seal(pdf, now, self.untrusted), now=now)

    def check_seal(self, pdf: bytes, *, now: datetime | None = None) -> SealReport:
        """Step 1 alone, for the issuer's own stored documents: the seal against the trust
        roots and the revocation data, in this process (under the same caps)."""
        return self._seal(pdf, now or self._clock(), None)

    def _seal(self, pdf: bytes, now: datetime, checker: SealChecker | None) -> SealReport:
        """Step 1, through ``checker`` (the sandbox) or in this process, with the signing
        layer's refusals as this layer's."""
        revocation = self._revocation_data()
        try:
            if checker is not None:
                return checker.check(pdf, self._roots, now=now, revocation_data=revocation)
            return check_seal(pdf, self._roots, now=now, revocation_data=revocation)
        except DocumentLimitExceeded as exc:
            raise DocumentRefused(exc.limit, exc.found, exc.allowed) from None
        except UnreadablePdfError as exc:
            detail = str(exc)
            raise UnreadableDocument(detail, code=_unreadable_code(detail)) from None
        except VerifierBusyError:
            raise VerificationBusy("every verification worker is busy") from None

    def report_for(
        self,
        seal: SealReport,
        *,
        now: datetime | None = None,
        described: tuple[str, str, datetime] | None = None,
    ) -> VerificationReport:
        """The verdict on a checked seal. ``described``: (id, subject, issued_at) the caller
        already read from the store for this certificate, so the page the QR code opens does
        not read the same row twice; used only when its id is the one the seal names."""
        now = now or self._clock()
        checks: list[Check] = []
        if not seal.seal_found:
            checks.append(Check(CheckCode.SEAL_PRESENT, CheckStatus.FAILED, M.SEAL_MISSING))
            return VerificationReport(tuple(checks), None, self._ledger_summary(None), now)
        checks.append(Check(CheckCode.SEAL_PRESENT, CheckStatus.PASSED, M.SEAL_FOUND))
        checks.append(
            _from_outcome(
                CheckCode.SEAL_INTACT, seal.intact.status, M.INTACT, M.NOT_INTACT, M.NOT_INTACT
            )
        )
        checks.append(
            _from_outcome(
                CheckCode.SEAL_TRUSTED, seal.chain.status, M.TRUSTED, M.UNTRUSTED, M.TRUST_UNDECIDED
            )
        )
        checks.append(
            _from_outcome(
                CheckCode.TIMESTAMP_VALID, seal.timestamp.status, M.TS_OK, M.TS_BAD, M.TS_MISSING
            )
        )
        checks.append(
            _from_outcome(
                CheckCode.NO_CHANGE_AFTER_SEAL,
                seal.modification.status,
                M.UNCHANGED,
                M.CHANGED,
                M.CHANGE_UNDECIDED,
            )
        )
        if seal.revocation is not None:
            # Reports made by check_seal always carry it; only hand-built ones do not.
            checks.append(_seal_revocation_check(seal))

        # Step 2: the id comes from the sealed revision's /Info, so it is covered by the seal.
        raw_id = seal.document_info.get("CertLedgerId", "")
        try:
            cert_id = str(CertificateId.parse(raw_id))
        except InvalidCertificateId:
            checks.append(Check(CheckCode.CERTIFICATE_ID, CheckStatus.FAILED, M.ID_MISSING))
            return VerificationReport(tuple(checks), None, self._ledger_summary(None), now)
        checks.append(Check(CheckCode.CERTIFICATE_ID, CheckStatus.PASSED, M.ID_OK))

        view = self._ledger_view(cert_id)  # step 3
        checks.extend(self._ledger_checks(cert_id, seal, view, now.date()))  # step 4
        return VerificationReport(
            tuple(checks),
            _summary(cert_id, view.record, self._local_facts(cert_id, described)),
            self._ledger_summary(view.record, view.receipt),
            now,
        )

    # -- internals -----------------------------------------------------------------------------

    def _local_facts(
        self, cert_id: str, described: tuple[str, str, datetime] | None
    ) -> tuple[str, datetime] | None:
        # The id inside the sealed /Info decides which row describes the document: a caller's
        # facts for any other id (a stored copy that names another certificate) are ignored.
        if described is not None and described[0] == cert_id:
            return described[1], described[2]
        return self._describe(cert_id)

    def _ledger_view(self, cert_id: str) -> _LedgerView:
        try:
            record = self._ledger.get(cert_id)
            registry = self._seal_registry()
        except (LedgerUnavailable, LedgerError, OSError):
            # Fail closed: an error reading the ledger is "cannot decide", never "fine".
            return _LedgerView(None, False, frozenset())
        fingerprints = registry.get(record.agency, frozenset()) if record else frozenset()
        try:
            receipt = (
                check_receipt(self._ledger, record, self._receipt_of(cert_id)) if record else None
            )
        except ReceiptUnreadable:
            return _LedgerView(None, False, frozenset())  # fail closed, as above
        return _LedgerView(record, True, fingerprints, receipt)

    def forget_registry(self) -> None:
        """The agency registry changed on the ledger: read it again on the next check."""
        with self._lock:
            self._registry_at = 0.0

    def _seal_registry(self) -> dict[str, frozenset[str]]:
        with self._lock:
            if time.monotonic() - self._registry_at > _REGISTRY_TTL or not self._registry:
                self._registry = {
                    a.code: frozenset(fp.lower() for fp in a.seal_fingerprints)
                    for a in self._ledger.registry()
                }
                self._registry_at = time.monotonic()
            return self._registry

    def _ledger_checks(
        self, cert_id: str, seal: SealReport, view: _LedgerView, today: date
    ) -> list[Check]:
        codes = (
            CheckCode.LEDGER_ANCHORED,
            CheckCode.SIGNER_IS_ISSUER,
            CheckCode.NOT_REVOKED,
            CheckCode.NOT_EXPIRED,
        )
        if not view.available:
            return [Check(c, CheckStatus.INDETERMINATE, M.LEDGER_DOWN) for c in codes]
        record = view.record
        if record is None:
            # Sealed here but not yet anchored: say so, but do not call it VALID yet.
            if self._is_pending(cert_id):
                return [Check(c, CheckStatus.INDETERMINATE, M.PENDING) for c in codes]
            return [Check(c, CheckStatus.FAILED, M.NOT_ON_LEDGER) for c in codes]

        out: list[Check] = []
        if seal.sealed_digest and seal.sealed_digest.lower() == record.digest.lower():
            if view.receipt is None or view.receipt.ok:
                out.append(Check(CheckCode.LEDGER_ANCHORED, CheckStatus.PASSED, M.ANCHORED))
            else:
                out.append(Check(CheckCode.LEDGER_ANCHORED, CheckStatus.FAILED, RECEIPT_MISMATCH))
        else:
            out.append(Check(CheckCode.LEDGER_ANCHORED, CheckStatus.FAILED, M.DIGEST_MISMATCH))

        fp = (seal.signer_fingerprint or "").lower()
        if fp and fp in view.seal_fingerprints:
            out.append(Check(CheckCode.SIGNER_IS_ISSUER, CheckStatus.PASSED, M.ISSUER_OK))
        else:
            out.append(Check(CheckCode.SIGNER_IS_ISSUER, CheckStatus.FAILED, M.ISSUER_MISMATCH))

        if record.status == "revoked":
            out.append(
                Check(CheckCode.NOT_REVOKED, CheckStatus.FAILED, messages.revoked(record.reason))
            )
        elif record.status == "suspended":
            out.append(
                Check(CheckCode.NOT_REVOKED, CheckStatus.FAILED, messages.suspended(record.reason))
            )
        elif record.status == "active":
            out.append(Check(CheckCode.NOT_REVOKED, CheckStatus.PASSED, M.ACTIVE))
        else:
            out.append(Check(CheckCode.NOT_REVOKED, CheckStatus.INDETERMINATE, M.UNKNOWN_STATUS))

        out.append(_expiry_check(record, today))
        return out

    def _ledger_summary(
        self, record: LedgerRecord | None, receipt: ReceiptOutcome | None = None
    ) -> LedgerSummary:
        if record is None:
            return LedgerSummary(self._ledger.backend, None, None, None)
        return LedgerSummary(
            self._ledger.backend,
            record.anchored_block,
            record.anchored_tx,
            record.anchored_at,
            receipt.to_json() if receipt else None,
        )


# The seal check's words for an unreadable file, as the typed codes a person is told
# (certificates.refusal_texts); the check's own text stays in the exception, for logs.
_UNREADABLE_PREFIXES = (
    ("empty file", "EMPTY"),
    ("not a PDF", "NOT_PDF"),
    ("encrypted", "ENCRYPTED"),
    ("truncated or malformed", "MALFORMED"),
    ("the document carries no seal", "SEAL_UNREADABLE"),
    ("the seal cannot be read", "SEAL_UNREADABLE"),
    ("the document could not be evaluated", "NOT_EVALUATED"),
    ("the verification worker", "NOT_EVALUATED"),
)


def _unreadable_code(detail: str) -> str:
    return next((code for p, code in _UNREADABLE_PREFIXES if detail.startswith(p)), "MALFORMED")


def _from_outcome(
    code: CheckCode, status: Status, ok: Message, failed: Message, undecided: Message
) -> Check:
    mapped = _STATUS[status]
    msg = {CheckStatus.PASSED: ok, CheckStatus.FAILED: failed}.get(mapped, undecided)
    return Check(code, mapped, msg)


def _seal_revocation_check(seal: SealReport) -> Check:
    outcome = seal.revocation
    assert outcome is not None
    if outcome.status is Status.PASSED:
        later = seal.seal_certificate_revoked_at is not None
        msg = M.SEAL_CERT_REVOKED_LATER if later else M.SEAL_CERT_GOOD
        return Check(CheckCode.SEAL_NOT_REVOKED, CheckStatus.PASSED, msg)
    if outcome.status is Status.FAILED:
        failed = messages.with_detail(M.SEAL_CERT_REVOKED, outcome.reason)
        return Check(CheckCode.SEAL_NOT_REVOKED, CheckStatus.FAILED, failed)
    undecided = messages.with_detail(M.SEAL_CERT_UNKNOWN, outcome.reason)
    return Check(CheckCode.SEAL_NOT_REVOKED, CheckStatus.INDETERMINATE, undecided)


def _expiry_check(record: LedgerRecord, today: date) -> Check:
    valid_from = _as_date(record.valid_from)
    valid_until = _as_date(record.valid_until)
    if valid_from and today < valid_from:
        return Check(CheckCode.NOT_EXPIRED, CheckStatus.FAILED, M.NOT_YET_VALID)
    if valid_until is None:
        return Check(CheckCode.NOT_EXPIRED, CheckStatus.PASSED, M.LONG_TERM)
    if today > valid_until:
        return Check(CheckCode.NOT_EXPIRED, CheckStatus.FAILED, M.EXPIRED)
    return Check(CheckCode.NOT_EXPIRED, CheckStatus.PASSED, M.EXPIRY_OK)


def _as_date(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _summary(
    cert_id: str, record: LedgerRecord | None, local: tuple[str, datetime] | None
) -> CertificateSummary | None:
    if record is None:
        return None
    subject, issued_at = local if local else ("", record.anchored_at)
    ctype = CERTIFICATE_TYPES.get(record.cert_type)
    issuer = AGENCIES.get(record.agency)
    return CertificateSummary(
        id=cert_id,
        type=record.cert_type,
        type_name=Message(ctype.name_zh, ctype.name_en)
        if ctype
        else Message(record.cert_type, record.cert_type),
        issuer=record.agency,
        issuer_name=Message(issuer.name_zh, issuer.name_en)
        if issuer
        else Message(record.agency, record.agency),
        subject=subject,
        issued_at=issued_at,
        valid_until=_as_date(record.valid_until),
        status=record.status,
        status_reason=record.reason,
    )
