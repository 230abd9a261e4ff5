"""Anchoring in the background: certificates left pending (after a crash or a ledger outage)
and, less often, the audit log's head, so that a rewritten log no longer matches the ledger.

One loop per server process; the command line anchors the same way on demand
(``certledger anchor``, ``certledger audit anchor``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from certificates.audit.log import AuditLog
from ledger import Ledger
from ledger.interface import AuditAnchor

__all__ = ["ANCHOR_INTERVAL", "AUDIT_ANCHOR_INTERVAL", "AnchorLoop", "anchor_audit_head"]

log = logging.getLogger("certledger.anchoring")

ANCHOR_INTERVAL = 5.0  # seconds between passes over pending certificates
AUDIT_ANCHOR_INTERVAL = 60.0  # seconds between anchorings of the audit-log head


def anchor_audit_head(audit: AuditLog, ledger: Ledger, agency: str | None) -> AuditAnchor | None:
    """Anchor the audit log's head on the ledger, as ``agency`` (the deployment's own, the
    identity its Fabric peer connection acts for) or, on an embedded ledger serving every
    agency, as the first agency of the registry. The choice is fixed at the first anchoring
    (see :meth:`AuditLog.anchor`)."""
    if not agency:
        registry = ledger.registry()
        if not registry:
            return None
        agency = registry[0].code
    return audit.anchor(ledger, agency)


class AnchorLoop:
    """A daemon thread: ``anchor_pending()`` every ``interval`` seconds, the audit head every
    ``audit_interval``. Failures are logged and retried at the next turn: the loop must
    survive anything (an outage is exactly when it matters)."""

    def __init__(
        self,
        *,
        anchor_pending: Callable[[], int] | None,
        anchor_audit: Callable[[], object],
        interval: float = ANCHOR_INTERVAL,
        audit_interval: float = AUDIT_ANCHOR_INTERVAL,
    ) -> None:
        self._anchor_pending = anchor_pending
        self._anchor_audit = anchor_audit
        self._interval = interval
        self._audit_interval = audit_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="anchoring", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        next_audit = time.monotonic() + self._audit_interval
        while not self._stop.is_set():
            if self._anchor_pending is not None:
                try:
                    n = self._anchor_pending()
                    if n:
                        log.info("anchored %d pending certificate(s)", n)
                except Exception:  # retried at the next turn
                    log.exception("background anchoring failed; will retry")
            if time.monotonic() >= next_audit:
                next_audit = time.monotonic() + self._audit_interval
                try:
                    self._anchor_audit()
                except Exception:  # as above: retried at the next interval
                    log.exception("anchoring the audit-log head failed; will retry")
            self._stop.wait(self._interval)
