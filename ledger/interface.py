"""The one small interface every ledger backend implements, and the values it speaks.

``certificates`` and ``verify_api`` depend on this module only; which backend runs
(embedded SQLite, or a Fabric peer) is decided by whoever constructs it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from chaincode import (
    AgencyRecord,
    Agreement,
    AgreementTerms,
    AnchorEntry,
    AnchorStatus,
    AuditAnchor,
    CertStatus,
    ChangeKind,
    ContractError,
    Proposal,
    ProposalStatus,
    ProposalVersion,
    RegistryChange,
    superseded_reason,
)
from chaincode.models import SealKeyPeriod
from ledger.merkle import leaf_hash, verify_path

__all__ = [
    "AgencyRecord",
    "Agreement",
    "AgreementTerms",
    "AnchorEntry",
    "AnchorReceipt",
    "AnchorStatus",
    "AuditAnchor",
    "BatchRevoker",
    "CertStatus",
    "ChainEvent",
    "ChainReport",
    "ChangeKind",
    "ContractError",
    "EventCheckpoint",
    "EventKind",
    "EventSource",
    "EventStream",
    "HistoryEntry",
    "InclusionProof",
    "Ledger",
    "LedgerRecord",
    "Proposal",
    "ProposalStatus",
    "ProposalVersion",
    "ReceiptCheck",
    "ReceiptChecker",
    "RegistryChange",
    "RegistryGovernance",
    "SealKeyPeriod",
    "SealKeyRegistry",
    "TxReceipt",
    "superseded_reason",
    "verify_inclusion",
]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An audit path from one ledger write up to the Merkle root in a signed block header.

    What it proves: the leaf (one ``(tx_id, key, value)`` write) is in the tree whose root is
    ``merkle_root``. What it does *not* prove on its own: that ``merkle_root`` belongs to the
    header hashed as ``block_hash``, or that the header is signed by a trusted node; the
    ledger's ``verify_chain`` checks those links for every block.

    Hashes are lowercase hex. ``tree_size`` is needed to verify an RFC 6962 path.
    """

    leaf_hash: str
    leaf_index: int
    tree_size: int
    siblings: tuple[str, ...]
    merkle_root: str
    block_number: int
    block_hash: str
    # Fabric: the block header's data hash (hex), which a verifier recomputes from the block
    # its own peer serves (ReceiptChecker). Empty where the backend has none.
    data_hash: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "leaf_hash": self.leaf_hash,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "siblings": list(self.siblings),
            "merkle_root": self.merkle_root,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
        }
        if self.data_hash:  # absent otherwise: embedded receipts stay byte-for-byte as before
            out["data_hash"] = self.data_hash
        return out


