"""What anyone may see without a credential: a certificate's public status, the data of its
QR verification page, and the verdict on an uploaded file. Each is audited as it is today
(uploads and page views; the status answer is public and cheap, and not audited).

The rules that matter for trust live here, once, for every edge:

* **Fail closed on the status.** ``unknown`` when the ledger cannot be read (never
  ``active``); ``pending`` when the certificate is stored here but not yet anchored.
* **Staleness is bounded.** A status answer is reused for at most ``STATUS_TTL`` (1 s,
  jittered) in a process; a status change made here drops it at once (:meth:`forget`).
* **The page's seal check is reused, the ledger check is not.** The stored PDF never
  changes, so its seal check is kept (in this process, and in the store for every process)
  for ``SEAL_CHECK_MAX_AGE``; the ledger's status is read live on every view.
* **Ids cannot be probed through the page**: an unknown id and a wrong token get the same
  answer (``None``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certificates.agencies import AGENCIES
from certificates.audit import AuditEntry, AuditEvent, AuditLog
from certificates.caching import Clock, TTLCache
from certificates.ids import tokens_match
from certificates.store import PublicView, Store
from certificates.types import CERTIFICATE_TYPES
from certificates.verification.report import VerificationReport
from certificates.verification.seal_cache import dump_seal_report, load_seal_report
from certificates.verification.verifier import Verifier
from ledger import Ledger
from signing import SealReport

__all__ = [
    "SEAL_CHECK_MAX_AGE",
    "STATUS_TTL",
    "PublicPage",
    "PublicService",
]

STATUS_TTL = 1.0  # seconds a public status answer may be reused; bounds staleness after revoke
VIEW_TTL = 600.0  # what the store says (type, issuer, masked subject, dates) never changes
SEAL_CHECK_MAX_AGE = 600.0  # seconds a stored certificate's seal check is reused
_CACHE_SIZE = 65536
_SEAL_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class PublicPage:
    """What the QR page shows: the store's public view and the live verification report."""

    view: PublicView
    report: VerificationReport

    @property
    def status(self) -> str:
        return self.report.certificate.status if self.report.certificate else self.view.status


