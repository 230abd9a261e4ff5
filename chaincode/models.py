"""Frozen, validated values the contract reads, writes and returns.

Inputs (``AgencyRecord``, ``AnchorEntry``) validate on construction, so an invalid one cannot
exist in memory; ``from_dict``/``from_bytes`` parse the wire and state forms strictly (exact key
set, exact spellings). State is stored
as canonical JSON (sorted keys, no whitespace, UTF-8) so every peer executing the same
transaction produces byte-identical writes, which endorsement under Fabric and the Merkle
leaves of the embedded ledger both depend on.

What is *not* here on purpose: names, national ids or any other personal data. The holder
arrives as a keyed digest computed off-ledger; a ledger cannot forget what it was told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
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
from chaincode.errors import ContractError, ErrorCode

__all__ = [
    "MAX_AGENCIES",
    "MAX_BATCH",
    "MAX_ID_LEN",
    "MAX_REASON_LEN",
    "AgencyRecord",
    "AnchorEntry",
    "AnchorOutcome",
    "AnchorStatus",
    "CertStatus",
    "CertificateState",
    "CertificateVersion",
    "SealKeyPeriod",
    "canonical_json",
    "is_cert_id",
]

MAX_BATCH = 5000
"""Most entries in one ``anchor_batch``: bounds a transaction's size and execution time."""
MAX_ID_LEN = 128
MAX_REASON_LEN = 500
MAX_AGENCIES = 1000
_MAX_CODE_LEN = 64
_MAX_NAME_LEN = 200
_MAX_TYPES = 500
_MAX_FINGERPRINTS = 50

AnchorStatus = Literal["anchored", "already-anchored"]


class CertStatus(StrEnum):
    """Lifecycle of an anchored certificate. ``revoked`` is final."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


def canonical_json(value: object) -> bytes:
    """The single byte form of a JSON value used for state, events and digests."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def is_cert_id(value: object) -> bool:
    """True when ``value`` is a well-formed certificate id (one that could be anchored)."""
    try:
        check_id("cert_id", value, MAX_ID_LEN)
    except ContractError:
        return False
    return True