def verify_inclusion(proof: InclusionProof, leaf_bytes: bytes) -> bool:
    """True when ``leaf_bytes`` hashes to ``proof.leaf_hash`` and the path leads to the root.

    Pure: no ledger needed. A malformed proof is ``False``, never an exception.
    """
    try:
        leaf = leaf_hash(leaf_bytes)
        if leaf.hex() != proof.leaf_hash:
            return False
        path = [bytes.fromhex(s) for s in proof.siblings]
        root = bytes.fromhex(proof.merkle_root)
    except (ValueError, TypeError):
        return False
    return verify_path(leaf, proof.leaf_index, proof.tree_size, path, root)


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """Where and when one certificate was anchored, with proof.

    For ``"already-anchored"`` every field describes the *original* anchoring transaction.
    ``leaf`` is the exact write the proof covers (see ``ledger.merkle.decode_write_leaf``):
    its value is the contract's record, which names the digest.
    """

    cert_id: str
    tx_id: str
    block_number: int
    anchored_at: datetime
    status: AnchorStatus
    proof: InclusionProof
    leaf: bytes


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """The current ledger record of one certificate. No personal data by construction."""

    cert_id: str
    agency: str
    cert_type: str
    digest: str
    holder_digest: str
    valid_from: date
    valid_until: date | None
    status: CertStatus
    reason: str | None
    anchored_tx: str
    anchored_block: int
    anchored_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "cert_id": self.cert_id,
            "agency": self.agency,
            "cert_type": self.cert_type,
            "digest": self.digest,
            "holder_digest": self.holder_digest,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "status": self.status.value,
            "reason": self.reason,
            "anchored_tx": self.anchored_tx,
            "anchored_block": self.anchored_block,
            "anchored_at": self.anchored_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version of a certificate's record, oldest first in a history."""

    tx_id: str
    block_number: int
    timestamp: datetime
    version: int
    status: CertStatus
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "block_number": self.block_number,
            "timestamp": self.timestamp.isoformat(),
            "version": self.version,
            "status": self.status.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class TxReceipt:
    """A committed status change."""

    tx_id: str
    block_number: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of an integrity check. ``first_bad_block`` is ``None`` only when ``ok``
    or when the damage cannot be tied to a block."""

    ok: bool
    blocks_checked: int
    first_bad_block: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "blocks_checked": self.blocks_checked,
            "first_bad_block": self.first_bad_block,
            "reason": self.reason,
        }


class Ledger(Protocol):
    """A permissioned certificate ledger as the service uses it.

    ``agency`` arguments are agency codes from the registry; a backend maps them to the
    identity the contract checks (the embedded backend: the agency's MSP id; Fabric: the
    client identity of the agency's own peer connection, which must match).

    Every method may raise :class:`ledger.errors.LedgerUnavailable`; write methods raise
    :class:`ledger.errors.LedgerRefused` when the contract refuses, having written nothing.
    """

    backend: str

    def anchor(self, agency: str, entries: Sequence[AnchorEntry]) -> list[AnchorReceipt]:
        """Anchor a batch in one transaction, all or nothing; one receipt per entry, in order."""
        ...

    def revoke(self, agency: str, cert_id: str, reason: str) -> TxReceipt: ...

    def suspend(self, agency: str, cert_id: str, reason: str) -> TxReceipt: ...

    def reinstate(self, agency: str, cert_id: str, reason: str) -> TxReceipt: ...

    def get(self, cert_id: str) -> LedgerRecord | None:
        """The current record; ``None`` when no such certificate is anchored."""
        ...

    def history(self, cert_id: str) -> list[HistoryEntry]:
        """Every version of the record, oldest first; empty when unknown."""
        ...

    def registry(self) -> list[AgencyRecord]: ...

    def verify_chain(self) -> ChainReport:
        """Check the stored chain; reports tampering, raises only when it cannot read."""
        ...

    # -- sharing agreements and audit heads (chaincode.sharing) ----------------------------

    def create_agreement(self, agency: str, terms: AgreementTerms) -> Agreement:
        """``agency`` grants ``terms.grantee`` access to some of its types (one transaction)."""
        ...

    def revoke_agreement(self, agency: str, agreement_id: str, reason: str) -> Agreement:
        """End an agreement ``agency`` granted; final."""
        ...

    def agreements(self) -> list[Agreement]:
        """Every agreement on the ledger, active and revoked."""
        ...

    def anchor_audit_head(self, agency: str, log_id: str, seq: int, head: str) -> AuditAnchor:
        """Anchor an audit log's head; refused if it rewinds or forks the anchored one."""
        ...

    def audit_head(self, agency: str, log_id: str) -> AuditAnchor | None:
        """The latest anchored head of ``agency``'s audit log ``log_id``, if any."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BatchRevoker(Protocol):
    """Optional ledger capability (issue 4): revoke many certificates in ONE transaction.

    Kept apart from :class:`Ledger` so backends can add it one by one; callers check
    ``isinstance(ledger, BatchRevoker)`` and refuse the operation otherwise (never fall
    back to one transaction per certificate, which would not be all-or-nothing).
    """

    def revoke_batch(self, agency: str, cert_ids: Sequence[str], reason: str) -> TxReceipt | None:
        """Revoke every id (all issued by ``agency``) in one transaction, all or nothing;
        already revoked ones keep their original reason. ``None`` when every id was already
        revoked (nothing written). Raises ``LedgerRefused`` having written nothing when any
        id is unknown, another agency's or duplicated."""
        ...


@runtime_checkable
class SealKeyRegistry(Protocol):
    """Optional ledger capability (issue 4): seal-key rotation in the agency registry."""

    def rotate_seal_key(self, agency: str, old: SealKeyPeriod, new: SealKeyPeriod) -> TxReceipt:
        """One transaction: ``new.fingerprint`` joins the agency's registered seals (the old
        one stays, so old seals keep verifying) and both validity periods are recorded."""
        ...

    def seal_key_periods(self, fingerprints: Sequence[str]) -> list[SealKeyPeriod]:
        """Recorded validity periods of these fingerprints (unknown ones left out)."""
        ...


# -- following the ledger (issue 13, item 5) -------------------------------------------------


class EventKind(enum.StrEnum):
    """What a contract event means for a service's local state."""

    ANCHORED = "anchored"  # certificates anchored (by any instance of any agency)
    STATUS_CHANGED = "status_changed"  # one certificate revoked, suspended or reinstated
    REVOKED_BATCH = "revoked_batch"  # many certificates revoked in one transaction
    REGISTRY_CHANGED = "registry_changed"  # the agency registry has a new revision
    OTHER = "other"  # sharing agreements, audit heads, ...: nothing local to update


@dataclass(frozen=True, slots=True, order=True)
class EventCheckpoint:
    """How far a follower got: the last event it applied is event number ``index`` (0-based,
    in the order the ledger lists that block's events) of block ``block``. Ordered, so a
    later checkpoint compares greater."""

    block: int
    index: int


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One contract event, typed. ``cert_ids`` names the certificates it concerns (none for
    a registry change); ``status`` is the status afterwards for status events."""

    block_number: int
    index: int
    tx_id: str
    kind: EventKind
    name: str
    cert_ids: tuple[str, ...] = ()
    status: str | None = None
    agency: str | None = None
    # An anchoring's re-issues: the certificates it superseded (revoked by that transaction).
    superseded: tuple[str, ...] = ()

    @property
    def checkpoint(self) -> EventCheckpoint:
        return EventCheckpoint(self.block_number, self.index)


class EventStream(Protocol):
    """An open stream of events, in ledger order; iterating blocks until the next event.
    Ends quietly after :meth:`cancel`; raises ``LedgerUnavailable`` when the stream breaks."""

    def __iter__(self) -> Iterator[ChainEvent]: ...

    def cancel(self) -> None:
        """End the stream from another thread (a server shutting down)."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """Optional ledger capability: follow the contract's events as blocks commit.

    ``event_stream(after)`` yields every event strictly after ``after`` (from the first
    block when ``None``), so a follower that stores the checkpoint of each event it applied
    resumes with no gap and no repeat. The embedded ledger does not implement it: it is one
    machine's ledger, every writer is in the process that reads it.
    """

    def event_stream(self, after: EventCheckpoint | None) -> EventStream: ...


# -- checkable receipts (issue 13, item 6) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """What a ledger node says of an anchoring receipt. ``ok``: the transaction is in that
    block, valid, and the block's data hash is the receipt's; otherwise ``reason`` says which
    part does not hold. ``data_hash``: the one recomputed from the block (hex)."""

    ok: bool
    reason: str
    data_hash: str


@runtime_checkable
class ReceiptChecker(Protocol):
    """Optional ledger capability: check a receipt against the blocks of this service's own
    ledger node (Fabric: its own peer). Raises ``LedgerUnavailable`` when it cannot read."""

    def check_receipt(self, tx_id: str, block_number: int, data_hash: str | None) -> ReceiptCheck:
        """``data_hash`` ``None``: the receipt carries none (a certificate this service did
        not anchor); the block's own header hash is then what is recomputed and compared."""
        ...


@runtime_checkable
class RegistryGovernance(Protocol):
    """Optional ledger capability (issue 13): registry changes by a majority of agencies
    (rules in :mod:`chaincode.governance`). ``agency`` is the code of the agency that acts;
    the backend acts with that agency's own ledger identity."""

    def propose_registry_change(
        self, agency: str, change: RegistryChange, valid_days: int
    ) -> Proposal:
        """One transaction: the proposal, counted as ``agency``'s approval."""
        ...

    def approve_registry_change(self, agency: str, proposal_id: str) -> Proposal:
        """One transaction: ``agency``'s approval; the change takes effect in it when this
        approval makes the majority (the proposal comes back ``applied``)."""
        ...

    def registry_proposals(self) -> list[Proposal]:
        """The newest proposals, oldest first."""
        ...

    def proposal_history(self, proposal_id: str) -> list[ProposalVersion]:
        """Every step of one proposal, oldest first; empty when unknown."""
        ...
