"""Fabric invocation -> contract function, and results back to bytes.

Wire form, shared with the gateway client in ``ledger.fabric``: ``args[0]`` is the function
name, ``args[1]`` one canonical-JSON argument. Results are canonical JSON.

``init_registry`` runs only as the chaincode's *init* transaction (``is_init``): the
definition is committed with init required, the peer lets exactly one init through, and
nothing else may be invoked as init. No ordinary client can therefore write a registry.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from chaincode import (
    MAX_BATCH,
    REGISTRY_KEY,
    AgencyRecord,
    AgreementTerms,
    AnchorEntry,
    ContractError,
    ErrorCode,
    RegistryChange,
    Stub,
    anchor_audit_head,
    anchor_batch,
    approve_registry_change,
    canonical_json,
    cert_key,
    create_agreement,
    format_timestamp,
    get_audit_head,
    get_certificate,
    get_history,
    get_registry,
    init_registry,
    list_agreements,
    list_proposals,
    proposal_history,
    propose_registry_change,
    reinstate,
    revoke,
    revoke_agreement,
    suspend,
)

__all__ = ["FUNCTIONS", "INIT_FUNCTION", "dispatch"]

INIT_FUNCTION = "init_registry"


def _obj(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"argument is not JSON: {exc}") from None


def _field(d: Any, name: str) -> Any:
    if not isinstance(d, dict) or name not in d:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"argument must be an object with {name!r}")
    return d[name]


async def _init(stub: Stub, arg: Any) -> bytes:
    agencies = _field(arg, "agencies")
    if not isinstance(agencies, list):
        raise ContractError(ErrorCode.BAD_ARGUMENT, "agencies: must be a list")
    await init_registry(stub, [AgencyRecord.from_dict(a) for a in agencies])
    return b"null"


async def _anchor(stub: Stub, arg: Any) -> bytes:
    if not isinstance(arg, list):
        raise ContractError(ErrorCode.BAD_ARGUMENT, "entries: must be a list")
    entries = [AnchorEntry.from_dict(e) for e in arg]
    prefetch = getattr(stub, "prefetch", None)
    if prefetch is not None and len(entries) <= MAX_BATCH:
        # The contract reads the registry and then every entry's key, one by one; fetch
        # them all first in a few round trips (same values, same read set).
        await prefetch([REGISTRY_KEY, *(cert_key(e.cert_id) for e in entries)])
    outcomes = await anchor_batch(stub, entries)
    return canonical_json([[o.cert_id, o.status, o.anchored_tx] for o in outcomes])


def _change(
    fn: Callable[[Stub, str, str], Awaitable[Any]],
) -> Callable[[Stub, Any], Awaitable[bytes]]:
    async def run(stub: Stub, arg: Any) -> bytes:
        state = await fn(stub, _field(arg, "cert_id"), _field(arg, "reason"))
        result: bytes = state.to_bytes()
        return result

    return run


async def _get(stub: Stub, arg: Any) -> bytes:
    state = await get_certificate(stub, _field(arg, "cert_id"))
    return b"null" if state is None else state.to_bytes()


async def _history(stub: Stub, arg: Any) -> bytes:
    versions = await get_history(stub, _field(arg, "cert_id"))
    return canonical_json(
        [
            [v.tx_id, format_timestamp(v.timestamp), v.version, v.status.value, v.reason]
            for v in versions
        ]
    )


async def _registry(stub: Stub, arg: Any) -> bytes:
    return canonical_json([a.to_dict() for a in await get_registry(stub)])


async def _create_agreement(stub: Stub, arg: Any) -> bytes:
    t = _field(arg, "terms")
    terms = AgreementTerms(
        _field(t, "grantee"),
        _field(t, "cert_types"),
        _field(t, "purposes"),
        _field(t, "fields"),
        _field(t, "valid_until"),
    )
    return canonical_json((await create_agreement(stub, terms)).to_dict())


async def _revoke_agreement(stub: Stub, arg: Any) -> bytes:
    agreement = await revoke_agreement(stub, _field(arg, "agreement_id"), _field(arg, "reason"))
    return canonical_json(agreement.to_dict())


async def _agreements(stub: Stub, arg: Any) -> bytes:
    return canonical_json([a.to_dict() for a in await list_agreements(stub)])


async def _anchor_audit_head(stub: Stub, arg: Any) -> bytes:
    anchor = await anchor_audit_head(
        stub, _field(arg, "log_id"), _field(arg, "seq"), _field(arg, "head")
    )
    result: bytes = anchor.to_bytes()
    return result


async def _audit_head(stub: Stub, arg: Any) -> bytes:
    anchor = await get_audit_head(stub, _field(arg, "agency"), _field(arg, "log_id"))
    if anchor is None:
        return b"null"
    result: bytes = anchor.to_bytes()
    return result


async def _propose(stub: Stub, arg: Any) -> bytes:
    change = RegistryChange.from_dict(_field(arg, "change"))
    proposal = await propose_registry_change(stub, change, _field(arg, "valid_days"))
    return proposal.to_bytes()


async def _approve(stub: Stub, arg: Any) -> bytes:
    return (await approve_registry_change(stub, _field(arg, "proposal_id"))).to_bytes()


async def _proposals(stub: Stub, arg: Any) -> bytes:
    return canonical_json([p.to_dict() for p in await list_proposals(stub)])


async def _proposal_history(stub: Stub, arg: Any) -> bytes:
    steps = await proposal_history(stub, _field(arg, "proposal_id"))
    return canonical_json(
        [
            [s.tx_id, format_timestamp(s.timestamp), s.version, s.status.value, list(s.approvals)]
            for s in steps
        ]
    )


FUNCTIONS: dict[str, Callable[[Stub, Any], Awaitable[bytes]]] = {
    "anchor_batch": _anchor,
    "revoke": _change(revoke),
    "suspend": _change(suspend),
    "reinstate": _change(reinstate),
    "get_certificate": _get,
    "get_history": _history,
    "get_registry": _registry,
    "create_agreement": _create_agreement,
    "revoke_agreement": _revoke_agreement,
    "list_agreements": _agreements,
    "anchor_audit_head": _anchor_audit_head,
    "get_audit_head": _audit_head,
    "propose_registry_change": _propose,
    "approve_registry_change": _approve,
    "list_proposals": _proposals,
    "proposal_history": _proposal_history,
}


async def dispatch(stub: Stub, args: list[bytes], *, is_init: bool) -> bytes:
    """Run one invocation; raises :class:`ContractError` on refusal."""
    if not args:
        raise ContractError(ErrorCode.BAD_ARGUMENT, "no function name in the invocation")
    try:
        name = args[0].decode("ascii")
    except UnicodeDecodeError:
        raise ContractError(ErrorCode.BAD_ARGUMENT, "function name is not ASCII") from None
    if len(args) != 2:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{name}: takes exactly one JSON argument")
    arg = _obj(args[1])
    if is_init:
        if name != INIT_FUNCTION:
            raise ContractError(ErrorCode.BAD_ARGUMENT, f"only {INIT_FUNCTION} runs as init")
        return await _init(stub, arg)
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"unknown function {name!r}")
    return await fn(stub, arg)
