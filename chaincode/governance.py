"""Registry changes by a majority of agencies: propose, approve, take effect.

After genesis (:func:`chaincode.contract.init_registry`) the agency registry changes only
through a proposal that a strict majority of the agencies registered *when it was made*
approve. The rules, numbered as the code cites them:

(1) Identity. Every step acts as the caller's authenticated MSP id (``_caller_agency``),
    so an approval is made with that agency's own identity; nothing the caller says about
    itself counts.
(2) The electorate is frozen at proposal time: an agency added later does not vote on
    proposals made before it joined, and the threshold cannot move under a proposal.
(3) Making a proposal counts as the proposer's approval (it wants the change). With three
    agencies, the proposal plus one approval take effect; with one, the proposal alone does.
(4) An agency approves once. A second approval by the same agency is *refused*
    (``ALREADY_APPROVED``), not ignored, so a client retrying after a lost commit status
    learns its first approval counted, and nothing is written twice.
(5) The change takes effect in the transaction of the approval that makes the majority:
    the registry gets a new revision and the proposal is ``applied``. After that, and after
    its expiry (judged by the transaction timestamp), it cannot be approved.
(6) The change is checked against the registry when it is proposed and again when it
    takes effect (another change may have come first); if it no longer applies, the
    approval is refused and the proposal stays open until it expires.
(7) Every step writes the proposal's state key (a version counter orders its history)
    and sets one event; no step carries personal data: proposals hold agency codes, MSP
    ids, agency names, certificate types and seal fingerprints only, and no free text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chaincode._checks import (
    check_hex64,
    check_id,
    check_tuple,
    format_timestamp,
    parse_timestamp,
)
from chaincode.contract import (
    _caller_agency,
    _load_registry,
    _registry_revision,
    _save_registry,
)
from chaincode.errors import ContractError, ErrorCode
from chaincode.models import MAX_ID_LEN, AgencyRecord, canonical_json
from chaincode.stub import Stub

__all__ = [
    "MAX_VALID_DAYS",
    "PROPOSAL_INDEX_KEY",
    "PROPOSAL_KEY_PREFIX",
    "ChangeKind",
    "Proposal",
    "ProposalStatus",
    "ProposalVersion",
    "RegistryChange",
    "approve_registry_change",
    "get_proposal",
    "list_proposals",
    "proposal_history",
    "propose_registry_change",
]

PROPOSAL_KEY_PREFIX = "proposal/"
PROPOSAL_INDEX_KEY = "proposals"
MAX_VALID_DAYS = 90
_MAX_INDEX = 500
"""The index lists the newest proposals only; older ones stay readable by id."""
_MAX_CODE_LEN = 64


def _bad(message: str) -> ContractError:
    return ContractError(ErrorCode.BAD_ARGUMENT, message)


class ChangeKind(StrEnum):
    ADD_AGENCY = "add-agency"
    ADD_SEAL = "add-seal"
    RETIRE_SEAL = "retire-seal"
    SET_TYPES = "set-types"


class ProposalStatus(StrEnum):
    """Stored status. ``expired`` is not stored: it is an open proposal past its expiry."""

    OPEN = "open"
    APPLIED = "applied"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """One change to the registry. ``agency`` is the agency concerned (the new one for
    ``add-agency``); exactly the field its kind needs is set, the others are ``None``."""

    kind: ChangeKind
    agency: str
    record: AgencyRecord | None = None
    fingerprint: str | None = None
    allowed_types: tuple[str, ...] | None = None

    _KEYS = frozenset({"kind", "agency", "record", "fingerprint", "allowed_types"})

    def __post_init__(self) -> None:
        if self.kind not in ChangeKind.__members__.values():
            raise _bad(f"change: unknown kind {self.kind!r}")
        object.__setattr__(self, "kind", ChangeKind(self.kind))
        check_id("change: agency", self.agency, _MAX_CODE_LEN)
        wants = {
            ChangeKind.ADD_AGENCY: "record",
            ChangeKind.ADD_SEAL: "fingerprint",
            ChangeKind.RETIRE_SEAL: "fingerprint",
            ChangeKind.SET_TYPES: "allowed_types",
        }[self.kind]
        for name in ("record", "fingerprint", "allowed_types"):
            present = getattr(self, name) is not None
            if present != (name == wants):
                raise _bad(
                    f"change {self.kind.value}: {name} must be {'set' if not present else 'absent'}"
                )
        if self.record is not None:
            if not isinstance(self.record, AgencyRecord):
                raise _bad("change: record must be an AgencyRecord")
            if self.record.code != self.agency:
                raise _bad("change: the record's code must be the agency the change names")
        if self.fingerprint is not None:
            check_hex64("change: fingerprint", self.fingerprint)
        if self.allowed_types is not None:
            types = check_tuple("change: allowed_types", self.allowed_types, 500)
            for t in types:
                check_id("change: cert type", t, _MAX_CODE_LEN)
            if len(set(types)) != len(types):
                raise _bad("change: duplicate certificate type")
            object.__setattr__(self, "allowed_types", tuple(str(t) for t in types))

    @classmethod
    def add_agency(cls, record: AgencyRecord) -> RegistryChange:
        return cls(ChangeKind.ADD_AGENCY, record.code, record=record)

    @classmethod
    def add_seal(cls, agency: str, fingerprint: str) -> RegistryChange:
        return cls(ChangeKind.ADD_SEAL, agency, fingerprint=fingerprint)

    @classmethod
    def retire_seal(cls, agency: str, fingerprint: str) -> RegistryChange:
        return cls(ChangeKind.RETIRE_SEAL, agency, fingerprint=fingerprint)

    @classmethod
    def set_types(cls, agency: str, allowed_types: tuple[str, ...]) -> RegistryChange:
        return cls(ChangeKind.SET_TYPES, agency, allowed_types=tuple(allowed_types))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "agency": self.agency,
            "record": None if self.record is None else self.record.to_dict(),
            "fingerprint": self.fingerprint,
            "allowed_types": None if self.allowed_types is None else list(self.allowed_types),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> RegistryChange:
        if not isinstance(raw, dict) or raw.keys() != cls._KEYS:
            raise _bad(f"change: must be an object with exactly {sorted(cls._KEYS)}")
        record = raw["record"]
        types = raw["allowed_types"]
        return cls(
            kind=raw["kind"],
            agency=raw["agency"],
            record=None if record is None else AgencyRecord.from_dict(record),
            fingerprint=raw["fingerprint"],
            # A list becomes a tuple; anything else reaches __post_init__'s check as it is.
            allowed_types=tuple(types) if isinstance(types, list) else types,
        )

    def apply(self, registry: list[AgencyRecord]) -> list[AgencyRecord]:
        """The registry after this change; refuses a change that does not apply to it."""
        if self.kind is ChangeKind.ADD_AGENCY:
            assert self.record is not None
            for r in registry:
                if r.code == self.record.code or r.msp_id == self.record.msp_id:
                    # One MSP per agency and one agency per MSP (see init_registry).
                    raise ContractError(
                        ErrorCode.CHANGE_CONFLICT,
                        f"add-agency: code {self.record.code} or MSP {self.record.msp_id} "
                        "is already registered",
                    )
            return [*registry, self.record]
        current = next((r for r in registry if r.code == self.agency), None)
        if current is None:
            raise ContractError(
                ErrorCode.CHANGE_CONFLICT, f"{self.kind.value}: no registered agency {self.agency}"
            )
        seals = current.seal_fingerprints
        if self.kind is ChangeKind.ADD_SEAL:
            assert self.fingerprint is not None
            if self.fingerprint in seals:
                raise ContractError(
                    ErrorCode.CHANGE_CONFLICT, f"add-seal: already a seal of {self.agency}"
                )
            updated = _replaced(current, seal_fingerprints=(*seals, self.fingerprint))
        elif self.kind is ChangeKind.RETIRE_SEAL:
            if self.fingerprint not in seals:
                raise ContractError(
                    ErrorCode.CHANGE_CONFLICT, f"retire-seal: not a seal of {self.agency}"
                )
            kept = tuple(fp for fp in seals if fp != self.fingerprint)
            updated = _replaced(current, seal_fingerprints=kept)
        else:
            assert self.allowed_types is not None
            updated = _replaced(current, allowed_types=self.allowed_types)
        return [updated if r.code == self.agency else r for r in registry]


def _replaced(record: AgencyRecord, **changes: Any) -> AgencyRecord:
    # AgencyRecord refuses an agency that may issue but has no seal: say so as a conflict.
    try:
        return dataclasses.replace(record, **changes)
    except ContractError as exc:
        raise ContractError(ErrorCode.CHANGE_CONFLICT, exc.message) from None


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed registry change and its approvals, as stored under ``proposal/<id>``.

    ``proposal_id`` is the id of the transaction that made it (unique by construction).
    ``registry_revision`` is the revision the change wrote, once applied.
    """

    proposal_id: str
    change: RegistryChange
    proposer: str
    electorate: tuple[str, ...]
    approvals: tuple[str, ...]
    status: ProposalStatus
    version: int
    created_at: datetime
    expires_at: datetime
    updated_tx: str
    updated_at: datetime
    registry_revision: int | None

    _KEYS = frozenset(
        {
            "proposal_id",
            "change",
            "proposer",
            "electorate",
            "approvals",
            "status",
            "version",
            "created_at",
            "expires_at",
            "updated_tx",
            "updated_at",
            "registry_revision",
        }
    )

    @property
    def needed(self) -> int:
        """Approvals that make a strict majority of the electorate."""
        return len(self.electorate) // 2 + 1

    def status_at(self, now: datetime) -> ProposalStatus:
        """The status as of ``now``: an open proposal past its expiry is ``expired``."""
        if self.status is ProposalStatus.OPEN and now > self.expires_at:
            return ProposalStatus.EXPIRED
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "change": self.change.to_dict(),
            "proposer": self.proposer,
            "electorate": list(self.electorate),
            "approvals": list(self.approvals),
            "status": self.status.value,
            "version": self.version,
            "created_at": format_timestamp(self.created_at),
            "expires_at": format_timestamp(self.expires_at),
            "updated_tx": self.updated_tx,
            "updated_at": format_timestamp(self.updated_at),
            "registry_revision": self.registry_revision,
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, raw: bytes | dict[str, Any]) -> Proposal:
        try:
            d: Any = json.loads(raw) if isinstance(raw, bytes | bytearray) else raw
            if not isinstance(d, dict) or d.keys() != cls._KEYS:
                raise _bad("proposal: unexpected fields")
            if d["status"] not in (ProposalStatus.OPEN.value, ProposalStatus.APPLIED.value):
                raise _bad(f"proposal: unknown status {d['status']!r}")
            revision = d["registry_revision"]
            if revision is not None and type(revision) is not int:
                raise _bad("proposal: registry_revision is not a number")
            if type(d["version"]) is not int or d["version"] < 1:
                raise _bad("proposal: version is not a positive number")
            return cls(
                proposal_id=check_id("proposal_id", d["proposal_id"], MAX_ID_LEN),
                change=RegistryChange.from_dict(d["change"]),
                proposer=check_id("proposer", d["proposer"], _MAX_CODE_LEN),
                electorate=_codes("electorate", d["electorate"]),
                approvals=_codes("approvals", d["approvals"]),
                status=ProposalStatus(d["status"]),
                version=d["version"],
                created_at=parse_timestamp("created_at", d["created_at"]),
                expires_at=parse_timestamp("expires_at", d["expires_at"]),
                updated_tx=check_id("updated_tx", d["updated_tx"], MAX_ID_LEN),
                updated_at=parse_timestamp("updated_at", d["updated_at"]),
                registry_revision=revision,
            )
        except (ContractError, ValueError, TypeError, KeyError) as exc:
            message = exc.message if isinstance(exc, ContractError) else str(exc)
            raise ContractError(
                ErrorCode.CORRUPT_STATE, f"stored proposal does not parse: {message}"
            ) from None


