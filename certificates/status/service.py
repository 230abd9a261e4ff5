"""Status changes of issued certificates: revoke, suspend, reinstate.

One workflow for every edge (HTTP route, command line, web page), in this order:

1. find the certificate (the local store, else the ledger) and check the caller is its issuer;
2. change the status on the ledger (the ledger's contract checks the transition again);
3. record the new status in the local store;
4. drop what this process caches about the certificate;
5. write the audit entry;
6. tell ``status.changed`` subscribers.

Refusals (not the issuer, a transition the ledger refuses) are audited as ``denied`` before
the error is raised, so an attempt leaves a trace whichever edge it came through.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from certificates.audit import AuditEvent, AuditLog
from certificates.errors import (
    CertificateNotFound,
    LedgerUnavailableError,
    RevocationRefused,
)
from certificates.notifications.notifier import Notifier
from certificates.sharing.clients import Principal
from certificates.store import Store
from ledger import Ledger, LedgerError, LedgerRefused, LedgerUnavailable, TxReceipt
from ledger.interface import BatchRevoker

__all__ = [
    "MAX_REASON",
    "NotIssuer",
    "StatusChange",
    "StatusChanged",
    "StatusService",
]

MAX_REASON = 500


class StatusChange(enum.Enum):
    """A change an issuer may make, as (audit action, status afterwards, verb in zh)."""

    REVOKE = ("revoke", "revoked", "撤销")
    SUSPEND = ("suspend", "suspended", "暂停")
    REINSTATE = ("reinstate", "active", "恢复")

    @property
    def action(self) -> str:
        return self.value[0]

    @property
    def status(self) -> str:
        return self.value[1]


class NotIssuer(RevocationRefused):
    """Only the issuing agency may change a certificate's status (a refusal of the caller's
    right, where its parent is a refusal of the certificate's state)."""

    def __init__(self, change: StatusChange) -> None:
        self.change = change
        en = f"Only the issuing agency may {change.action} this certificate."
        super().__init__(en, code="NOT_ISSUER")
        self.zh = f"只有发证机构可以{change.value[2]}该证照。"
        self.en = en


@dataclass(frozen=True, slots=True)
class StatusChanged:
    cert_id: str
    status: str
    reason: str


class StatusService:
    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        audit: AuditLog,
        notifier: Notifier,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._audit = audit
        self.notifier = notifier  # rebound by a server to its own dispatcher
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(cert_id)`` after every change made through this service: caches of
        this process drop the certificate at once (other processes within their periods)."""
        self._listeners.append(listener)

    # -- one certificate ---------------------------------------------------------------------

    def issuer_of(self, cert_id: str) -> str:
        """The agency that issued ``cert_id``: from the local store, else from the ledger."""
        view = self._store.public_view(cert_id)
        if view is not None:
            return view.agency
        try:
            record = self._ledger.get(cert_id)
        except LedgerUnavailable as exc:
            raise LedgerUnavailableError(f"the ledger cannot be reached: {exc}") from None
        if record is None:
            raise CertificateNotFound
        return record.agency

    def change(
        self, who: Principal, cert_id: str, change: StatusChange, reason: str
    ) -> StatusChanged:
        """Apply ``change`` to ``cert_id`` (a canonical id) as ``who``."""
        return self._change(who, self.issuer_of(cert_id), cert_id, change, reason)

    def change_as_operator(self, cert_id: str, change: StatusChange, reason: str) -> StatusChanged:
        """As :meth:`change`, by the operator at this deployment's console, who acts for the
        issuing agency (the command line holds every agency's keys)."""
        owner = self.issuer_of(cert_id)
        return self._change(Principal.operator(owner), owner, cert_id, change, reason)

    def _change(
        self, who: Principal, owner: str, cert_id: str, change: StatusChange, reason: str
    ) -> StatusChanged:
        if owner != who.agency:
            self._deny(who, change, cert_id, "NOT_ISSUER")
            raise NotIssuer(change)
        reason = _checked_reason(reason)
        op = {
            StatusChange.REVOKE: self._ledger.revoke,
            StatusChange.SUSPEND: self._ledger.suspend,
            StatusChange.REINSTATE: self._ledger.reinstate,
        }[change]
        try:
            op(owner, cert_id, reason)
        except LedgerUnavailable as exc:
            raise LedgerUnavailableError(
                f"the ledger cannot be reached, try again: {exc}"
            ) from None
        except LedgerRefused as exc:
            # Not the caller's right but the certificate's state (e.g. already revoked).
            self._deny(who, change, cert_id, "LEDGER_REFUSED")
            raise RevocationRefused(str(exc), code=exc.code) from None
        self._changed(who, change, [cert_id], owner, reason)
        return StatusChanged(cert_id, change.status, reason)

    # -- many at once ------------------------------------------------------------------------

    def revoke_many(self, who: Principal, cert_ids: Sequence[str], reason: str) -> TxReceipt | None:
        """Revoke the agency's certificates ``cert_ids`` in ONE ledger transaction (all or
        none), then as :meth:`change` for each: store, caches, one audit entry and one
        notification per certificate."""
        reason = _checked_reason(reason)
        if not cert_ids:
            return None
        if not isinstance(self._ledger, BatchRevoker):
            raise RevocationRefused(
                f"the {self._ledger.backend} ledger cannot revoke in one transaction; "
                "nothing was revoked",
                code="NO_BATCH",
            )
        try:
            receipt = self._ledger.revoke_batch(who.agency, list(cert_ids), reason)
        except LedgerUnavailable as exc:
            raise LedgerUnavailableError(
                f"the ledger cannot be reached, try again: {exc}"
            ) from None
        except LedgerError as exc:
            code = exc.code if isinstance(exc, LedgerRefused) else "REFUSED"
            raise RevocationRefused(str(exc), code=code) from None
        self._changed(who, StatusChange.REVOKE, cert_ids, who.agency, reason)
        return receipt

    # -- the steps after the ledger ----------------------------------------------------------

    def _changed(
        self,
        who: Principal,
        change: StatusChange,
        cert_ids: Sequence[str],
        issuer: str,
        reason: str,
    ) -> None:
        for cert_id in cert_ids:
            if self._store.get(cert_id) is not None:
                self._store.set_status(cert_id, change.status, reason)
            for listener in self._listeners:
                listener(cert_id)
        self._audit.record_all(
            [
                AuditEvent(change.action, "ok", who.client_id, who.agency, cert_id, reason=reason)
                for cert_id in cert_ids
            ]
        )
        for cert_id in cert_ids:
            self.notifier.emit(
                "status.changed", cert_id, issuer, {"status": change.status, "reason": reason}
            )

    def _deny(self, who: Principal, change: StatusChange, cert_id: str, code: str) -> None:
        self._audit.record(
            AuditEvent(change.action, "denied", who.client_id, who.agency, cert_id, reason=code)
        )


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise RevocationRefused("a reason is required", code="REASON_REQUIRED")
    if len(reason) > MAX_REASON:
        raise RevocationRefused(
            f"the reason is longer than {MAX_REASON} characters", code="REASON_TOO_LONG"
        )
    return reason
