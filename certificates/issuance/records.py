"""An agency's own records: finding the certificates it issued, opening one (its facts, status,
history and who looked it up). What the agency console (``/agency``) lists and shows.

Only the caller's own agency's certificates are ever read; another agency's id answers as
unknown (no hint that it exists), and the attempt is audited.

**Searching by holder name without putting names in clear anywhere.** Holder data is
encrypted at rest (``certificates.store.cipher``), and the only holder column in clear is
``subject`` (masked for natural persons) and ``holder_digest`` (a keyed digest of the holder's
identifier, not the name). A name search therefore decrypts and filters *within the agency's
own rows*, after every other filter (type, status, dates, id) has narrowed them in SQL, and at
most :data:`NAME_SCAN_LIMIT` of them, newest first. The typed name is compared in memory
only: it is never written to the database, the audit log (which records *that* a name was
searched, not the name) or a log line. When more rows match the other filters than the bound,
the answer says so (``SearchPage.scan_truncated``) and the page asks for a narrower search.
A keyed name digest would allow only exact matches and would need re-keying with the data
key; the bounded scan allows a part of a name and needs no new stored value.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import text

from certificates.audit import AuditEntry, AuditEvent, AuditLog
from certificates.errors import CertificateNotFound
from certificates.issuance.register import foreign_refusal
from certificates.sharing.clients import Principal
from certificates.store import Store
from certificates.store.database import PENDING
from certificates.types import (
    CERTIFICATE_TYPES,
    CertificateDataError,
    DisplayValue,
    display_value,
    validate_for,
)
from certificates.types.model import FieldValue

__all__ = [
    "AGENCY_TZ",
    "NAME_SCAN_LIMIT",
    "PAGE_SIZE",
    "AgencyRecords",
    "CertificateFacts",
    "CertificateSummary",
    "SearchPage",
    "SearchQuery",
    "local_time",
]

# The deployment's time zone (Beijing time): issue-date ranges are days there.
AGENCY_TZ = timezone(timedelta(hours=8), "UTC+8")
PAGE_SIZE = 20
NAME_SCAN_LIMIT = 5000  # rows decrypted at most for one holder-name search
TRAIL_LIMIT = 200  # audit entries shown for one certificate, newest first
STATUSES = ("active", "pending", "suspended", "revoked")
# Audit actions that changed the certificate (its history); the rest are look-ups.
HISTORY_ACTIONS = frozenset({"issue", "revoke", "suspend", "reinstate", "anchor"})


@dataclass(frozen=True, slots=True)
class SearchQuery:
    cert_id: str = ""
    holder_name: str = field(default="", repr=False)  # personal data: never in a repr
    cert_type: str = ""
    status: str = ""  # one of STATUSES, or "" for any
    issued_from: date | None = None  # Beijing days, inclusive
    issued_to: date | None = None
    page: int = 1


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    cert_id: str
    cert_type: str
    holder_name: str = field(repr=False)
    status: str  # active | pending | suspended | revoked
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: tuple[CertificateSummary, ...]
    page: int
    pages: int
    total: int
    scan_truncated: bool  # a name search met NAME_SCAN_LIMIT: narrow it


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    summary: CertificateSummary
    status_reason: str | None
    valid_from: date
    valid_until: date | None
    fields: tuple[tuple[str, str, DisplayValue], ...] = field(repr=False)  # zh, en, value
    anchored_tx: str | None
    anchored_block: int | None
    anchored_at: datetime | None
    history: tuple[AuditEntry, ...]  # issue and status changes, oldest first
    lookups: tuple[AuditEntry, ...]  # everyone else's look-ups, newest first


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _status(state: str, status: str) -> str:
    return "pending" if state == PENDING and status == "active" else status


def _utc(day: date) -> str:
    """Midnight at the start of a Beijing ``day``, in UTC as the store writes times (text
    that sorts as the time does)."""
    return datetime.combine(day, time(0), AGENCY_TZ).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class AgencyRecords:
    def __init__(self, *, store: Store, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

    # -- search --------------------------------------------------------------------------

    def search(self, who: Principal, query: SearchQuery) -> SearchPage:
        """The caller's agency's certificates matching ``query``, newest first, one page."""
        # Fixed fragments, every value bound: no text of the query is spliced into SQL.
        where = ["agency = :agency"]
        params: dict[str, Any] = {"agency": who.agency}
        if query.cert_id:
            where.append("instr(id, :cid) > 0")
            params["cid"] = query.cert_id.strip().upper()
        if query.cert_type:
            where.append("cert_type = :ctype")
            params["ctype"] = query.cert_type
        if query.status == "pending":
            where.append("state = :pending AND status = 'active'")
            params["pending"] = PENDING
        elif query.status == "active":
            where.append("state != :pending AND status = 'active'")
            params["pending"] = PENDING
        elif query.status:
            where.append("status = :status")
            params["status"] = query.status
        if query.issued_from is not None:
            where.append("issued_at >= :since")
            params["since"] = _utc(query.issued_from)
        if query.issued_to is not None:
            where.append("issued_at < :until")
            params["until"] = _utc(query.issued_to + timedelta(days=1))
        page = max(1, query.page)
        clause = " AND ".join(where)
        # Never the PDF: a page of results reads the few columns it shows.
        rows_sql = (
            "SELECT id, cert_type, state, status, issued_at, data_json FROM certificates "  # noqa: S608
            f"WHERE {clause} ORDER BY issued_at DESC, id DESC LIMIT :n OFFSET :o"
        )
        name = _fold(query.holder_name)
        truncated = False
        with self._store.session() as s:
            conn = s.connection()
            if name:
                rows = conn.execute(
                    text(rows_sql), {**params, "n": NAME_SCAN_LIMIT + 1, "o": 0}
                ).all()
                truncated = len(rows) > NAME_SCAN_LIMIT
                found = [
                    summary
                    for summary in (self._summary(r) for r in rows[:NAME_SCAN_LIMIT])
                    if name in _fold(summary.holder_name)
                ]
                total = len(found)
                chosen = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            else:
                count_sql = f"SELECT count(*) FROM certificates WHERE {clause}"  # noqa: S608
                total = int(conn.execute(text(count_sql), params).scalar_one())
                rows = conn.execute(
                    text(rows_sql), {**params, "n": PAGE_SIZE, "o": (page - 1) * PAGE_SIZE}
                ).all()
                chosen = [self._summary(r) for r in rows]
        used = [
            label
            for label, value in (
                ("id", query.cert_id),
                ("holder-name", name),
                ("type", query.cert_type),
                ("status", query.status),
                ("dates", query.issued_from or query.issued_to),
            )
            if value
        ]
        # Which filters were used, never their values (a name is personal data).
        self._audit.record(
            AuditEvent(
                "agency-search",
                "ok",
                who.client_id,
                who.agency,
                reason=",".join(used) or None,
            )
        )
        pages = max(1, -(-total // PAGE_SIZE))
        return SearchPage(tuple(chosen), min(page, pages), pages, total, truncated)

    def _summary(self, row: Sequence[Any]) -> CertificateSummary:
        cert_id, cert_type, state, status, issued_at, data_json = row
        if isinstance(issued_at, str):  # a text() query returns SQLite's stored text
            issued_at = datetime.fromisoformat(issued_at)
        ctype = CERTIFICATE_TYPES.get(cert_type)
        data = json.loads(self._store.reveal_data(cert_id, data_json))
        holder = str(data.get(ctype.holder_name_field, "")) if ctype else ""
        return CertificateSummary(cert_id, cert_type, holder, _status(state, status), issued_at)

    # -- one certificate -----------------------------------------------------------------

    def facts(self, who: Principal, cert_id: str) -> CertificateFacts:
        """One of the caller's agency's certificates (``cert_id`` canonical), with its
        history and audit trail; the opening is audited.

        :raises CertificateNotFound: no such certificate, or another agency's (audited).
        """
        row = self._store.get(cert_id)
        if row is None or row.agency != who.agency:
            if row is not None:
                self._audit.record(foreign_refusal("agency-view", who, row))
            raise CertificateNotFound
        ctype = CERTIFICATE_TYPES[row.cert_type]
        data: dict[str, Any] = json.loads(self._store.reveal_data(row.id, row.data_json))
        shown: list[tuple[str, str, DisplayValue]] = []
        try:
            # The stored raw values validate back to the typed ones (``raw_values``), which
            # display as the certificate prints them (dates, amounts, 长期).
            values: dict[str, FieldValue] = dict(validate_for(ctype, data).values.items())
        except CertificateDataError:  # data of an older rule: shown as stored
            values = {k: str(v) for k, v in data.items()}
        for spec in ctype.fields:
            if spec.name in values:
                shown.append((spec.label_zh, spec.label_en, _display(spec, values[spec.name])))
        trail = self._audit.entries(cert_id=row.id)
        history = tuple(e for e in trail if e.event.action in HISTORY_ACTIONS)
        lookups = tuple(reversed([e for e in trail if e.event.action not in HISTORY_ACTIONS]))
        self._audit.record(
            AuditEvent("agency-view", "allowed", who.client_id, who.agency, row.id, row.cert_type)
        )
        return CertificateFacts(
            summary=CertificateSummary(
                row.id,
                row.cert_type,
                str(data.get(ctype.holder_name_field, "")),
                _status(row.state, row.status),
                row.issued_at,
            ),
            status_reason=row.status_reason,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            fields=tuple(shown),
            anchored_tx=row.anchored_tx,
            anchored_block=row.anchored_block,
            anchored_at=row.anchored_at,
            history=history,
            lookups=lookups[:TRAIL_LIMIT],
        )


def correction_values(store: Store, who: Principal, cert_id: str) -> tuple[str, dict[str, str]]:
    """The type and stored field values of one of ``who``'s agency's certificates, as a
    correction (re-issue) form starts from them. :raises CertificateNotFound: no such
    certificate, or another agency's."""
    row = store.get(cert_id)
    if row is None or row.agency != who.agency:
        raise CertificateNotFound
    data = json.loads(store.reveal_data(row.id, row.data_json))
    return row.cert_type, {str(k): str(v) for k, v in data.items()}


def _display(spec: Any, value: FieldValue) -> DisplayValue:
    try:
        return display_value(spec, value)
    except (TypeError, ValueError):
        return DisplayValue(str(value))


def local_time(at: datetime) -> datetime:
    """``at`` (the store's UTC) in the deployment's time zone."""
    return _aware(at).astimezone(AGENCY_TZ)
