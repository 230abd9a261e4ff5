"""Issuance pipeline: validate -> assign id -> render -> seal -> store (pending) -> anchor.

Crash safety rests on two facts:
  * a certificate is stored as `pending`, with its sealed PDF, before anything is sent to the
    ledger, so a crash after sealing loses nothing;
  * anchoring is idempotent on the ledger (same id + same digest is a no-op that returns the
    original receipt), so re-sending a pending certificate after a crash anchors nothing twice.
`anchor_pending()` is that re-send; the server runs it at start-up and periodically.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from sqlmodel import Session

from certificates.agencies import agency as agency_info
from certificates.audit import AuditEvent, AuditLog
from certificates.errors import (
    AgencyNotAllowed,
    CertificateError,
)
from certificates.holder_key import HolderKey
from certificates.ids import CertificateId, new_verification_token, token_digest
from certificates.issuance.idempotency import IdempotentIssuance
from certificates.issuance.issued import Alongside, Issued
from certificates.issuance.production import Produced, ProduceJob, Producer
from certificates.issuance.refusals import BatchRefusal
from certificates.issuance.uniqueness import AlreadyIssued, ReissueRefused, Uniqueness
from certificates.masking import mask_name
from certificates.sharing.clients import Principal
from certificates.store.batches import BatchStore
from certificates.store.database import ANCHORED, PENDING, CertificateRow, Store
from certificates.store.unique_claims import Claim, UniqueClaims, UniqueConflict
from certificates.types import (
    CERTIFICATE_TYPES,
    CertificateDataError,
    CertificateType,
    FieldError,
    GlyphCoverage,
    ValidatedData,
    raw_values,
    validate_for,
)
from ledger import (
    AnchorEntry,
    AnchorReceipt,
    Ledger,
    LedgerError,
    LedgerRefused,
    LedgerUnavailable,
    superseded_reason,
)

__all__ = ["Alongside", "BatchRowError", "BatchValidationError", "IssuanceService", "Issued"]

log = logging.getLogger("certledger.issuance")

ANCHOR_CHUNK = 500
# Refusals that no retry can change: the entry leaves the anchoring queue.
_FINAL_REFUSALS = frozenset({"ALREADY_ISSUED", "SUPERSEDE_CONFLICT"})


@dataclass(frozen=True)
class BatchRowError:
    row: int  # 1-based data row number
    errors: tuple[FieldError, ...]


class BatchValidationError(CertificateError):
    def __init__(self, rows: Sequence[BatchRowError]) -> None:
        self.rows = tuple(rows)
        first = rows[0]
        detail = "; ".join(f"{e.field}: {e.message_en}" for e in first.errors)
        super().__init__(
            f"{len(rows)} row(s) are invalid, nothing was issued; first: row {first.row}: {detail}"
        )


class IssuanceService:
    # A seam for fault injection, owned by the tests (tests/crash_cli.py kills the process
    # here): called after each chunk is stored as pending, before it is anchored. Production
    # code never sets it.
    after_store: Callable[[Sequence[CertificateRow]], None] | None = None

    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        producer: Producer,
        holder_key: HolderKey,
        base_url: str,
        fonts: GlyphCoverage | None = None,
        clock: Callable[[], datetime] | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._listeners: list[Callable[[], None]] = []
        self._ledger = ledger
        self._producer = producer
        self._holder_key = holder_key
        self._base_url = base_url.rstrip("/")
        # With the fonts at hand, characters no font can draw are refused up front (422).
        self._fonts = fonts
        self._clock = clock or (lambda: datetime.now(UTC))
        # One anchoring pass at a time in this process; the ledger itself serialises processes.
        self._anchor_lock = threading.Lock()
        self._idempotent = IdempotentIssuance(self, BatchStore(store))
        self._unique = Uniqueness(store, holder_key)

    @property
    def uniqueness(self) -> Uniqueness:
        """The one-active-certificate-per-key check (batches refuse rows with it)."""
        return self._unique

    def stored(self, cert_id: str, token: str) -> Issued | None:
        """A certificate issued before, as the store has it now (anchored since, or still
        pending); ``token`` is its verification token, kept by whoever asked for it."""
        row = self._store.get(cert_id)
        if row is None:
            return None
        return Issued(
            cert_id=row.id,
            cert_type=row.cert_type,
            agency=row.agency,
            verify_url=self.verify_url(row.id, token),
            sealed_digest=row.sealed_digest,
            anchored=row.state != PENDING,
            tx_id=row.anchored_tx,
            block=row.anchored_block,
            pdf=row.pdf,
        )

    # -- issuing -------------------------------------------------------------------------------

    def check_allowed(self, agency: str, cert_type: str) -> CertificateType:
        ctype = CERTIFICATE_TYPES.get(cert_type)
        if ctype is None:
            known = ", ".join(sorted(CERTIFICATE_TYPES))
            raise AgencyNotAllowed(f"unknown certificate type {cert_type!r}; known types: {known}")
        agency_info(agency)  # raises for an unknown agency
        if ctype.agency != agency:
            raise AgencyNotAllowed(
                f"agency {agency!r} may not issue {cert_type!r} (issued by {ctype.agency!r})"
            )
        return ctype

    def issue(self, agency: str, cert_type: str, data: Mapping[str, object]) -> Issued:
        ctype = self.check_allowed(agency, cert_type)
        validated = validate_for(ctype, data, fonts=self._fonts)  # CertificateDataError -> 422
        return self._issue_validated(agency, ctype, [validated])[0]

    def on_issued(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every issue made through :meth:`issue_as` or
        :meth:`issue_batch_as` (caches of holder lookups forget what they knew)."""
        self._listeners.append(listener)

    def issue_as(
        self,
        who: Principal,
        cert_type: str,
        data: Mapping[str, object],
        *,
        idempotency_key: str | None = None,
    ) -> Issued:
        """Issue one certificate for ``who``'s agency: the workflow every edge calls. A
        refused type is audited as ``denied``; each issued certificate as ``ok``.

        With an ``idempotency_key``, the same key from the same agency with the same request
        answers the certificate it issued the first time and issues nothing (see
        :mod:`certificates.issuance.idempotency`); with another request it is refused."""
        ctype = self._allowed_for(who, cert_type)
        if idempotency_key is not None:
            return self._idempotent.issue(who, ctype, data, idempotency_key)
        validated = validate_for(ctype, data, fonts=self._fonts)  # CertificateDataError -> 422
        return self._issued_by(who, self._issue_validated(who.agency, ctype, [validated]))[0]

    def reissue_as(self, who: Principal, cert_id: str, data: Mapping[str, object]) -> Issued:
        """Re-issue ``cert_id`` for ``who``'s agency with corrected ``data``: the next version
        of the same certificate number, which supersedes it on the ledger (the old version is
        revoked, "superseded by <new id>", both in the history). Only the current, anchored
        version of a certificate with a uniqueness rule, by its own agency; the corrected data
        keeps the uniqueness key (another key is another certificate: issue it)."""
        old = self._store.get(cert_id)
        if old is None or old.agency != who.agency:
            # Another agency's certificate answers as a missing one: ids are not probed.
            raise ReissueRefused("NOT_FOUND", "未找到该证照。", "No certificate with this id.")
        ctype = self._allowed_for(who, old.cert_type)
        if old.status == "revoked" or old.state != ANCHORED or old.unique_digest is None:
            raise ReissueRefused(*_not_reissuable(old))
        validated = validate_for(ctype, data, fonts=self._fonts)  # CertificateDataError -> 422
        if self._unique.holder(ctype, validated) != old.id:
            raise ReissueRefused(
                "KEY_CHANGED",
                "补发的证照须保持"
                + "、".join(ctype.field(n).label_zh for n in ctype.unique_by)
                + f"不变，且 {old.id} 须为现行版本；内容不同的证照请另行签发。",
                "A re-issue keeps the "
                + ", ".join(ctype.field(n).label_en.lower() for n in ctype.unique_by)
                + f", and {old.id} must be the current version; issue a new certificate for "
                "other data.",
            )
        new_id = str(CertificateId.parse(old.id).next_version())
        issued = self._issue_validated(who.agency, ctype, [validated], reissue=(old.id, new_id))
        for listener in self._listeners:
            listener()
        self._record(
            [
                AuditEvent(
                    "reissue",
                    "ok",
                    who.client_id,
                    who.agency,
                    issued[0].cert_id,
                    ctype.code,
                    reason=f"supersedes {old.id}",
                )
            ]
        )
        return issued[0]

    def allowed_for(self, who: Principal, cert_type: str) -> CertificateType:
        """The type, if ``who``'s agency may issue it; a refusal is audited as ``denied``."""
        return self._allowed_for(who, cert_type)

    def validate(self, ctype: CertificateType, data: Mapping[str, object]) -> ValidatedData:
        """One certificate's data checked as :meth:`issue_as` checks it (fonts included).

        :raises CertificateDataError: with every field's problem."""
        return validate_for(ctype, data, fonts=self._fonts)

    def verify_url(self, cert_id: str, token: str) -> str:
        """The link a certificate's QR code carries (it holds the token: never log it)."""
        return f"{self._base_url}/v/{cert_id}?t={token}"

    def issue_chunk_as(
        self,
        who: Principal,
        ctype: CertificateType,
        values: Sequence[ValidatedData],
        *,
        alongside: Alongside,
        anchor: bool = True,
    ) -> list[tuple[int, Issued]]:
        """Issue already validated ``values`` for ``who`` in one store transaction, one
        anchoring and one audit record each; ``alongside`` is called inside that transaction
        with (index into ``values``, certificate) pairs (what must be stored with the
        certificates or not at all). Returns those pairs, anchored where the ledger took them.
        ``anchor=False``: they are left pending, for a caller that anchors many chunks at once
        with :meth:`anchor_pending` (one ledger transaction for many store transactions).
        """
        indexed: list[tuple[int, Issued]] = []
        issued = self._issue_validated(
            who.agency, ctype, values, alongside=alongside, indexed=indexed, anchor=anchor
        )
        self._issued_by(who, issued)
        by_id = {i.cert_id: i for i in issued}
        return [(n, by_id[i.cert_id]) for n, i in indexed]

    def issue_batch_as(
        self,
        who: Principal,
        cert_type: str,
        rows: Iterable[Mapping[str, object]],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Issued]:
        """As :meth:`issue_as` for every row (all rows validated before any is issued)."""
        ctype = self._allowed_for(who, cert_type)
        values = self.validate_batch(ctype, rows)
        issued = self._issue_validated(who.agency, ctype, values, progress=progress)
        return self._issued_by(who, issued)

    def _allowed_for(self, who: Principal, cert_type: str) -> CertificateType:
        """:meth:`check_allowed` for ``who``'s agency; a refusal is audited as ``denied``."""
        try:
            ctype = self.check_allowed(who.agency, cert_type)
        except AgencyNotAllowed:
            self._record(
                [
                    AuditEvent(
                        "issue",
                        "denied",
                        who.client_id,
                        who.agency,
                        cert_type=cert_type[:64],
                        reason="TYPE_NOT_ALLOWED",
                    )
                ]
            )
            raise
        return ctype

    def _issued_by(self, who: Principal, issued: list[Issued]) -> list[Issued]:
        for listener in self._listeners:
            listener()
        self._record(
            [
                AuditEvent("issue", "ok", who.client_id, who.agency, i.cert_id, i.cert_type)
                for i in issued
            ]
        )
        return issued

    def _record(self, events: list[AuditEvent]) -> None:
        if self._audit is not None:
            self._audit.record_all(events)

    def validate_batch(
        self, ctype: CertificateType, rows: Iterable[Mapping[str, object]]
    ) -> list[ValidatedData]:
        good: list[ValidatedData] = []
        bad: list[BatchRowError] = []
        for n, row in enumerate(rows, start=1):
            try:
                good.append(validate_for(ctype, row, fonts=self._fonts))
            except CertificateDataError as exc:
                bad.append(BatchRowError(n, tuple(exc.errors)))
        if bad:
            raise BatchValidationError(bad)
        return good

    def issue_batch(
        self,
        agency: str,
        cert_type: str,
        rows: Iterable[Mapping[str, object]],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Issued]:
        """Validates every row first (all-or-nothing), then issues in anchored chunks."""
        ctype = self.check_allowed(agency, cert_type)
        values = self.validate_batch(ctype, rows)
        return self._issue_validated(agency, ctype, values, progress=progress)

    def _issue_validated(
        self,
        agency: str,
        ctype: CertificateType,
        values: Sequence[ValidatedData],
        *,
        progress: Callable[[int], None] | None = None,
        alongside: Alongside | None = None,
        indexed: list[tuple[int, Issued]] | None = None,
        anchor: bool = True,
        reissue: tuple[str, str] | None = None,
    ) -> list[Issued]:
        """``reissue``: (the superseded certificate's id, the new version's id), for one value."""
        if reissue is None:
            self._refuse_conflicts(ctype, values)
        info = agency_info(agency)
        now = self._clock()
        jobs: list[ProduceJob] = []
        tokens: dict[str, str] = {}
        data_by_id: dict[str, ValidatedData] = {}
        index_of: dict[str, int] = {}
        for n, v in enumerate(values):
            cid = reissue[1] if reissue is not None else self._new_id(ctype, agency, now.year)
            token = new_verification_token()
            tokens[cid] = token
            data_by_id[cid] = v
            index_of[cid] = n
            jobs.append(
                ProduceJob(
                    cert_id=cid,
                    cert_type=ctype.code,
                    agency=agency,
                    values=v.values,
                    verify_url=self.verify_url(cid, token),
                    issuer_name_zh=info.name_zh,
                    issuer_name_en=info.name_en,
                    issued_at=now.date(),
                )
            )
        by_id = {j.cert_id: j for j in jobs}

        def issued_as(p: Produced, receipt: AnchorReceipt | None) -> Issued:
            return Issued(
                cert_id=p.cert_id,
                cert_type=ctype.code,
                agency=agency,
                verify_url=by_id[p.cert_id].verify_url,
                sealed_digest=p.sealed_digest,
                anchored=receipt is not None,
                tx_id=receipt.tx_id if receipt else None,
                block=receipt.block_number if receipt else None,
                pdf=p.pdf,
            )

        issued: list[Issued] = []
        produced_iter = self._producer.produce(jobs)
        supersedes = reissue[0] if reissue is not None else None
        while chunk := list(islice(produced_iter, ANCHOR_CHUNK)):
            rows = [
                self._row(
                    by_id[p.cert_id],
                    data_by_id[p.cert_id],
                    ctype,
                    p,
                    tokens[p.cert_id],
                    now,
                    supersedes=supersedes,
                )
                for p in chunk
            ]
            stored = [(index_of[p.cert_id], issued_as(p, None)) for p in chunk]
            claims = [
                Claim(ctype.code, r.unique_digest, r.id, supersedes)
                for r in rows
                if r.unique_digest is not None
            ]
            try:
                self._store.add_pending(rows, alongside=_with_claims(claims, alongside, stored))
            except UniqueConflict:
                # Another host issued (or re-issued) for one of these keys since the check
                # above: nothing of this chunk was stored. Say what is in the way.
                if supersedes is not None:
                    raise ReissueRefused(
                        "NOT_CURRENT",
                        f"{supersedes} 已不是该证照的现行版本（已被吊销或已补发），未签发新版本。",
                        f"{supersedes} is no longer the current version (revoked or re-issued "
                        "meanwhile); no new version was issued.",
                    ) from None
                self._refuse_conflicts(ctype, [data_by_id[r.id] for r in rows])
                raise BatchRefusal(
                    "ISSUE_RACE",
                    "同一证照此刻正在另一处签发，未签发；请稍后重试。",
                    "The same certificate is being issued elsewhere at this moment; nothing "
                    "was issued. Try again shortly.",
                ) from None
            if indexed is not None:
                indexed.extend(stored)
            if self.after_store is not None:
                self.after_store(rows)
            receipts = self._anchor_rows(rows) if anchor else {}
            issued.extend(issued_as(p, receipts.get(p.cert_id)) for p in chunk)
            if progress:
                progress(len(chunk))
        return issued

    def _refuse_conflicts(self, ctype: CertificateType, values: Sequence[ValidatedData]) -> None:
        """Refuse ``values`` if any cannot be issued now: one value with :class:`AlreadyIssued`,
        several with every conflicting row (all-or-nothing, as for invalid data)."""
        conflicts = self._unique.conflicts(ctype, values)
        if not conflicts:
            return
        if len(values) == 1 and conflicts[0].existing_id is not None:
            raise AlreadyIssued(ctype, conflicts[0].existing_id)
        raise BatchValidationError(
            [BatchRowError(n + 1, (c.field_error(ctype),)) for n, c in sorted(conflicts.items())]
        )

    def _new_id(self, ctype: CertificateType, agency: str, year: int) -> str:
        scope = f"{ctype.id_prefix}/{agency}/{year}"
        serial = self._store.next_serial(scope)
        return str(CertificateId.make(ctype.id_prefix, agency, year, serial))

    def _row(
        self,
        job: ProduceJob,
        data: ValidatedData,
        ctype: CertificateType,
        p: Produced,
        token: str,
        now: datetime,
        *,
        supersedes: str | None = None,
    ) -> CertificateRow:
        # Public pages show a company's name, but only a masked name for a natural person.
        subject = mask_name(data.holder_name) if ctype.holder_is_person else data.title
        return CertificateRow(
            id=job.cert_id,
            cert_type=ctype.code,
            agency=job.agency,
            state=PENDING,
            subject=subject,
            holder_digest=self._holder_key.digest(data.holder_id),
            data_json=json.dumps(raw_values(data.values), ensure_ascii=False),
            token_digest=token_digest(token),
            sealed_digest=p.sealed_digest,
            pdf=p.pdf,
            issued_at=now.astimezone(UTC),
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            unique_digest=self._unique.digest(ctype, data),
            supersedes=supersedes,
        )

    # -- anchoring -----------------------------------------------------------------------------

    def _anchor_rows(self, rows: Sequence[CertificateRow]) -> dict[str, AnchorReceipt]:
        """Anchors rows grouped by agency; on ledger failure they stay pending (nothing lost)."""
        out: dict[str, AnchorReceipt] = {}
        with self._anchor_lock:
            by_agency: dict[str, list[CertificateRow]] = {}
            for row in rows:
                by_agency.setdefault(row.agency, []).append(row)
            for agency, group in by_agency.items():
                for start in range(0, len(group), ANCHOR_CHUNK):
                    part = group[start : start + ANCHOR_CHUNK]
                    try:
                        receipts = self._anchor_part(agency, part)
                    except LedgerUnavailable as exc:
                        log.warning(
                            "ledger unavailable, %d certificate(s) stay pending: %s", len(part), exc
                        )
                        continue
                    except LedgerRefused as exc:
                        log.error("ledger refused a batch of %d certificate(s): %s", len(part), exc)
                        continue
                    except LedgerError as exc:
                        log.error(
                            "ledger error, %d certificate(s) stay pending: %s", len(part), exc
                        )
                        continue
                    self._store.mark_anchored(
                        [
                            (
                                r.cert_id,
                                r.tx_id,
                                r.block_number,
                                r.anchored_at,
                                json.dumps(r.proof.to_json()),
                            )
                            for r in receipts
                        ]
                    )
                    out.update({r.cert_id: r for r in receipts})
                    self._superseded(part, receipts)
        return out

    def _anchor_part(self, agency: str, part: list[CertificateRow]) -> list[AnchorReceipt]:
        """Anchor ``part``; an entry the contract refuses for good under the uniqueness rule
        leaves the queue (state ``refused``) and the rest is anchored without it, so one
        such certificate never holds up the others."""
        while True:
            try:
                return self._ledger.anchor(agency, [_entry(r) for r in part])
            except LedgerRefused as exc:
                if exc.code not in _FINAL_REFUSALS or exc.cert_id is None:
                    raise
                log.error("the ledger refused %s for good: %s", exc.cert_id, exc.code)
                self._store.mark_refused(exc.cert_id)
                part = [r for r in part if r.id != exc.cert_id]
                if not part:
                    return []

    def _superseded(self, part: Sequence[CertificateRow], receipts: list[AnchorReceipt]) -> None:
        """The store mirrors what the anchoring of a re-issue did on the ledger: the
        superseded certificate is revoked."""
        anchored = {r.cert_id for r in receipts}
        for row in part:
            if row.supersedes is not None and row.id in anchored:
                self._store.set_status(row.supersedes, "revoked", superseded_reason(row.id))

    def anchor_pending(self, limit: int = 5000) -> int:
        """Anchors certificates left pending (after a crash or a ledger outage). Returns count."""
        rows = self._store.pending(limit)
        if not rows:
            return 0
        return len(self._anchor_rows(rows))