def _load_object(
    what: str, raw: bytes | dict[str, Any], keys: frozenset[str] | None
) -> dict[str, Any]:
    """Decode (if needed) and check that exactly ``keys`` are present (any, for ``None``)."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: must be a JSON object")
    if keys is not None and raw.keys() != keys:
        missing = sorted(keys - raw.keys())
        extra = sorted(raw.keys() - keys)
        raise ContractError(
            ErrorCode.BAD_ARGUMENT, f"{what}: missing fields {missing}, unexpected fields {extra}"
        )
    return raw


def _iso_or_none(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date_or_none(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _int(what: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: must be a positive integer")
    return value


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """A registered agency: who it is on the ledger and what it may anchor.

    ``seal_fingerprints`` are SHA-256 fingerprints (lowercase hex of the DER) of the seal
    certificates whose signatures verification accepts as this agency's; the contract
    itself does not see seals, it only keeps the list authoritative and replicated.
    """

    code: str
    msp_id: str
    name_zh: str
    name_en: str
    allowed_types: tuple[str, ...]
    seal_fingerprints: tuple[str, ...]

    _KEYS = frozenset(
        {"code", "msp_id", "name_zh", "name_en", "allowed_types", "seal_fingerprints"}
    )

    def __post_init__(self) -> None:
        check_id("agency code", self.code, _MAX_CODE_LEN)
        what = f"agency {self.code}"
        check_id(f"{what}: msp_id", self.msp_id, MAX_ID_LEN)
        check_text(f"{what}: name_zh", self.name_zh, _MAX_NAME_LEN)
        check_text(f"{what}: name_en", self.name_en, _MAX_NAME_LEN)
        types = check_tuple(f"{what}: allowed_types", self.allowed_types, _MAX_TYPES)
        for t in types:
            check_id(f"{what}: cert type", t, _MAX_CODE_LEN)
        seals = check_tuple(f"{what}: seal_fingerprints", self.seal_fingerprints, _MAX_FINGERPRINTS)
        for fp in seals:
            check_hex64(f"{what}: seal fingerprint", fp)
        if len(set(types)) != len(types) or len(set(seals)) != len(seals):
            raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: duplicate cert type or seal")
        # Fail closed: an agency that may issue but has no seal could only ever produce
        # certificates that no verifier can tie to it.
        if types and not seals:
            raise ContractError(
                ErrorCode.BAD_ARGUMENT,
                f"{what}: may issue {list(types)} but lists no seal certificate fingerprint",
            )
        object.__setattr__(self, "allowed_types", types)
        object.__setattr__(self, "seal_fingerprints", seals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "msp_id": self.msp_id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "allowed_types": list(self.allowed_types),
            "seal_fingerprints": list(self.seal_fingerprints),
        }

    @classmethod
    def from_dict(cls, raw: bytes | dict[str, Any]) -> AgencyRecord:
        d = _load_object("agency", raw, cls._KEYS)
        return cls(
            code=d["code"],
            msp_id=d["msp_id"],
            name_zh=d["name_zh"],
            name_en=d["name_en"],
            allowed_types=d["allowed_types"],
            seal_fingerprints=d["seal_fingerprints"],
        )


@dataclass(frozen=True, slots=True)
class AnchorEntry:
    """One certificate to anchor: its id, the digest of its sealed revision, and metadata."""

    cert_id: str
    digest: str
    """SHA-256 (lowercase hex) of the sealed PDF revision."""
    holder_digest: str
    """Keyed digest (lowercase hex, 32 bytes) of the holder identifier, never the identifier."""
    cert_type: str
    valid_from: str
    """First day of validity, ISO ``YYYY-MM-DD``."""
    valid_until: str | None
    """Last day of validity, ISO ``YYYY-MM-DD``; ``None`` when it does not expire."""
    unique_key: str | None = None
    """Keyed digest (lowercase hex, 32 bytes) of what may be active only once per type, e.g. a
    business licence's credit code; ``None`` for a type without such a rule."""
    supersedes: str | None = None
    """A re-issue: the id of the certificate this one replaces (revoked by the same
    transaction); it must be the active certificate for ``unique_key``."""

    # Always present; the optional keys appear only when set, so an entry without them
    # serialises exactly as entries did before they existed.
    _KEYS = frozenset(
        {"cert_id", "digest", "holder_digest", "cert_type", "valid_from", "valid_until"}
    )
    _OPTIONAL = frozenset({"unique_key", "supersedes"})

    def __post_init__(self) -> None:
        cid = check_id("cert_id", self.cert_id, MAX_ID_LEN)
        check_hex64(f"{cid}: digest", self.digest, cid)
        check_hex64(f"{cid}: holder_digest", self.holder_digest, cid)
        check_id(f"{cid}: cert_type", self.cert_type, _MAX_CODE_LEN, cid)
        if self.unique_key is not None:
            check_hex64(f"{cid}: unique_key", self.unique_key, cid)
        if self.supersedes is not None:
            check_id(f"{cid}: supersedes", self.supersedes, MAX_ID_LEN, cid)
            if self.unique_key is None:
                raise ContractError(
                    ErrorCode.BAD_ARGUMENT,
                    f"{cid}: a re-issue needs the unique_key it is re-issued under",
                    cert_id=cid,
                )
            if self.supersedes == cid:
                raise ContractError(
                    ErrorCode.BAD_ARGUMENT, f"{cid}: cannot supersede itself", cert_id=cid
                )
        start = date_from_iso(f"{cid}: valid_from", self.valid_from, cid)
        if self.valid_until is not None:
            end = date_from_iso(f"{cid}: valid_until", self.valid_until, cid)
            if end < start:
                raise ContractError(
                    ErrorCode.BAD_ARGUMENT,
                    f"{cid}: valid_until {end} is before valid_from {start}",
                    cert_id=cid,
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cert_id": self.cert_id,
            "digest": self.digest,
            "holder_digest": self.holder_digest,
            "cert_type": self.cert_type,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }
        if self.unique_key is not None:
            out["unique_key"] = self.unique_key
        if self.supersedes is not None:
            out["supersedes"] = self.supersedes
        return out

    @classmethod
    def from_dict(cls, raw: bytes | dict[str, Any]) -> AnchorEntry:
        if isinstance(raw, bytes | bytearray):
            raw = _load_object("anchor entry", raw, None)
        keys = cls._KEYS | (cls._OPTIONAL & raw.keys()) if isinstance(raw, dict) else cls._KEYS
        return cls(**_load_object("anchor entry", raw, keys))


@dataclass(frozen=True, slots=True)
class AnchorOutcome:
    """What ``anchor_batch`` did with one entry.

    ``anchored_tx`` is the transaction that first anchored the id: this one for
    ``"anchored"``, an earlier one for ``"already-anchored"``.
    """

    cert_id: str
    status: AnchorStatus
    anchored_tx: str


