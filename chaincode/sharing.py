"""Contract functions for cross-agency sharing: data-sharing agreements and audit-log heads.

Additive to :mod:`chaincode.contract` and bound by the same rules (deterministic, stub-only
I/O, canonical JSON, the caller's authenticated MSP id as the only identity).

Agreements are *data*, not code: "agency X may look up certificate types Y for purposes Z,
until date D, and receives fields F". They live on the ledger so every agency's node
enforces the same rules; only the issuing (granting) agency may create or revoke its own.
One state key per grantor (``agreements/<grantor>``) holds that grantor's list: listing needs
no range query, and agreements change rarely enough that one key per grantor never contends.

Audit heads: each service keeps an append-only, hash-chained audit log off-ledger and
periodically anchors its head here (``audit/<agency>/<log id>``). The contract refuses a head
that goes backwards or differs at the same length, so a rewritten log can never be anchored
over the one the ledger has already seen.

What is *not* here: holder identifiers, names or any personal data; field *names* and purpose
codes only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from chaincode._checks import (
    check_hex64,
    check_id,
    check_text,
    check_tuple,
    date_from_iso,
    format_timestamp,
    parse_timestamp,
)
from chaincode.contract import _caller_agency, _load_registry
from chaincode.errors import ContractError, ErrorCode
from chaincode.models import MAX_ID_LEN, MAX_REASON_LEN, canonical_json
from chaincode.stub import Stub

__all__ = [
    "AGREEMENTS_KEY_PREFIX",
    "AUDIT_KEY_PREFIX",
    "Agreement",
    "AgreementTerms",
    "AuditAnchor",
    "anchor_audit_head",
    "create_agreement",
    "get_audit_head",
    "list_agreements",
    "revoke_agreement",
]

AGREEMENTS_KEY_PREFIX = "agreements/"
AUDIT_KEY_PREFIX = "audit/"
MAX_AGREEMENTS_PER_GRANTOR = 500
_MAX_CODE_LEN = 64
_MAX_ITEMS = 100

AgreementStatus = Literal["active", "revoked"]


def _codes(what: str, value: object) -> tuple[str, ...]:
    items = check_tuple(what, value, _MAX_ITEMS)
    if not items:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: at least one is required")
    out = tuple(check_id(what, v, _MAX_CODE_LEN) for v in items)
    if len(set(out)) != len(out):
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: duplicates")
    # One spelling per set (sorted), so equal agreements serialise to equal bytes.
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class AgreementTerms:
    """What a granting agency proposes; validated on construction."""

    grantee: str
    cert_types: tuple[str, ...]
    purposes: tuple[str, ...]
    fields: tuple[str, ...]
    valid_until: str
    """Last day the agreement applies, ISO ``YYYY-MM-DD``."""

    def __post_init__(self) -> None:
        check_id("grantee", self.grantee, _MAX_CODE_LEN)
        object.__setattr__(self, "cert_types", _codes("cert_types", self.cert_types))
        object.__setattr__(self, "purposes", _codes("purposes", self.purposes))
        object.__setattr__(self, "fields", _codes("fields", self.fields))
        date_from_iso("valid_until", self.valid_until)

    @classmethod
    def from_dict(cls, raw: Any) -> AgreementTerms:
        """Parse the wire form (``to_dict``), as a Fabric transaction argument arrives."""
        keys = {"grantee", "cert_types", "purposes", "fields", "valid_until"}
        if isinstance(raw, bytes | bytearray):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ContractError(ErrorCode.BAD_ARGUMENT, "terms: not valid JSON") from None
        if not isinstance(raw, dict) or raw.keys() != keys:
            raise ContractError(ErrorCode.BAD_ARGUMENT, f"terms: exactly the fields {sorted(keys)}")
        return cls(
            raw["grantee"], raw["cert_types"], raw["purposes"], raw["fields"], raw["valid_until"]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "grantee": self.grantee,
            "cert_types": list(self.cert_types),
            "purposes": list(self.purposes),
            "fields": list(self.fields),
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True, slots=True)
class Agreement:
    """A sharing agreement as stored on the ledger."""

    agreement_id: str
    grantor: str
    grantee: str
    cert_types: tuple[str, ...]
    purposes: tuple[str, ...]
    fields: tuple[str, ...]
    valid_until: date
    status: AgreementStatus
    reason: str | None
    created_tx: str
    created_at: datetime
    updated_tx: str
    updated_at: datetime

    _KEYS = frozenset(
        {
            "agreement_id",
            "grantor",
            "grantee",
            "cert_types",
            "purposes",
            "fields",
            "valid_until",
            "status",
            "reason",
            "created_tx",
            "created_at",
            "updated_tx",
            "updated_at",
        }
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "grantor": self.grantor,
            "grantee": self.grantee,
            "cert_types": list(self.cert_types),
            "purposes": list(self.purposes),
            "fields": list(self.fields),
            "valid_until": self.valid_until.isoformat(),
            "status": self.status,
            "reason": self.reason,
            "created_tx": self.created_tx,
            "created_at": format_timestamp(self.created_at),
            "updated_tx": self.updated_tx,
            "updated_at": format_timestamp(self.updated_at),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Agreement:
        if not isinstance(raw, dict) or raw.keys() != cls._KEYS:
            raise ContractError(ErrorCode.CORRUPT_STATE, "stored agreement has the wrong fields")
        try:
            terms = AgreementTerms(
                raw["grantee"],
                raw["cert_types"],
                raw["purposes"],
                raw["fields"],
                raw["valid_until"],
            )
            if raw["status"] not in ("active", "revoked"):
                raise ContractError(ErrorCode.BAD_ARGUMENT, "unknown agreement status")
            reason = raw["reason"]
            if reason is not None:
                check_text("reason", reason, MAX_REASON_LEN)
            return cls(
                agreement_id=check_id("agreement_id", raw["agreement_id"], MAX_ID_LEN),
                grantor=check_id("grantor", raw["grantor"], _MAX_CODE_LEN),
                grantee=terms.grantee,
                cert_types=terms.cert_types,
                purposes=terms.purposes,
                fields=terms.fields,
                valid_until=date.fromisoformat(terms.valid_until),
                status=raw["status"],
                reason=reason,
                created_tx=check_id("created_tx", raw["created_tx"], MAX_ID_LEN),
                created_at=parse_timestamp("created_at", raw["created_at"]),
                updated_tx=check_id("updated_tx", raw["updated_tx"], MAX_ID_LEN),
                updated_at=parse_timestamp("updated_at", raw["updated_at"]),
            )
        except ContractError as exc:
            raise ContractError(
                ErrorCode.CORRUPT_STATE, f"stored agreement does not parse: {exc.message}"
            ) from None


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """The latest audit-log head a service anchored: ``seq`` entries, the last hashing to
    ``head``. What it does *not* prove: anything about entries appended after ``seq``."""

    agency: str
    log_id: str
    seq: int
    head: str
    version: int
    updated_tx: str
    updated_at: datetime

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "agency": self.agency,
                "log_id": self.log_id,
                "seq": self.seq,
                "head": self.head,
                "version": self.version,
                "updated_tx": self.updated_tx,
                "updated_at": format_timestamp(self.updated_at),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> AuditAnchor:
        try:
            d = json.loads(raw)
            return cls(
                agency=check_id("agency", d["agency"], _MAX_CODE_LEN),
                log_id=check_id("log_id", d["log_id"], MAX_ID_LEN),
                seq=_positive("seq", d["seq"]),
                head=check_hex64("head", d["head"]),
                version=_positive("version", d["version"]),
                updated_tx=check_id("updated_tx", d["updated_tx"], MAX_ID_LEN),
                updated_at=parse_timestamp("updated_at", d["updated_at"]),
            )
        except (ValueError, KeyError, TypeError, ContractError) as exc:
            raise ContractError(
                ErrorCode.CORRUPT_STATE, f"stored audit head does not parse: {exc}"
            ) from None


def _positive(what: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: must be a positive integer")
    return value


def agreements_key(grantor: str) -> str:
    return AGREEMENTS_KEY_PREFIX + grantor


def audit_key(agency: str, log_id: str) -> str:
    return f"{AUDIT_KEY_PREFIX}{agency}/{log_id}"


async def _load_agreements(stub: Stub, grantor: str) -> list[Agreement]:
    raw = await stub.get_state(agreements_key(grantor))
    if not raw:
        return []
    try:
        body = json.loads(raw)
        items = body["agreements"]
    except (ValueError, KeyError, TypeError):
        raise ContractError(
            ErrorCode.CORRUPT_STATE, f"stored agreements of {grantor} do not parse"
        ) from None
    return [Agreement.from_dict(a) for a in items]


async def _save_agreements(stub: Stub, grantor: str, items: list[Agreement]) -> None:
    body = {"agreements": [a.to_dict() for a in items]}
    await stub.put_state(agreements_key(grantor), canonical_json(body))


# --- agreements -------------------------------------------------------------------------


async def create_agreement(stub: Stub, terms: AgreementTerms) -> Agreement:
    """The calling agency grants ``terms.grantee`` access to some of its certificate types.

    Rules: (1) the caller is registered; (2) it is registered for every type it shares (an
    agency can only share what it issues); (3) the grantee is another registered agency;
    (4) the agreement has not already expired.
    """
    if not isinstance(terms, AgreementTerms):
        raise ContractError(ErrorCode.BAD_ARGUMENT, "terms: must be AgreementTerms")
    registry = await _load_registry(stub)
    grantor = _caller_agency(stub, registry)
    not_issued = sorted(set(terms.cert_types) - set(grantor.allowed_types))
    if not_issued:
        raise ContractError(
            ErrorCode.TYPE_NOT_ALLOWED,
            f"agency {grantor.code} does not issue {not_issued}; it can share only its own types",
        )
    if terms.grantee == grantor.code:
        raise ContractError(
            ErrorCode.BAD_ARGUMENT, "grantee: an agency needs no agreement with itself"
        )
    if terms.grantee not in {a.code for a in registry}:
        raise ContractError(
            ErrorCode.UNKNOWN_AGENCY, f"grantee {terms.grantee!r} is not a registered agency"
        )
    now = stub.get_tx_timestamp()
    tx_id = stub.get_tx_id()
    until = date.fromisoformat(terms.valid_until)
    if until < now.date():
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"valid_until: {until} is already in the past")
    current = await _load_agreements(stub, grantor.code)
    if len(current) >= MAX_AGREEMENTS_PER_GRANTOR:
        raise ContractError(
            ErrorCode.BAD_ARGUMENT,
            f"agency {grantor.code} has {len(current)} agreements; at most "
            f"{MAX_AGREEMENTS_PER_GRANTOR} are kept (revoked ones count)",
        )
    # Derived from the transaction id: every endorsing peer computes the same id, and no two
    # transactions share one.
    agreement = Agreement(
        agreement_id="AG-" + check_id("tx_id", tx_id, MAX_ID_LEN)[:24],
        grantor=grantor.code,
        grantee=terms.grantee,
        cert_types=terms.cert_types,
        purposes=terms.purposes,
        fields=terms.fields,
        valid_until=until,
        status="active",
        reason=None,
        created_tx=tx_id,
        created_at=now,
        updated_tx=tx_id,
        updated_at=now,
    )
    if any(a.agreement_id == agreement.agreement_id for a in current):
        raise ContractError(ErrorCode.BAD_ARGUMENT, "agreement id collision; retry")
    await _save_agreements(stub, grantor.code, [*current, agreement])
    stub.set_event(
        "agreement-created",
        canonical_json({"agreement_id": agreement.agreement_id, "grantor": grantor.code}),
    )
    return agreement


async def revoke_agreement(stub: Stub, agreement_id: str, reason: str) -> Agreement:
    """End an agreement now. Only its grantor; revocation is final."""
    check_id("agreement_id", agreement_id, MAX_ID_LEN)
    check_text("reason", reason, MAX_REASON_LEN)
    registry = await _load_registry(stub)
    caller = _caller_agency(stub, registry)
    mine = await _load_agreements(stub, caller.code)
    index = next((i for i, a in enumerate(mine) if a.agreement_id == agreement_id), None)
    if index is None:
        for other in registry:
            if other.code != caller.code and any(
                a.agreement_id == agreement_id for a in await _load_agreements(stub, other.code)
            ):
                raise ContractError(
                    ErrorCode.NOT_ISSUER,
                    f"{agreement_id}: granted by agency {other.code}; only it may revoke it",
                )
        raise ContractError(ErrorCode.NOT_FOUND, f"{agreement_id}: no such agreement")
    current = mine[index]
    if current.status == "revoked":
        raise ContractError(ErrorCode.ALREADY_REVOKED, f"{agreement_id}: already revoked")
    updated = dataclasses.replace(
        current,
        status="revoked",
        reason=reason,
        updated_tx=stub.get_tx_id(),
        updated_at=stub.get_tx_timestamp(),
    )
    mine[index] = updated
    await _save_agreements(stub, caller.code, mine)
    stub.set_event(
        "agreement-revoked",
        canonical_json({"agreement_id": agreement_id, "grantor": caller.code}),
    )
    return updated


async def list_agreements(stub: Stub) -> list[Agreement]:
    """Every agreement of every registered grantor, active and revoked, in registry order."""
    out: list[Agreement] = []
    for agency in await _load_registry(stub):
        out.extend(await _load_agreements(stub, agency.code))
    return out


# --- audit heads ------------------------------------------------------------------------


async def anchor_audit_head(stub: Stub, log_id: str, seq: int, head: str) -> AuditAnchor:
    """Record that the caller's audit log ``log_id`` had ``seq`` entries ending in ``head``.

    Refused: a shorter log than already anchored (entries deleted), or the same length with
    another head (entries edited or reordered). The same head again is a no-op.
    """
    check_id("log_id", log_id, MAX_ID_LEN)
    _positive("seq", seq)
    check_hex64("head", head)
    caller = _caller_agency(stub, await _load_registry(stub))
    key = audit_key(caller.code, log_id)
    raw = await stub.get_state(key)
    previous = AuditAnchor.from_bytes(raw) if raw else None
    if previous is not None:
        if seq < previous.seq:
            raise ContractError(
                ErrorCode.ENTRY_CONFLICT,
                f"audit log {log_id}: {seq} entries, but {previous.seq} were already anchored; "
                "entries were deleted",
            )
        if seq == previous.seq:
            if head != previous.head:
                raise ContractError(
                    ErrorCode.ENTRY_CONFLICT,
                    f"audit log {log_id}: entry {seq} hashes differently from the anchored "
                    "head; entries were edited or reordered",
                )
            return previous  # idempotent: nothing new to anchor
    anchor = AuditAnchor(
        agency=caller.code,
        log_id=log_id,
        seq=seq,
        head=head,
        version=1 if previous is None else previous.version + 1,
        updated_tx=stub.get_tx_id(),
        updated_at=stub.get_tx_timestamp(),
    )
    await stub.put_state(key, anchor.to_bytes())
    stub.set_event("audit-head", canonical_json({"log_id": log_id, "seq": seq}))
    return anchor


async def get_audit_head(stub: Stub, agency: str, log_id: str) -> AuditAnchor | None:
    check_id("agency", agency, _MAX_CODE_LEN)
    check_id("log_id", log_id, MAX_ID_LEN)
    raw = await stub.get_state(audit_key(agency, log_id))
    return AuditAnchor.from_bytes(raw) if raw else None