class PublicService:
    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        verifier: Verifier,
        audit: AuditLog,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._verifier = verifier
        self._audit = audit
        # Encoded status answers: the fast path serves these bytes without routing.
        self.status_cache: TTLCache[bytes] = TTLCache(_CACHE_SIZE, STATUS_TTL, clock=clock)
        self._views: TTLCache[PublicView] = TTLCache(_CACHE_SIZE, VIEW_TTL, clock=clock)
        self._seals: TTLCache[SealReport] = TTLCache(_SEAL_CACHE_SIZE, VIEW_TTL, clock=clock)

    def forget(self, cert_id: str) -> None:
        """The certificate changed here: the next answer reads it again."""
        self.status_cache.drop(cert_id)

    # -- the public status -------------------------------------------------------------------

    def status_json(self, cert_id: str) -> bytes | None:
        """The status answer for a canonical id, encoded, or ``None`` if no one knows it."""
        raw = self.status_cache.get(cert_id)
        if raw is None:
            view = self._views.get(cert_id)
            if view is None:
                view = self._store.public_view(cert_id)
                if view is not None:
                    self._views.put(cert_id, view)
            body = self.status_body(cert_id, view)
            if body is None:
                return None
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            self.status_cache.put(cert_id, raw)
        return raw

    def status_body(self, cert_id: str, view: PublicView | None) -> dict[str, Any] | None:
        try:
            record = self._ledger.get(cert_id)
            ledger_ok = True
        except Exception:  # any ledger failure: report "unknown", never "active"
            record, ledger_ok = None, False
        if view is not None:
            cert_type, agency = view.cert_type, view.agency
        elif record is not None:
            cert_type, agency = record.cert_type, record.agency
        else:
            return None
        ctype = CERTIFICATE_TYPES.get(cert_type)
        issuer = AGENCIES.get(agency)
        if not ledger_ok:
            status, reason = "unknown", None
        elif record is None:
            status, reason = "pending", None
        else:
            status, reason = record.status, record.reason
        valid_until = view.valid_until if view else (record.valid_until if record else None)
        return {
            "id": cert_id,
            "type": cert_type,
            "type_name": {"zh": ctype.name_zh, "en": ctype.name_en} if ctype else None,
            "issuer": agency,
            "issuer_name": {"zh": issuer.name_zh, "en": issuer.name_en} if issuer else None,
            "subject": view.subject if view else None,
            "issued_at": view.issued_at.isoformat() if view else None,
            "valid_until": str(valid_until) if valid_until else None,
            "status": status,
            "status_reason": reason,
            "ledger": {
                "backend": self._ledger.backend,
                "block": record.anchored_block if record else None,
                "tx_id": record.anchored_tx if record else None,
                "anchored_at": record.anchored_at.isoformat()
                if record and record.anchored_at
                else None,
            },
        }

    # -- the QR page -------------------------------------------------------------------------

    def page(self, cert_id: str | None, token: str) -> PublicPage | None:
        """The page for ``cert_id`` opened with the QR code's ``token``; ``None`` for an
        unknown id or a wrong token alike. Every view is audited."""
        view = self._store.public_view(cert_id) if cert_id else None
        if view is None or not token or not tokens_match(token, view.token_digest):
            return None
        self._audit.record(AuditEvent("view", "ok", cert_id=view.id, cert_type=view.cert_type))
        seal = self._seal_of(view.id)
        if seal is None:
            return None
        return PublicPage(view, self._verifier.report_for(seal, described=_described(view)))

    def _seal_of(self, cert_id: str) -> SealReport | None:
        seal = self._seals.get(cert_id)
        if seal is None:
            # The stored copy never changes: one check serves every worker for a while (the
            # ledger checks stay live on every view).
            cached = self._store.recent_seal_check(cert_id, SEAL_CHECK_MAX_AGE)
            seal = load_seal_report(cached) if cached else None
            if seal is None:
                row = self._store.get(cert_id)
                if row is None:  # gone between the two reads: check nothing, keep nothing
                    return None
                seal = self._verifier.check_seal(row.pdf)
                self._store.save_seal_check(cert_id, dump_seal_report(seal))
            self._seals.put(cert_id, seal)
        return seal

    # -- an uploaded file --------------------------------------------------------------------

    def verify_upload(self, pdf: bytes) -> VerificationReport:
        """The full verdict on an uploaded PDF, audited with its outcome."""
        return self.verify_upload_audited(pdf)[0]

    def verify_upload_audited(
        self,
        pdf: bytes,
        *,
        client_id: str = "public",
        agency: str | None = None,
        purpose: str | None = None,
        reason: str | None = None,
    ) -> tuple[VerificationReport, AuditEntry]:
        """As :meth:`verify_upload`, with who asked (a signed-in clerk at the counter desk)
        and the audit entry written, whose number a receipt names."""
        report = self._verifier.verify_pdf(pdf)
        cert = report.certificate
        entry = self._audit.record(
            AuditEvent(
                "verify",
                report.verdict.value,
                client_id,
                agency,
                cert_id=cert.id if cert else None,
                cert_type=cert.type if cert else None,
                purpose=purpose,
                reason=reason,
            )
        )
        return report, entry

    def stored_report(self, cert_id: str | None, token: str) -> PublicPage | None:
        """What :meth:`page` shows, without auditing a public view: for an edge that audits
        the verification itself, under its caller's name. The same rules: ``None`` for an
        unknown id and a wrong token alike."""
        view = self._store.public_view(cert_id) if cert_id else None
        if view is None or not token or not tokens_match(token, view.token_digest):
            return None
        seal = self._seal_of(view.id)
        if seal is None:
            return None
        return PublicPage(view, self._verifier.report_for(seal, described=_described(view)))


def _described(view: PublicView) -> tuple[str, str, datetime]:
    """The store's facts about the certificate the page shows, handed to the verifier."""
    return view.id, view.subject, view.issued_at