@dataclass(frozen=True, slots=True)
class CertificateState:
    """The current on-ledger record of one certificate (one state key per certificate).

    ``version`` starts at 1 and grows by one per change; history is ordered by it, never
    by timestamps (equal timestamps are possible, and history backends order differently).
    """

    cert_id: str
    agency: str
    cert_type: str
    digest: str
    holder_digest: str
    valid_from: date
    valid_until: date | None
    status: CertStatus
    reason: str | None
    version: int
    anchored_tx: str
    anchored_at: datetime
    updated_tx: str
    updated_at: datetime

    _KEYS = frozenset(
        {
            "cert_id",
            "agency",
            "cert_type",
            "digest",
            "holder_digest",
            "valid_from",
            "valid_until",
            "status",
            "reason",
            "version",
            "anchored_tx",
            "anchored_at",
            "updated_tx",
            "updated_at",
        }
    )

    @classmethod
    def anchored(
        cls, agency: str, entry: AnchorEntry, tx_id: str, at: datetime
    ) -> CertificateState:
        """Version 1 of a record: ``entry`` as anchored by ``agency``, status active."""
        return cls(
            cert_id=entry.cert_id,
            agency=agency,
            cert_type=entry.cert_type,
            digest=entry.digest,
            holder_digest=entry.holder_digest,
            valid_from=date.fromisoformat(entry.valid_from),
            valid_until=_date_or_none(entry.valid_until),
            status=CertStatus.ACTIVE,
            reason=None,
            version=1,
            anchored_tx=tx_id,
            anchored_at=at,
            updated_tx=tx_id,
            updated_at=at,
        )

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "cert_id": self.cert_id,
                "agency": self.agency,
                "cert_type": self.cert_type,
                "digest": self.digest,
                "holder_digest": self.holder_digest,
                "valid_from": self.valid_from.isoformat(),
                "valid_until": _iso_or_none(self.valid_until),
                "status": self.status.value,
                "reason": self.reason,
                "version": self.version,
                "anchored_tx": self.anchored_tx,
                "anchored_at": format_timestamp(self.anchored_at),
                "updated_tx": self.updated_tx,
                "updated_at": format_timestamp(self.updated_at),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> CertificateState:
        """Parse a stored value. Anything malformed is ``CORRUPT_STATE``: state is written
        only by the contract, so a value that does not parse was damaged outside it."""
        try:
            d = _load_object("certificate state", raw, cls._KEYS)
            entry = AnchorEntry.from_dict({k: d[k] for k in AnchorEntry._KEYS})
            reason = d["reason"]
            if reason is not None:
                check_text("reason", reason, MAX_REASON_LEN)
            if d["status"] not in CertStatus.__members__.values():
                raise ContractError(ErrorCode.BAD_ARGUMENT, f"unknown status {d['status']!r}")
            return cls(
                cert_id=entry.cert_id,
                agency=check_id("agency", d["agency"], _MAX_CODE_LEN),
                cert_type=entry.cert_type,
                digest=entry.digest,
                holder_digest=entry.holder_digest,
                valid_from=date.fromisoformat(entry.valid_from),
                valid_until=None
                if entry.valid_until is None
                else date.fromisoformat(entry.valid_until),
                status=CertStatus(d["status"]),
                reason=reason,
                version=_int("version", d["version"]),
                anchored_tx=check_id("anchored_tx", d["anchored_tx"], MAX_ID_LEN),
                anchored_at=parse_timestamp("anchored_at", d["anchored_at"]),
                updated_tx=check_id("updated_tx", d["updated_tx"], MAX_ID_LEN),
                updated_at=parse_timestamp("updated_at", d["updated_at"]),
            )
        except ContractError as exc:
            raise ContractError(
                ErrorCode.CORRUPT_STATE, f"stored certificate state does not parse: {exc.message}"
            ) from None

    def matches(self, agency: str, entry: AnchorEntry) -> bool:
        """True when ``entry`` from ``agency`` is exactly what was anchored (idempotent retry)."""
        return (
            self.agency == agency
            and self.digest == entry.digest
            and self.holder_digest == entry.holder_digest
            and self.cert_type == entry.cert_type
            and self.valid_from.isoformat() == entry.valid_from
            and _iso_or_none(self.valid_until) == entry.valid_until
        )


@dataclass(frozen=True, slots=True)
class CertificateVersion:
    """One version of a certificate's record: the status it had from ``timestamp`` on."""

    tx_id: str
    timestamp: datetime
    version: int
    status: CertStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class SealKeyPeriod:
    """One seal certificate of an agency and when it may seal (its certificate's
    validity, ISO 8601 UTC instants). Recorded by seal-key rotation so that verifiers can
    tell which key was current when, while every listed key keeps verifying old seals."""

    agency: str
    fingerprint: str
    valid_from: str
    valid_until: str

    _KEYS = frozenset({"agency", "fingerprint", "valid_from", "valid_until"})

    def __post_init__(self) -> None:
        check_id("agency code", self.agency, _MAX_CODE_LEN)
        check_hex64("seal fingerprint", self.fingerprint)
        for what in ("valid_from", "valid_until"):
            value = getattr(self, what)
            try:
                parsed = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise ContractError(
                    ErrorCode.BAD_ARGUMENT, f"{what}: not an ISO 8601 time"
                ) from None
            if parsed.tzinfo is None:
                raise ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: needs a time zone")
        if datetime.fromisoformat(self.valid_until) <= datetime.fromisoformat(self.valid_from):
            raise ContractError(ErrorCode.BAD_ARGUMENT, "valid_until must be after valid_from")

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "fingerprint": self.fingerprint,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }

    @classmethod
    def from_dict(cls, raw: bytes | dict[str, Any]) -> SealKeyPeriod:
        d = _load_object("seal key", raw, cls._KEYS)
        return cls(d["agency"], d["fingerprint"], d["valid_from"], d["valid_until"])
