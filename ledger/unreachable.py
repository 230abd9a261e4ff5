"""A stand-in for a ledger that could not be opened: every call says so.

Verification must still produce a report (INDETERMINATE for every ledger check) rather than
refuse to start, so the reason travels with the object instead of failing at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from ledger import LedgerUnavailable

__all__ = ["UnreachableLedger"]


class UnreachableLedger:
    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend
        self._reason = reason

    def _raise(self) -> NoReturn:
        raise LedgerUnavailable(self._reason)

    def anchor(self, agency: str, entries: Sequence[object]) -> NoReturn:
        self._raise()

    def revoke(self, agency: str, cert_id: str, reason: str) -> NoReturn:
        self._raise()

    def suspend(self, agency: str, cert_id: str, reason: str) -> NoReturn:
        self._raise()

    def reinstate(self, agency: str, cert_id: str, reason: str) -> NoReturn:
        self._raise()

    def get(self, cert_id: str) -> NoReturn:
        self._raise()

    def history(self, cert_id: str) -> NoReturn:
        self._raise()

    def registry(self) -> NoReturn:
        self._raise()

    def verify_chain(self) -> NoReturn:
        self._raise()

    def create_agreement(self, agency: str, terms: object) -> NoReturn:
        self._raise()

    def revoke_agreement(self, agency: str, agreement_id: str, reason: str) -> NoReturn:
        self._raise()

    def agreements(self) -> NoReturn:
        self._raise()

    def anchor_audit_head(self, agency: str, log_id: str, seq: int, head: str) -> NoReturn:
        self._raise()

    def audit_head(self, agency: str, log_id: str) -> NoReturn:
        self._raise()

    def close(self) -> None:
        return None