def _codes(what: str, raw: object) -> tuple[str, ...]:
    return tuple(check_id(what, c, _MAX_CODE_LEN) for c in check_tuple(what, raw, 1000))


@dataclass(frozen=True, slots=True)
class ProposalVersion:
    """One step of a proposal, oldest first in its history."""

    tx_id: str
    timestamp: datetime
    version: int
    status: ProposalStatus
    approvals: tuple[str, ...]


def proposal_key(proposal_id: str) -> str:
    return PROPOSAL_KEY_PREFIX + proposal_id


# --- transactions ----------------------------------------------------------------------


async def propose_registry_change(stub: Stub, change: RegistryChange, valid_days: int) -> Proposal:
    """Propose ``change``; the proposal is the caller's approval (3) and expires after
    ``valid_days`` (1 to 90) days."""
    if not isinstance(change, RegistryChange):
        raise _bad("change: must be a RegistryChange")
    if type(valid_days) is not int or not 1 <= valid_days <= MAX_VALID_DAYS:
        raise _bad(f"valid_days: must be a whole number of days from 1 to {MAX_VALID_DAYS}")
    registry = await _load_registry(stub)
    caller = _caller_agency(stub, registry)  # (1)
    change.apply(registry)  # (6) refuse now what could never apply
    tx_id = stub.get_tx_id()
    now = stub.get_tx_timestamp()
    format_timestamp(now)
    proposal = Proposal(
        proposal_id=check_id("proposal_id", tx_id, MAX_ID_LEN),
        change=change,
        proposer=caller.code,
        electorate=tuple(sorted(r.code for r in registry)),  # (2)
        approvals=(caller.code,),  # (3)
        status=ProposalStatus.OPEN,
        version=1,
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
        updated_tx=tx_id,
        updated_at=now,
        registry_revision=None,
    )
    proposal = await _maybe_apply(stub, proposal, registry)
    index = await _load_index(stub)
    await stub.put_state(
        PROPOSAL_INDEX_KEY, canonical_json([*index, proposal.proposal_id][-_MAX_INDEX:])
    )
    return proposal


