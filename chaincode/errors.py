"""The one error type the contract raises.

Every refusal carries a stable machine code (for the API edge and for tests) and a
message a person can act on. Under Fabric a raised exception becomes an error response
whose text is ``str(exc)``, so ``str()`` is ``"CODE: message"`` and :meth:`ContractError.parse`
recovers it on the client side; the embedded ledger keeps the object as is.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ContractError", "ErrorCode"]


class ErrorCode(StrEnum):
    """Stable refusal codes. Values never change once released: clients match on them."""

    BAD_ARGUMENT = "BAD_ARGUMENT"
    """An argument is malformed (id, digest, date, batch size, reason...)."""
    NO_REGISTRY = "NO_REGISTRY"
    """The agency registry has not been written yet (no genesis)."""
    REGISTRY_EXISTS = "REGISTRY_EXISTS"
    """Genesis was attempted on a ledger that already has a registry."""
    UNKNOWN_AGENCY = "UNKNOWN_AGENCY"
    """The caller's MSP id maps to no registered agency."""
    TYPE_NOT_ALLOWED = "TYPE_NOT_ALLOWED"
    """The caller's agency is not registered for this certificate type."""
    DIGEST_CONFLICT = "DIGEST_CONFLICT"
    """The certificate id is already anchored with a different digest."""
    ENTRY_CONFLICT = "ENTRY_CONFLICT"
    """Same id and digest, but another anchored field (holder, type, validity) differs."""
    NOT_ISSUER = "NOT_ISSUER"
    """The certificate belongs to another agency."""
    NOT_FOUND = "NOT_FOUND"
    """No certificate with this id is anchored."""
    ALREADY_REVOKED = "ALREADY_REVOKED"
    """Revocation is final: nothing can change a revoked certificate."""
    INVALID_TRANSITION = "INVALID_TRANSITION"
    """The status change does not apply (suspend a suspended one, reinstate an active one)."""
    CORRUPT_STATE = "CORRUPT_STATE"
    """A stored state value does not parse: the ledger itself is damaged."""
    CHANGE_CONFLICT = "CHANGE_CONFLICT"
    """A registry change does not apply to the registry as it is (see chaincode.governance)."""
    PROPOSAL_NOT_FOUND = "PROPOSAL_NOT_FOUND"
    """No registry proposal with this id."""
    PROPOSAL_CLOSED = "PROPOSAL_CLOSED"
    """The proposal already took effect; it cannot be approved any more."""
    PROPOSAL_EXPIRED = "PROPOSAL_EXPIRED"
    """The proposal expired before it had its majority."""
    NOT_ELECTOR = "NOT_ELECTOR"
    """The caller was not a registered agency when the proposal was made."""
    ALREADY_APPROVED = "ALREADY_APPROVED"
    """This agency has already approved the proposal (an agency approves once)."""
    ALREADY_ISSUED = "ALREADY_ISSUED"
    """Another certificate of the type with the same uniqueness key is active (its id is the
    error's ``cert_id``); only an explicit re-issue, superseding it, may follow it."""
    SUPERSEDE_CONFLICT = "SUPERSEDE_CONFLICT"
    """A re-issue names a certificate that is not the active one for its uniqueness key."""


class ContractError(Exception):
    """A refused transaction. Nothing the transaction wanted to write is written.

    ``cert_id`` names the offending certificate when there is one, so a caller that sent a
    batch of thousands can fix that one entry and resubmit the rest.
    """

    def __init__(self, code: ErrorCode, message: str, *, cert_id: str | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.cert_id = cert_id

    @classmethod
    def parse(cls, text: str) -> ContractError | None:
        """Rebuild an error from its ``str()`` form, as a Fabric client receives it.

        Returns ``None`` when the text does not start with a known code: that is a failure
        of the peer or the shim, not a refusal by the contract, and a caller must not report
        it as one. ``cert_id`` does not survive the round trip; the message names it.
        """
        code, sep, message = text.partition(": ")
        if not sep or code not in ErrorCode.__members__:
            return None
        return cls(ErrorCode(code), message)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the error picklable (multiprocessing) despite the keyword-only argument.
        return (_rebuild, (self.code.value, self.message, self.cert_id))


def _rebuild(code: str, message: str, cert_id: str | None) -> ContractError:
    return ContractError(ErrorCode(code), message, cert_id=cert_id)
