"""Cross-agency lookups under sharing agreements, and the agreements themselves.

The decision is made from data only: the caller's agency, the certificate type (and so its
issuing agency), the stated purpose, today's date and the agreements on the ledger. An
agency's own certificates need no agreement; a foreign agency's need an active, unexpired
agreement from the issuing agency that names the caller, the type and the purpose, and the
caller then receives exactly the agreement's fields, nothing else.

Fail closed: no agreement, an unreadable ledger or an unknown type all deny. Every decision,
allowed or denied, is written to the audit log before the answer leaves. Holder identifiers
are turned into keyed digests on arrival and never stored, logged or echoed.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text

from certificates.agencies import AGENCIES
from certificates.audit.log import AuditEvent, AuditLog
from certificates.caching import Clock, LoadingCache
from certificates.errors import CertificateError, LedgerUnavailableError
from certificates.holder_key import HolderKey
from certificates.ids import CertificateId, InvalidCertificateId
from certificates.sharing.clients import Principal
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES, CertificateType

# The contract's value types validate agreement terms; their error type comes with them.
from ledger import Ledger, LedgerError, LedgerRefused
from ledger.interface import Agreement, AgreementTerms, ContractError

__all__ = ["AccessDenied", "AgreementError", "Decision", "SharingService", "agreement_json"]

# Staleness bounds of this process's caches. Security decisions, so stated here:
#
# - AGREEMENT_CACHE_TTL: agreements (and the decisions made from them) are re-read from the
#   ledger at most this long after the last read, so an agreement revoked or granted by
#   another process (another server worker, the CLI, another agency's server) takes effect
#   here within this many seconds. One revoked or granted through this process takes effect at
#   once: the cache is dropped, and a read that was under way meanwhile is not kept.
# - RECORD_CACHE_TTL: a details answer may reuse one read of a certificate's stored fields and
#   ledger status for at most this long, so a certificate revoked by another process may show
#   its previous status for up to this many seconds (as the public status endpoint may); one
#   revoked through this process is dropped at once (``forget_certificate``). A failed ledger
#   read is never kept. Lookups by holder read each certificate the same way, and reuse which
#   certificates a holder has (by the holder's keyed digest, never the identifier) for as long,
#   so a certificate issued by another process may be missing from them for up to this many
#   seconds; one issued through this process is found at once (``forget_holders``).
AGREEMENT_CACHE_TTL = 1.0  # seconds
RECORD_CACHE_TTL = 1.0  # seconds
_MAX_DECISIONS = 4096  # per agreement snapshot: bounds memory against made-up purposes
_MAX_RECORDS = 65536
_MAX_HOLDERS = 65536
_MAX_RELEASED = 16384
_PREFIX_TYPES = {t.id_prefix: t for t in CERTIFICATE_TYPES.values()}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    code: str
    zh: str
    en: str
    fields: tuple[str, ...] = ()
    agreement_ids: tuple[str, ...] = ()
    # What the audit entry gives as the reason: the code and the agreements relied on. Made
    # once per decision (decisions are cached), not once per lookup.
    reason: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = self.agreement_ids
        object.__setattr__(self, "reason", f"{self.code} {','.join(ids)}" if ids else self.code)


@dataclass(slots=True)
class _Snapshot:
    """The agreements as read from the ledger at ``read_at``, and the decisions made from
    them (they go when the snapshot goes)."""

    read_at: float
    agreements: list[Agreement]
    decisions: dict[tuple[str, str, str, date], Decision] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Stored:
    """What a details or lookup answer is built from: the stored fields and the ledger status."""

    cert_id: str
    data: dict[str, Any]
    agency: str
    valid_until: str | None
    status: str
    reason: str | None


class AccessDenied(CertificateError):
    """A lookup the agreements do not allow; carries the reason in both languages."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.en)
        self.decision = decision