async def approve_registry_change(stub: Stub, proposal_id: str) -> Proposal:
    """The caller's approval of an open proposal; takes effect at the majority (5)."""
    check_id("proposal_id", proposal_id, MAX_ID_LEN)
    registry = await _load_registry(stub)
    caller = _caller_agency(stub, registry)  # (1): unregistered callers learn nothing
    current = await get_proposal(stub, proposal_id)
    if current is None:
        raise ContractError(ErrorCode.PROPOSAL_NOT_FOUND, f"no registry proposal {proposal_id}")
    now = stub.get_tx_timestamp()
    if current.status is ProposalStatus.APPLIED:
        raise ContractError(
            ErrorCode.PROPOSAL_CLOSED,
            f"proposal {proposal_id} already took effect (registry revision "
            f"{current.registry_revision}); it cannot be approved any more",
        )
    if current.status_at(now) is ProposalStatus.EXPIRED:
        raise ContractError(
            ErrorCode.PROPOSAL_EXPIRED,
            f"proposal {proposal_id} expired at {format_timestamp(current.expires_at)}; "
            "propose the change again",
        )
    if caller.code not in current.electorate:  # (2)
        raise ContractError(
            ErrorCode.NOT_ELECTOR,
            f"agency {caller.code} was not registered when proposal {proposal_id} was made "
            "and does not vote on it",
        )
    if caller.code in current.approvals:  # (4)
        raise ContractError(
            ErrorCode.ALREADY_APPROVED,
            f"agency {caller.code} has already approved proposal {proposal_id}",
        )
    tx_id = stub.get_tx_id()
    updated = dataclasses.replace(
        current,
        approvals=(*current.approvals, caller.code),
        version=current.version + 1,
        updated_tx=tx_id,
        updated_at=now,
    )
    return await _maybe_apply(stub, updated, registry)