def _not_reissuable(row: CertificateRow) -> tuple[str, str, str]:
    if row.status == "revoked":
        return (
            "REVOKED",
            f"{row.id} 已被吊销，吊销是终局的，不能补发；请签发新证照。",
            f"{row.id} is revoked, which is final: it cannot be re-issued. Issue a new one.",
        )
    if row.state != ANCHORED:
        return (
            "NOT_ANCHORED",
            f"{row.id} 尚未记入账本，请稍后再补发。",
            f"{row.id} is not on the ledger yet; re-issue it in a moment.",
        )
    return (
        "NO_UNIQUENESS_KEY",
        f"{row.id} 签发于唯一性规则实施之前，不能补发；请吊销后签发新证照。",
        f"{row.id} was issued before uniqueness rules and cannot be re-issued; revoke it "
        "and issue a new one.",
    )


def _with_claims(
    claims: Sequence[Claim], alongside: Alongside | None, stored: Sequence[tuple[int, Issued]]
) -> Callable[[Session], None]:
    """What is stored with a chunk of certificates or not at all: their uniqueness claims,
    then the caller's ``alongside``."""

    def write(session: Session) -> None:
        UniqueClaims.take(session, claims)
        if alongside is not None:
            alongside(session, stored)

    return write


def _entry(row: CertificateRow) -> AnchorEntry:
    # Only digests, the type, the issuer and dates go to the ledger: no personal data.
    return AnchorEntry(
        cert_id=row.id,
        digest=row.sealed_digest,
        holder_digest=row.holder_digest,
        cert_type=row.cert_type,
        valid_from=row.valid_from.isoformat(),
        valid_until=row.valid_until.isoformat() if row.valid_until else None,
        unique_key=row.unique_digest,
        supersedes=row.supersedes,
    )