class AgreementError(CertificateError):
    """An agreement request is invalid or was refused: ``code`` says why (each edge maps it
    to its own answer), with the message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_day: list[tuple[int, date]] = [(-1, date.min)]


def _utc_today() -> date:
    """Today's UTC date; the date object is made once a day (this runs for every lookup)."""
    day = int(time.time() // 86400)
    cached = _day[0]
    if cached[0] != day:
        cached = (day, date.fromordinal(_EPOCH_ORDINAL + day))
        _day[0] = cached
    return cached[1]


@functools.lru_cache(maxsize=256)
def _own_agency(fields: tuple[str, ...]) -> Decision:
    # One object per type's field list, so answers built from it can be reused (see
    # SharingService._released_once).
    return Decision(True, "OWN_AGENCY", "本机构证照。", "Own agency.", fields)


def _deny(code: str, zh: str, en: str) -> Decision:
    return Decision(False, code, zh, en)


@functools.lru_cache(maxsize=8192)
def type_of_id(cert_id: str) -> CertificateType | None:
    """The type an id names (its prefix), without reading anything stored."""
    try:
        parsed = CertificateId.parse(cert_id)
    except InvalidCertificateId:
        return None
    return _PREFIX_TYPES.get(parsed.type_prefix)


class SharingService:
    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        audit: AuditLog,
        holder_key: HolderKey | None,
        today: Callable[[], date] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        # One clock for every cache here (tests advance it instead of sleeping).
        self._clock = clock
        self._ledger = ledger
        self._audit = audit
        self._holder_key = holder_key
        self._today = today or _utc_today
        self._cache: _Snapshot | None = None
        self._lock = threading.Lock()
        # Bumped by every change made through this process, under the lock: a read that began
        # before the change is then not cached (it may predate it).
        self._agreements_generation = 0
        # id -> the certificate as stored and on the ledger (None: not stored, not kept)
        self._records: LoadingCache[str, _Stored | None] = LoadingCache(
            _MAX_RECORDS, RECORD_CACHE_TTL, lock=self._lock, clock=clock
        )
        # (type, holder digest) -> ids of that holder's certificates, oldest first
        self._holders: LoadingCache[tuple[str, str], tuple[str, ...]] = LoadingCache(
            _MAX_HOLDERS, RECORD_CACHE_TTL, lock=self._lock, clock=clock
        )
        # (decision, stored) -> the released fields: both are cached objects, so the same pair
        # recurs for every lookup within a cache period and the answer is built once.
        self._released: dict[tuple[int, int], tuple[Decision, _Stored, dict[str, Any]]] = {}
        # Set by the edge to tell issuing agencies about foreign lookups (webhooks):
        # notify(event, cert_id, issuer, details), details as a function called only when
        # someone subscribed. Never given a holder identifier.
        self.notify: Callable[[str, str, str, Callable[[], dict[str, Any]]], object] | None = None

    # -- agreements ----------------------------------------------------------------------

    def agreements(self, *, fresh: bool = False) -> list[Agreement]:
        return self._snapshot(fresh=fresh).agreements

    def _snapshot(self, *, fresh: bool = False) -> _Snapshot:
        started = self._clock()
        snap = self._cache  # read without the lock: a snapshot is replaced whole
        if not fresh and snap is not None and started - snap.read_at < AGREEMENT_CACHE_TTL:
            return snap
        with self._lock:
            generation = self._agreements_generation
        try:
            items = self._ledger.agreements()
        except LedgerError as exc:
            raise LedgerUnavailableError(str(exc)) from None
        snap = _Snapshot(started, items)  # aged from before the read: the bound is strict
        with self._lock:
            if self._agreements_generation == generation:
                self._cache = snap
        return snap

    def _agreements_changed(self) -> None:
        with self._lock:
            self._agreements_generation += 1
            self._cache = None

    def forget_certificate(self, cert_id: str) -> None:
        """Drop what this process keeps about ``cert_id`` (after revoking it here)."""
        self._records.forget(cert_id)

    def forget_holders(self) -> None:
        """Drop which certificates each holder has (after issuing here): the holder of a new
        certificate is not known here, only its digest is, and issuing is rare next to
        looking up."""
        self._holders.forget()

    def create_agreement(
        self,
        who: Principal,
        *,
        grantee: str,
        cert_types: Sequence[str],
        purposes: Sequence[str],
        fields: Sequence[str],
        valid_until: date,
    ) -> Agreement:
        for code in cert_types:
            ctype = CERTIFICATE_TYPES.get(code)
            if ctype is None or ctype.agency != who.agency:
                raise AgreementError(
                    "NOT_OWN_TYPE",
                    f"只能共享本机构签发的证照类型（{code}）。",
                    f"An agency can share only the certificate types it issues ({code}).",
                )
        known = {f for code in cert_types for f in CERTIFICATE_TYPES[code].field_names}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise AgreementError(
                "UNKNOWN_FIELD",
                f"这些字段不属于所共享的证照类型：{', '.join(unknown)}。",
                f"These fields do not belong to the shared types: {', '.join(unknown)}.",
            )
        if grantee not in AGENCIES:
            raise AgreementError(
                "UNKNOWN_AGENCY", "被授权机构不存在。", "The grantee agency does not exist."
            )
        try:
            terms = AgreementTerms(
                grantee,
                tuple(cert_types),
                tuple(purposes),
                tuple(fields),
                valid_until.isoformat(),
            )
            agreement = self._ledger.create_agreement(who.agency, terms)
        except LedgerRefused as exc:
            raise AgreementError(
                "REFUSED", f"账本拒绝了该协议：{exc}", f"The ledger refused: {exc}"
            ) from None
        except LedgerError as exc:
            raise LedgerUnavailableError(str(exc)) from None
        except ContractError as exc:  # the terms' own validation (formats, sizes)
            raise AgreementError(
                "INVALID_AGREEMENT", f"协议内容有误：{exc.message}", exc.message
            ) from None
        self._agreements_changed()
        self._audit.record(
            AuditEvent(
                "agreement-create",
                "ok",
                who.client_id,
                who.agency,
                cert_type=",".join(agreement.cert_types),
                purpose=",".join(agreement.purposes),
                fields=agreement.fields,
                reason=f"{agreement.agreement_id} -> {agreement.grantee}",
            )
        )
        return agreement

    def revoke_agreement(self, who: Principal, agreement_id: str, reason: str) -> Agreement:
        try:
            agreement = self._ledger.revoke_agreement(who.agency, agreement_id, reason)
        except LedgerRefused as exc:
            raise AgreementError(
                exc.code, f"账本拒绝了该操作：{exc}", f"The ledger refused: {exc}"
            ) from None
        except LedgerError as exc:
            raise LedgerUnavailableError(str(exc)) from None
        self._agreements_changed()
        self._audit.record(
            AuditEvent(
                "agreement-revoke",
                "ok",
                who.client_id,
                who.agency,
                reason=f"{agreement_id}: {reason}",
            )
        )
        return agreement

    # -- decisions -----------------------------------------------------------------------

    def decide(self, who: Principal, ctype: CertificateType, purpose: str) -> Decision:
        if ctype.agency == who.agency:
            # An agency reads its own certificates in full; purpose is still recorded.
            return _own_agency(ctype.field_names)
        try:
            snap = self._snapshot()
        except LedgerUnavailableError:
            return _deny(
                "LEDGER_UNAVAILABLE",
                "暂时无法读取账本上的共享协议，查询被拒绝。",
                "The sharing agreements on the ledger cannot be read; the lookup is refused.",
            )
        today = self._today()
        # A decision depends on these and the snapshot only, so it is kept with the snapshot
        # (today's date is part of the key: an agreement expires at midnight exactly).
        key = (who.agency, ctype.code, purpose, today)
        decision = snap.decisions.get(key)
        if decision is None:
            decision = _decide(snap.agreements, who.agency, ctype, purpose, today)
            if len(snap.decisions) < _MAX_DECISIONS:
                snap.decisions[key] = decision
        return decision

    # -- lookups -------------------------------------------------------------------------

    def lookup(
        self,
        who: Principal,
        cert_type: str,
        holder: str,
        purpose: str,
        *,
        sink: list[AuditEvent] | None = None,
    ) -> tuple[Decision, list[dict[str, Any]]]:
        """Certificates of ``cert_type`` held by ``holder``, with the allowed fields only.

        With ``sink``, audit entries are appended there for the caller to write (and to wait
        for) before it answers; without, they are written here."""
        ctype = CERTIFICATE_TYPES.get(cert_type)
        if ctype is None:
            decision = _deny("UNKNOWN_TYPE", "证照类型不存在。", "No such certificate type.")
            self._record(sink, who, "lookup", decision, cert_type=cert_type[:64], purpose=purpose)
            raise AccessDenied(decision)
        decision = self.decide(who, ctype, purpose)
        if not decision.allowed:
            self._record(sink, who, "lookup", decision, cert_type=ctype.code, purpose=purpose)
            raise AccessDenied(decision)
        if self._holder_key is None:
            raise CertificateError("holder lookups need the key passphrase")
        results = []
        for cert_id in self._held_by(ctype, holder):
            stored = self._stored(cert_id, ctype)
            if stored is not None:
                results.append(self._released_once(ctype, decision, stored))
        # One entry per certificate released, so `audit show --certificate` finds each; the
        # holder is never recorded, only what was released.
        if results:
            for r in results:
                self._record(
                    sink,
                    who,
                    "lookup",
                    decision,
                    cert_id=r["id"],
                    cert_type=ctype.code,
                    purpose=purpose,
                )
                self._tell_issuer(who, decision, r["id"], ctype, purpose)
        else:
            self._record(sink, who, "lookup", decision, cert_type=ctype.code, purpose=purpose)
        return decision, results

    def details(
        self,
        who: Principal,
        cert_id: str,
        purpose: str,
        *,
        sink: list[AuditEvent] | None = None,
    ) -> tuple[Decision, dict[str, Any] | None]:
        """One certificate's allowed fields. The decision depends on the id's type only, so a
        denied caller cannot learn whether the id exists."""
        ctype = type_of_id(cert_id)
        if ctype is None:
            return _deny("NOT_FOUND", "未找到该证照。", "No certificate with this id."), None
        decision = self.decide(who, ctype, purpose)
        if not decision.allowed:
            self._record(
                sink,
                who,
                "details",
                decision,
                cert_id=cert_id,
                cert_type=ctype.code,
                purpose=purpose,
            )
            raise AccessDenied(decision)
        stored = self._stored(cert_id, ctype)
        if stored is None:
            self._record(
                sink,
                who,
                "details",
                Decision(True, "NOT_FOUND", "", "", ()),
                cert_id=cert_id,
                cert_type=ctype.code,
                purpose=purpose,
                result="not-found",
            )
            return decision, None
        body = self._released_once(ctype, decision, stored)
        self._record(
            sink, who, "details", decision, cert_id=cert_id, cert_type=ctype.code, purpose=purpose
        )
        self._tell_issuer(who, decision, cert_id, ctype, purpose)
        return decision, body

    def _tell_issuer(
        self, who: Principal, decision: Decision, cert_id: str, ctype: CertificateType, purpose: str
    ) -> None:
        if self.notify is None or ctype.agency == who.agency:
            return
        self.notify(
            "lookup.foreign",
            cert_id,
            ctype.agency,
            lambda: {
                "cert_type": ctype.code,
                "by_agency": who.agency,
                "purpose": purpose,
                "fields": list(decision.fields),
                "agreements": list(decision.agreement_ids),
            },
        )

    def _held_by(self, ctype: CertificateType, holder: str) -> list[str]:
        """Ids of the holder's certificates of ``ctype``, under every holder key in use
        (during a rotation the older ones carry a retired key's digest)."""
        assert self._holder_key is not None
        found: list[str] = []
        # Oldest key first: its certificates are the older ones (results stay oldest first).
        for digest in reversed(self._holder_key.digests(holder)):
            found.extend(i for i in self._held(ctype, digest) if i not in found)
        return found

    def _held(self, ctype: CertificateType, digest: str) -> tuple[str, ...]:
        """Ids of the certificates of ``ctype`` whose holder has ``digest``, oldest first,
        reused for up to RECORD_CACHE_TTL (see there)."""
        key = (ctype.code, digest)
        return self._holders.get(key, self._read_held, key)

    def _read_held(self, key: tuple[str, str]) -> tuple[tuple[str, ...], bool]:
        code, digest = key
        with self._store.session() as s:
            ids = tuple(
                s.connection()
                .execute(
                    text(
                        "SELECT id FROM certificates WHERE holder_digest = :d AND cert_type = :t "
                        "ORDER BY issued_at, id"
                    ),
                    {"d": digest, "t": code},
                )
                .scalars()
            )
        return ids, True

    def _stored(self, cert_id: str, ctype: CertificateType) -> _Stored | None:
        """The certificate as stored and on the ledger, reused for up to RECORD_CACHE_TTL (see
        there). The id determines the type, so the id alone is the key."""
        return self._records.get(cert_id, self._read_stored, (cert_id, ctype.code))

    def _read_stored(self, key: tuple[str, str]) -> tuple[_Stored | None, bool]:
        cert_id, code = key
        with self._store.session() as s:
            row = (
                s.connection()
                .execute(
                    text(
                        "SELECT id, data_json, agency, valid_until, state, status, status_reason "
                        "FROM certificates WHERE id = :id AND cert_type = :t"
                    ),
                    {"id": cert_id, "t": code},
                )
                .first()
            )
        if row is None:
            return None, False  # not kept: an id issued a moment later is found at once
        stored, ledger_read = self._load(*row)
        return stored, ledger_read  # a failed ledger read is not kept

    def _load(
        self,
        cert_id: str,
        data_json: str,
        agency: str,
        valid_until: Any,
        state: str,
        status: str,
        status_reason: str | None,
    ) -> tuple[_Stored, bool]:
        """A stored row with its ledger status, and whether the ledger could be read."""
        data = json.loads(self._store.reveal_data(cert_id, data_json))
        ledger_status: str | None
        try:
            record = self._ledger.get(cert_id)
            ledger_status = record.status.value if record else "pending"
            reason = record.reason if record else None
            ledger_read = True
        except LedgerError:
            # never "active" without the ledger
            ledger_status, reason, ledger_read = "unknown", None, False
        valid = str(valid_until) if valid_until else None
        return _Stored(cert_id, data, agency, valid, ledger_status, reason), ledger_read

    def _released_once(
        self, ctype: CertificateType, decision: Decision, stored: _Stored
    ) -> dict[str, Any]:
        """As :meth:`_release`, reused while ``decision`` and ``stored`` are (the entry holds
        both, so their ids cannot be reused meanwhile). Callers get a shared dict: read only."""
        key = (id(decision), id(stored))
        hit = self._released.get(key)
        if hit is not None:
            return hit[2]
        body = self._release(ctype, decision, stored)
        with self._lock:
            if len(self._released) >= _MAX_RELEASED:
                self._released.clear()
            self._released[key] = (decision, stored, body)
        return body

    @staticmethod
    def _release(ctype: CertificateType, decision: Decision, stored: _Stored) -> dict[str, Any]:
        data = stored.data
        return {
            "id": stored.cert_id,
            "type": ctype.code,
            "issuer": stored.agency,
            "status": stored.status,
            "status_reason": stored.reason,
            "valid_until": stored.valid_until,
            # Exactly the allowed fields; everything else is absent, not null.
            "fields": {name: data[name] for name in decision.fields if name in data},
        }

    def _record(
        self,
        sink: list[AuditEvent] | None,
        who: Principal,
        action: str,
        decision: Decision,
        *,
        cert_id: str | None = None,
        cert_type: str | None = None,
        purpose: str | None = None,
        result: str | None = None,
    ) -> None:
        # Positional: this runs once per lookup and keyword construction costs more.
        event = AuditEvent(
            action,
            result or ("allowed" if decision.allowed else "denied"),
            who.client_id,
            who.agency,
            cert_id,
            cert_type,
            purpose,
            decision.fields if decision.allowed and result is None else (),
            decision.reason,
        )
        if sink is not None:
            sink.append(event)
        else:
            self._audit.record(event)


def _decide(
    agreements: list[Agreement], grantee: str, ctype: CertificateType, purpose: str, today: date
) -> Decision:
    """The decision on a foreign agency's lookup, from the agreements alone."""
    relevant = [
        a
        for a in agreements
        if a.grantor == ctype.agency and a.grantee == grantee and ctype.code in a.cert_types
    ]
    if not relevant:
        return _deny(
            "NO_AGREEMENT",
            "发证机构未与贵机构签订该类证照的共享协议。",
            "The issuing agency has no sharing agreement with your agency for this type.",
        )
    active = [a for a in relevant if a.status == "active"]
    if not active:
        return _deny(
            "AGREEMENT_REVOKED",
            "该类证照的共享协议已被撤销。",
            "The sharing agreement for this type has been revoked.",
        )
    current = [a for a in active if a.valid_until >= today]
    if not current:
        return _deny(
            "AGREEMENT_EXPIRED",
            "该类证照的共享协议已过期。",
            "The sharing agreement for this type has expired.",
        )
    matching = [a for a in current if purpose in a.purposes]
    if not matching:
        return _deny(
            "PURPOSE_NOT_ALLOWED",
            "共享协议不允许以该用途查询。",
            "The sharing agreement does not allow lookups for this purpose.",
        )
    allowed = {f for a in matching for f in a.fields}
    fields = tuple(f for f in ctype.field_names if f in allowed)
    return Decision(
        True,
        "AGREEMENT",
        "依据共享协议。",
        "Under a sharing agreement.",
        fields,
        tuple(a.agreement_id for a in matching),
    )


def agreement_json(a: Agreement) -> dict[str, Any]:
    return {
        "id": a.agreement_id,
        "grantor": a.grantor,
        "grantee": a.grantee,
        "types": list(a.cert_types),
        "purposes": list(a.purposes),
        "fields": list(a.fields),
        "valid_until": a.valid_until.isoformat(),
        "status": a.status,
        "reason": a.reason,
        "created_at": a.created_at.isoformat(),
        "ledger_tx": a.created_tx,
    }