async def _maybe_apply(stub: Stub, proposal: Proposal, registry: list[AgencyRecord]) -> Proposal:
    """Write ``proposal``; when it has its majority, apply the change first (5)."""
    approvals = [c for c in proposal.approvals if c in proposal.electorate]
    if len(approvals) >= proposal.needed:
        records = proposal.change.apply(registry)  # (6) against the registry of now
        revision = await _registry_revision(stub) + 1
        await _save_registry(stub, records, revision=revision)
        proposal = dataclasses.replace(
            proposal, status=ProposalStatus.APPLIED, registry_revision=revision
        )
        await stub.put_state(proposal_key(proposal.proposal_id), proposal.to_bytes())
        # One event per transaction: this one replaces _save_registry's and keeps its
        # ``revision`` field, so followers of "registry" see every revision.
        stub.set_event(
            "registry",
            canonical_json(
                {
                    "revision": revision,
                    "proposal_id": proposal.proposal_id,
                    "kind": proposal.change.kind.value,
                    "agency": proposal.change.agency,
                }
            ),
        )
        return proposal
    await stub.put_state(proposal_key(proposal.proposal_id), proposal.to_bytes())
    stub.set_event(
        "proposal",
        canonical_json(
            {
                "proposal_id": proposal.proposal_id,
                "kind": proposal.change.kind.value,
                "agency": proposal.change.agency,
                "status": proposal.status.value,
                "approvals": len(approvals),
                "needed": proposal.needed,
            }
        ),
    )
    return proposal


