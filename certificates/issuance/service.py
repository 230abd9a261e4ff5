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
from certificates.masking import mask_name
from certificates.sharing.clients import Principal
from certificates.store.batches import BatchStore
from certificates.store.database import PENDING, CertificateRow, Store
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
from ledger import AnchorEntry, AnchorReceipt, Ledger, LedgerError, LedgerRefused, LedgerUnavailable

__all__ = ["Alongside", "BatchRowError", "BatchValidationError", "IssuanceService", "Issued"]

log = logging.getLogger("certledger.issuance")

ANCHOR_CHUNK = 500


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
    ) -> list[Issued]:
        info = agency_info(agency)
        now = self._clock()
        jobs: list[ProduceJob] = []
        tokens: dict[str, str] = {}
        data_by_id: dict[str, ValidatedData] = {}
        index_of: dict[str, int] = {}
        for n, v in enumerate(values):
            cid = self._new_id(ctype, agency, now.year)
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
        while chunk := list(islice(produced_iter, ANCHOR_CHUNK)):
            rows = [
                self._row(by_id[p.cert_id], data_by_id[p.cert_id], ctype, p, tokens[p.cert_id], now)
                for p in chunk
            ]
            stored = [(index_of[p.cert_id], issued_as(p, None)) for p in chunk]
            self._store.add_pending(
                rows, alongside=None if alongside is None else _bound(alongside, stored)
            )
            if indexed is not None:
                indexed.extend(stored)
            if self.after_store is not None:
                self.after_store(rows)
            receipts = self._anchor_rows(rows) if anchor else {}
            issued.extend(issued_as(p, receipts.get(p.cert_id)) for p in chunk)
            if progress:
                progress(len(chunk))
        return issued

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
                        receipts = self._ledger.anchor(agency, [_entry(r) for r in part])
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
        return out

    def anchor_pending(self, limit: int = 5000) -> int:
        """Anchors certificates left pending (after a crash or a ledger outage). Returns count."""
        rows = self._store.pending(limit)
        if not rows:
            return 0
        return len(self._anchor_rows(rows))


def _bound(alongside: Alongside, stored: Sequence[tuple[int, Issued]]) -> Callable[[Session], None]:
    return lambda session: alongside(session, stored)


def _entry(row: CertificateRow) -> AnchorEntry:
    # Only digests, the type, the issuer and dates go to the ledger: no personal data.
    return AnchorEntry(
        cert_id=row.id,
        digest=row.sealed_digest,
        holder_digest=row.holder_digest,
        cert_type=row.cert_type,
        valid_from=row.valid_from.isoformat(),
        valid_until=row.valid_until.isoformat() if row.valid_until else None,
    )
