"""Errors of the ledger layer: one root, and a subclass per thing a caller does differently.

- :class:`LedgerUnavailable`: the ledger could not be read or written (missing file, not a
  ledger, locked past the timeout, I/O error). Verification must turn this into
  INDETERMINATE, never VALID: nothing was learnt about the certificate.
- :class:`LedgerRefused`: the contract refused the transaction; nothing was written. Carries
  the contract's stable ``code`` for the API edge.
- :class:`LedgerCorrupt`: stored data does not parse. ``verify_chain`` reports tampering
  instead of raising; this is for the read paths that meet it.
- :class:`LedgerConfigError`: the ledger cannot be used with the identity or path given
  (wrong node key for the certificate, file already exists on create, read-only handle).
"""

from __future__ import annotations

from chaincode import ContractError

__all__ = [
    "LedgerConfigError",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerRefused",
    "LedgerUnavailable",
]


class LedgerError(Exception):
    """Root of every error the ledger layer raises."""


class LedgerUnavailable(LedgerError):
    """The ledger cannot be reached, opened or read right now."""


class LedgerCorrupt(LedgerError):
    """Stored ledger data is damaged (found on a read path)."""


class LedgerConfigError(LedgerError):
    """The ledger was opened or called in a way that cannot work (identity, path, mode)."""


class LedgerRefused(LedgerError):
    """The contract refused the transaction; nothing was written.

    ``code`` is one of :class:`chaincode.ErrorCode`'s values; ``cert_id`` names the offending
    certificate of a batch when there is one.
    """

    def __init__(self, code: str, message: str, *, cert_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.cert_id = cert_id

    @classmethod
    def from_contract(cls, exc: ContractError) -> LedgerRefused:
        return cls(exc.code.value, exc.message, cert_id=exc.cert_id)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_refused, (self.code, self.message, self.cert_id))


def _rebuild_refused(code: str, message: str, cert_id: str | None) -> LedgerRefused:
    return LedgerRefused(code, message, cert_id=cert_id)
