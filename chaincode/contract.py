"""The contract: who may anchor, suspend, reinstate and revoke which certificate.

Written once, run twice: the embedded ledger executes these coroutines in-process and a
Fabric peer runs them as chaincode. Each function takes a :class:`~chaincode.stub.Stub`
and typed, validated arguments and must be deterministic: no clock but the transaction
timestamp, no randomness, no I/O but the stub, canonical JSON for every write. Every
endorsing peer must compute the same write set from the same proposal.

Authorisation rests on one fact only: the caller's MSP id as authenticated by the platform
(``stub.get_creator_msp()``), looked up in the agency registry stored on the ledger itself.
Nothing the caller *says* about itself is trusted.

Checks run in this order on purpose: (1) arguments, (2) caller is a registered agency,
(3) per-certificate rules. An unregistered caller thus learns nothing about which
certificate ids exist.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, Literal

from chaincode._checks import check_id, check_text, check_tuple, format_timestamp
from chaincode.errors import ContractError, ErrorCode
from chaincode.models import (
    MAX_AGENCIES,
    MAX_BATCH,
    MAX_ID_LEN,
    MAX_REASON_LEN,
    AgencyRecord,
    AnchorEntry,
    AnchorOutcome,
    CertificateState,
    CertificateVersion,
    CertStatus,
    SealKeyPeriod,
    canonical_json,
)
from chaincode.stub import Stub

__all__ = [
    "CERT_KEY_PREFIX",
    "REGISTRY_KEY",
    "anchor_batch",
    "cert_key",
    "get_certificate",
    "get_history",
    "get_registry",
    "init_registry",
    "reinstate",
    "revoke",
    "revoke_batch",
    "rotate_seal_key",
    "seal_key_periods",
    "suspend",
]

REGISTRY_KEY = "registry"
SEAL_KEY_PREFIX = "sealkey/"
CERT_KEY_PREFIX = "cert/"
UNIQUE_KEY_PREFIX = "unique/"
# Field holding the registry revision: genesis writes 1, each amendment will add 1.
_REGISTRY_REVISION = "revision"


def cert_key(cert_id: str) -> str:
    """State key of a certificate. Ids cannot contain '/', so keys cannot collide."""
    return CERT_KEY_PREFIX + cert_id


def superseded_reason(new_id: str) -> str:
    """The revocation reason a re-issue writes on the certificate it supersedes: in both
    languages, since every reader (a citizen's QR page in Chinese or English) shows it."""
    return f"已由新版本 {new_id} 取代 / superseded by {new_id}"


def unique_key(cert_type: str, digest: str) -> str:
    """State key of a uniqueness key: its value is the id of the last certificate anchored
    under it (active unless that certificate has been revoked since)."""
    return f"{UNIQUE_KEY_PREFIX}{cert_type}/{digest}"


# --- registry ---------------------------------------------------------------------------


async def init_registry(stub: Stub, agencies: Sequence[AgencyRecord]) -> None:
    """Genesis: write the first agency registry. Refused once any registry exists.

    There is no caller check here: genesis is run once, by whoever creates the ledger
    (the embedded node, or the Fabric channel's deployment ceremony), and every later
    participant accepts or rejects the network by its genesis. Under Fabric, the adapter
    must expose this only as the chaincode's init (definition approved with init required),
    so no ordinary client can race the ceremony to write its own registry first.

    Changes after genesis go through :mod:`chaincode.governance`: a proposal that a strict
    majority of the registered agencies (by MSP) approve writes the next revision;
    :func:`_save_registry` is the one place that writes it.
    """
    records = check_tuple("agencies", agencies, MAX_AGENCIES)
    if not records:
        raise ContractError(ErrorCode.BAD_ARGUMENT, "agencies: the registry needs one agency")
    typed: list[AgencyRecord] = []
    for rec in records:
        if not isinstance(rec, AgencyRecord):
            raise ContractError(ErrorCode.BAD_ARGUMENT, "agencies: items must be AgencyRecord")
        typed.append(rec)
    for field in ("code", "msp_id"):
        values = [getattr(r, field) for r in typed]
        if len(set(values)) != len(values):
            # One MSP per agency and one agency per MSP: otherwise the caller -> agency
            # mapping, the basis of every permission, would be ambiguous.
            raise ContractError(ErrorCode.BAD_ARGUMENT, f"agencies: duplicate {field}")
    if await stub.get_state(REGISTRY_KEY):
        raise ContractError(
            ErrorCode.REGISTRY_EXISTS,
            "the agency registry already exists; genesis runs once, and changes need the "
            "registry amendment procedure",
        )
    await _save_registry(stub, typed, revision=1)


async def get_registry(stub: Stub) -> list[AgencyRecord]:
    """The current agency registry."""
    return await _load_registry(stub)


async def _save_registry(stub: Stub, agencies: Sequence[AgencyRecord], *, revision: int) -> None:
    body = {"agencies": [a.to_dict() for a in agencies], _REGISTRY_REVISION: revision}
    await stub.put_state(REGISTRY_KEY, canonical_json(body))
    stub.set_event("registry", canonical_json({_REGISTRY_REVISION: revision}))


async def _load_registry(stub: Stub) -> list[AgencyRecord]:
    raw = await stub.get_state(REGISTRY_KEY)
    if not raw:
        raise ContractError(
            ErrorCode.NO_REGISTRY, "the ledger has no agency registry yet: run genesis first"
        )
    try:
        body: Any = json.loads(raw)
        return [AgencyRecord.from_dict(a) for a in body["agencies"]]
    except (ValueError, KeyError, TypeError, ContractError) as exc:
        raise ContractError(
            ErrorCode.CORRUPT_STATE, f"the stored agency registry does not parse: {exc}"
        ) from None


async def rotate_seal_key(stub: Stub, old: SealKeyPeriod, new: SealKeyPeriod) -> AgencyRecord:
    """Seal-key rotation: the calling agency adds its new seal certificate's fingerprint to
    its registry record (a new registry revision) and both keys' validity periods are
    recorded under ``sealkey/<fingerprint>``. The old fingerprint stays listed: documents
    it sealed keep verifying; the periods say which key was current when.
    """
    registry = await _load_registry(stub)
    caller = _caller_agency(stub, registry)
    for period in (old, new):
        if not isinstance(period, SealKeyPeriod) or period.agency != caller.code:
            raise ContractError(
                ErrorCode.BAD_ARGUMENT, "seal keys: both periods must name the calling agency"
            )
    if old.fingerprint not in caller.seal_fingerprints:
        raise ContractError(
            ErrorCode.BAD_ARGUMENT,
            f"seal keys: {old.fingerprint[:16]}… is not a registered seal of {caller.code}",
        )
    _authorise_registry_change(caller, caller.code)
    fingerprints = caller.seal_fingerprints
    if new.fingerprint not in fingerprints:
        fingerprints = (*fingerprints, new.fingerprint)
    updated = dataclasses.replace(caller, seal_fingerprints=fingerprints)
    records = [updated if r.code == caller.code else r for r in registry]
    await _save_registry(stub, records, revision=await _registry_revision(stub) + 1)
    for period in (old, new):
        await stub.put_state(SEAL_KEY_PREFIX + period.fingerprint, canonical_json(period.to_dict()))
    return updated


async def seal_key_periods(stub: Stub, fingerprints: Sequence[str]) -> list[SealKeyPeriod]:
    """The recorded validity periods of these seal fingerprints (unknown ones left out)."""
    out = []
    for fp in fingerprints:
        raw = await stub.get_state(SEAL_KEY_PREFIX + fp)
        if raw:
            out.append(SealKeyPeriod.from_dict(raw))
    return out


def _authorise_registry_change(caller: AgencyRecord, target_agency: str) -> None:
    """Self-service rotation: an agency may add a seal key to its own record only, with no
    vote (the old key stays listed, so nothing that verified stops verifying). Every other
    registry change (a new agency, a seal added to or retired from another record, changed
    certificate types) needs a majority of agencies: see :mod:`chaincode.governance`."""
    if caller.code != target_agency:
        raise ContractError(
            ErrorCode.NOT_ISSUER, f"agency {caller.code} may not change {target_agency}'s record"
        )


async def _registry_revision(stub: Stub) -> int:
    raw = await stub.get_state(REGISTRY_KEY)
    try:
        revision = json.loads(raw or b"{}")[_REGISTRY_REVISION]
    except (ValueError, KeyError, TypeError):
        raise ContractError(ErrorCode.CORRUPT_STATE, "the registry has no revision") from None
    if not isinstance(revision, int):
        raise ContractError(ErrorCode.CORRUPT_STATE, "the registry revision is not a number")
    return revision


def _caller_agency(stub: Stub, registry: Sequence[AgencyRecord]) -> AgencyRecord:
    msp = stub.get_creator_msp()
    for agency in registry:
        if agency.msp_id == msp:
            return agency
    raise ContractError(
        ErrorCode.UNKNOWN_AGENCY,
        f"caller MSP {msp!r} is not a registered agency; ask the network to register it",
    )


# --- anchoring --------------------------------------------------------------------------


async def anchor_batch(stub: Stub, entries: Sequence[AnchorEntry]) -> list[AnchorOutcome]:
    """Anchor many certificates in one transaction, all or nothing.

    Rules, per entry, for the calling agency:
    1. the agency is registered for ``cert_type``;
    2. a new ``cert_id`` is written once, with status ``active``;
    3. an id already anchored by this agency with exactly the same entry is an idempotent
       retry: outcome ``already-anchored``, nothing written;
    4. an id anchored with another digest (``DIGEST_CONFLICT``), other metadata
       (``ENTRY_CONFLICT``) or by another agency (``NOT_ISSUER``) is refused;
    5. an entry with a ``unique_key`` is refused (``ALREADY_ISSUED``) while another
       certificate of its type anchored under that key is not revoked, unless it is a
       re-issue naming that very certificate in ``supersedes``: then the superseded one is
       revoked by this transaction ("superseded by <id>"), both changes in the history.
       ``supersedes`` naming anything else is ``SUPERSEDE_CONFLICT``.
    Any refusal refuses the whole batch, naming the entry; nothing is written.
    """
    batch = check_tuple("entries", entries, MAX_BATCH)
    if not batch:
        raise ContractError(ErrorCode.BAD_ARGUMENT, "entries: the batch is empty")
    typed: list[AnchorEntry] = []
    seen: set[str] = set()
    for item in batch:
        if not isinstance(item, AnchorEntry):
            raise ContractError(ErrorCode.BAD_ARGUMENT, "entries: items must be AnchorEntry")
        # Reads do not see this transaction's writes (Fabric semantics), so a duplicate id
        # in one batch would slip past rule 2; refuse it outright.
        if item.cert_id in seen:
            raise ContractError(
                ErrorCode.BAD_ARGUMENT,
                f"{item.cert_id}: appears twice in one batch",
                cert_id=item.cert_id,
            )
        seen.add(item.cert_id)
        typed.append(item)

    agency = _caller_agency(stub, await _load_registry(stub))
    allowed = frozenset(agency.allowed_types)
    tx_id = stub.get_tx_id()
    now = stub.get_tx_timestamp()
    format_timestamp(now)  # refuses a naive platform timestamp before anything else
    outcomes: list[AnchorOutcome] = []
    new_states: list[CertificateState] = []
    unique_writes: list[tuple[str, str]] = []
    superseded: list[CertificateState] = []
    for entry in typed:
        cid = entry.cert_id
        if entry.cert_type not in allowed:
            raise ContractError(
                ErrorCode.TYPE_NOT_ALLOWED,
                f"{cid}: agency {agency.code} is not registered for certificate type "
                f"{entry.cert_type!r} (registered: {sorted(allowed)})",
                cert_id=cid,
            )
        raw = await stub.get_state(cert_key(cid))
        if raw:
            outcomes.append(_retry_outcome(agency.code, entry, CertificateState.from_bytes(raw)))
            continue
        if entry.unique_key is not None:
            key = unique_key(entry.cert_type, entry.unique_key)
            if key in (k for k, _ in unique_writes):
                # Reads do not see this transaction's writes: two in one batch would both pass.
                raise ContractError(
                    ErrorCode.ALREADY_ISSUED,
                    f"{cid}: another certificate in this batch has the same uniqueness key",
                    cert_id=cid,
                )
            replaced = await _check_unique(stub, agency.code, entry, key)
            if replaced is not None:
                superseded.append(
                    dataclasses.replace(
                        replaced,
                        status=CertStatus.REVOKED,
                        reason=superseded_reason(cid),
                        version=replaced.version + 1,
                        updated_tx=tx_id,
                        updated_at=now,
                    )
                )
            unique_writes.append((key, cid))
        new_states.append(CertificateState.anchored(agency.code, entry, tx_id, now))
        outcomes.append(AnchorOutcome(cid, "anchored", tx_id))

    # Writes only after every entry passed: the batch is atomic by construction, not only
    # because the platform discards the write set of a failed transaction.
    for state in new_states:
        await stub.put_state(cert_key(state.cert_id), state.to_bytes())
    for key, cid in unique_writes:
        await stub.put_state(key, cid.encode())
    for state in superseded:
        await stub.put_state(cert_key(state.cert_id), state.to_bytes())
    if new_states:
        event: dict[str, Any] = {
            "agency": agency.code,
            "cert_ids": [s.cert_id for s in new_states],
        }
        if superseded:  # one event per transaction: the revocations ride on this one
            event["superseded"] = [s.cert_id for s in superseded]
        stub.set_event("anchored", canonical_json(event))
    return outcomes


async def _check_unique(
    stub: Stub, agency: str, entry: AnchorEntry, key: str
) -> CertificateState | None:
    """Rule 5 of :func:`anchor_batch` for one new entry: the certificate it supersedes, if it
    is a re-issue; refuses a second active certificate under the key."""
    cid = entry.cert_id
    active: CertificateState | None = None
    holder = await stub.get_state(key)
    if holder:
        raw = await stub.get_state(cert_key(holder.decode()))
        if raw:
            current = CertificateState.from_bytes(raw)
            if current.status is not CertStatus.REVOKED:
                active = current
    if entry.supersedes is None:
        if active is not None:
            raise ContractError(
                ErrorCode.ALREADY_ISSUED,
                f"{cid}: {active.cert_id} is the active {entry.cert_type} for the same key; "
                "re-issue it to replace it",
                cert_id=cid,
            )
        return None
    if active is None or active.cert_id != entry.supersedes:
        raise ContractError(
            ErrorCode.SUPERSEDE_CONFLICT,
            f"{cid}: supersedes {entry.supersedes}, which is not the active {entry.cert_type} "
            f"for its key (the active one: {active.cert_id if active else 'none'})",
            cert_id=cid,
        )
    if active.agency != agency:
        raise ContractError(
            ErrorCode.NOT_ISSUER,
            f"{cid}: {active.cert_id} was issued by agency {active.agency}; only it may "
            "re-issue it",
            cert_id=cid,
        )
    return active


def _retry_outcome(agency: str, entry: AnchorEntry, current: CertificateState) -> AnchorOutcome:
    cid = entry.cert_id
    if current.agency != agency:
        raise ContractError(
            ErrorCode.NOT_ISSUER,
            f"{cid}: already anchored by agency {current.agency}; ids are written once",
            cert_id=cid,
        )
    if current.digest != entry.digest:
        raise ContractError(
            ErrorCode.DIGEST_CONFLICT,
            f"{cid}: already anchored with digest {current.digest}, not {entry.digest}; "
            "a changed document needs a new certificate id",
            cert_id=cid,
        )
    if not current.matches(agency, entry):
        raise ContractError(
            ErrorCode.ENTRY_CONFLICT,
            f"{cid}: already anchored with the same digest but different holder, type or "
            "validity; anchored entries cannot be edited",
            cert_id=cid,
        )
    return AnchorOutcome(cid, "already-anchored", current.anchored_tx)


# --- status changes ---------------------------------------------------------------------

_Action = Literal["revoke", "suspend", "reinstate"]
# action -> (statuses it applies to, resulting status, event name)
_TRANSITIONS: dict[_Action, tuple[frozenset[CertStatus], CertStatus, str]] = {
    "revoke": (frozenset({CertStatus.ACTIVE, CertStatus.SUSPENDED}), CertStatus.REVOKED, "revoked"),
    "suspend": (frozenset({CertStatus.ACTIVE}), CertStatus.SUSPENDED, "suspended"),
    "reinstate": (frozenset({CertStatus.SUSPENDED}), CertStatus.ACTIVE, "reinstated"),
}


async def revoke(stub: Stub, cert_id: str, reason: str) -> CertificateState:
    """Revoke for good. Only the issuing agency; a revoked certificate never changes again."""
    return await _change_status(stub, cert_id, reason, "revoke")


async def suspend(stub: Stub, cert_id: str, reason: str) -> CertificateState:
    """Suspend an active certificate (reversible by :func:`reinstate`). Issuer only."""
    return await _change_status(stub, cert_id, reason, "suspend")


async def reinstate(stub: Stub, cert_id: str, reason: str) -> CertificateState:
    """Lift a suspension. Issuer only; a revoked certificate cannot be reinstated."""
    return await _change_status(stub, cert_id, reason, "reinstate")


async def _change_status(
    stub: Stub, cert_id: str, reason: str, action: _Action
) -> CertificateState:
    check_id("cert_id", cert_id, MAX_ID_LEN)
    # The reason is free text kept forever on every node: callers must put a short
    # administrative reason here, never personal data (see DESIGN.md, "The ledger").
    check_text(f"{cert_id}: reason", reason, MAX_REASON_LEN, cert_id)
    agency = _caller_agency(stub, await _load_registry(stub))
    raw = await stub.get_state(cert_key(cert_id))
    if not raw:
        raise ContractError(
            ErrorCode.NOT_FOUND, f"{cert_id}: not found on the ledger", cert_id=cert_id
        )
    current = CertificateState.from_bytes(raw)
    if current.agency != agency.code:
        raise ContractError(
            ErrorCode.NOT_ISSUER,
            f"{cert_id}: issued by agency {current.agency}; only it may {action} it",
            cert_id=cert_id,
        )
    if current.status is CertStatus.REVOKED:
        raise ContractError(
            ErrorCode.ALREADY_REVOKED,
            f"{cert_id}: revoked on {current.updated_at:%Y-%m-%d}; revocation is final",
            cert_id=cert_id,
        )
    applies_to, new_status, event = _TRANSITIONS[action]
    if current.status not in applies_to:
        raise ContractError(
            ErrorCode.INVALID_TRANSITION,
            f"{cert_id}: cannot {action} a certificate that is {current.status.value}",
            cert_id=cert_id,
        )
    tx_id = stub.get_tx_id()
    now = stub.get_tx_timestamp()
    updated = dataclasses.replace(
        current,
        status=new_status,
        reason=reason,
        version=current.version + 1,
        updated_tx=tx_id,
        updated_at=now,
    )
    await stub.put_state(cert_key(cert_id), updated.to_bytes())
    stub.set_event(event, canonical_json({"cert_id": cert_id, "status": new_status.value}))
    return updated


async def revoke_batch(stub: Stub, cert_ids: Sequence[str], reason: str) -> list[CertificateState]:
    """Revoke many certificates of the calling agency in one transaction, all or nothing
    (e.g. every certificate sealed with a compromised seal key). Certificates that are
    already revoked stay as they are (their original reason is kept) and are returned
    unchanged; any other refusal (unknown id, another agency's certificate, a duplicate
    id) refuses the whole batch before anything is written.
    """
    ids = check_tuple("cert_ids", cert_ids, MAX_BATCH)
    check_text("reason", reason, MAX_REASON_LEN)
    agency = _caller_agency(stub, await _load_registry(stub))
    seen: set[str] = set()
    current: list[CertificateState] = []
    for cert_id in ids:
        check_id("cert_id", cert_id, MAX_ID_LEN)
        assert isinstance(cert_id, str)
        if cert_id in seen:
            raise ContractError(
                ErrorCode.BAD_ARGUMENT, f"{cert_id}: appears twice in the batch", cert_id=cert_id
            )
        seen.add(cert_id)
        raw = await stub.get_state(cert_key(cert_id))
        if not raw:
            raise ContractError(
                ErrorCode.NOT_FOUND, f"{cert_id}: not found on the ledger", cert_id=cert_id
            )
        state = CertificateState.from_bytes(raw)
        if state.agency != agency.code:
            raise ContractError(
                ErrorCode.NOT_ISSUER,
                f"{cert_id}: issued by agency {state.agency}; only it may revoke it",
                cert_id=cert_id,
            )
        current.append(state)
    tx_id = stub.get_tx_id()
    now = stub.get_tx_timestamp()
    out: list[CertificateState] = []
    changed: list[str] = []
    for state in current:
        if state.status is CertStatus.REVOKED:
            out.append(state)
            continue
        updated = dataclasses.replace(
            state,
            status=CertStatus.REVOKED,
            reason=reason,
            version=state.version + 1,
            updated_tx=tx_id,
            updated_at=now,
        )
        await stub.put_state(cert_key(state.cert_id), updated.to_bytes())
        changed.append(state.cert_id)
        out.append(updated)
    stub.set_event("revoked_batch", canonical_json({"cert_ids": changed, "status": "revoked"}))
    return out


# --- reads ------------------------------------------------------------------------------


async def get_certificate(stub: Stub, cert_id: str) -> CertificateState | None:
    """The current record, or ``None`` when the id was never anchored."""
    check_id("cert_id", cert_id, MAX_ID_LEN)
    raw = await stub.get_state(cert_key(cert_id))
    return CertificateState.from_bytes(raw) if raw else None


async def get_history(stub: Stub, cert_id: str) -> list[CertificateVersion]:
    """Every version of the record, oldest first; empty when the id was never anchored."""
    check_id("cert_id", cert_id, MAX_ID_LEN)
    states: list[CertificateState] = []
    for item in await stub.get_history(cert_key(cert_id)):
        if item.is_delete:
            raise ContractError(
                ErrorCode.CORRUPT_STATE, f"{cert_id}: deleted from state, which no rule allows"
            )
        state = CertificateState.from_bytes(item.value)
        if state.updated_tx != item.tx_id:
            raise ContractError(
                ErrorCode.CORRUPT_STATE,
                f"{cert_id}: version {state.version} claims tx {state.updated_tx} but was "
                f"written by {item.tx_id}",
            )
        states.append(state)
    states.sort(key=lambda s: s.version)
    if [s.version for s in states] != list(range(1, len(states) + 1)):
        raise ContractError(ErrorCode.CORRUPT_STATE, f"{cert_id}: history has gaps or repeats")
    return [
        CertificateVersion(s.updated_tx, s.updated_at, s.version, s.status, s.reason)
        for s in states
    ]