# --- reads -----------------------------------------------------------------------------


async def get_proposal(stub: Stub, proposal_id: str) -> Proposal | None:
    check_id("proposal_id", proposal_id, MAX_ID_LEN)
    raw = await stub.get_state(proposal_key(proposal_id))
    return Proposal.from_dict(raw) if raw else None


async def list_proposals(stub: Stub) -> list[Proposal]:
    """The newest proposals (up to 500), oldest first."""
    out = []
    for pid in await _load_index(stub):
        proposal = await get_proposal(stub, pid)
        if proposal is None:
            raise ContractError(ErrorCode.CORRUPT_STATE, f"indexed proposal {pid} is missing")
        out.append(proposal)
    return out


async def proposal_history(stub: Stub, proposal_id: str) -> list[ProposalVersion]:
    """Every step of a proposal, oldest first; empty when there is no such proposal."""
    check_id("proposal_id", proposal_id, MAX_ID_LEN)
    steps = []
    for item in await stub.get_history(proposal_key(proposal_id)):
        if item.is_delete:
            raise ContractError(ErrorCode.CORRUPT_STATE, f"proposal {proposal_id} was deleted")
        p = Proposal.from_dict(item.value)
        if p.updated_tx != item.tx_id:
            raise ContractError(
                ErrorCode.CORRUPT_STATE,
                f"proposal {proposal_id} version {p.version} claims tx {p.updated_tx} but was "
                f"written by {item.tx_id}",
            )
        steps.append(ProposalVersion(item.tx_id, p.updated_at, p.version, p.status, p.approvals))
    steps.sort(key=lambda s: s.version)
    if [s.version for s in steps] != list(range(1, len(steps) + 1)):
        raise ContractError(ErrorCode.CORRUPT_STATE, f"proposal {proposal_id}: history has gaps")
    return steps


async def _load_index(stub: Stub) -> list[str]:
    raw = await stub.get_state(PROPOSAL_INDEX_KEY)
    if not raw:
        return []
    try:
        ids = json.loads(raw)
        return [check_id("proposal id", i, MAX_ID_LEN) for i in ids]
    except (ValueError, TypeError, ContractError):
        raise ContractError(ErrorCode.CORRUPT_STATE, "the proposal index does not parse") from None
