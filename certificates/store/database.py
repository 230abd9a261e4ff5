"""Local store of issued certificates (SQLModel on SQLite, in WAL mode with full fsync).

The store keeps what must never reach the ledger: the certificate data and the sealed PDF. A row is
written as `pending` right after sealing and before anchoring, so a crash between the two loses
nothing; the anchoring step is idempotent on the ledger side, so re-running it anchors nothing
twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

__all__ = [
    "AuditMeta",
    "AuditRow",
    "CertificateRow",
    "ClientRow",
    "OutboxRow",
    "PublicView",
    "Store",
    "SubscriptionRow",
]

PENDING = "pending"
ANCHORED = "anchored"


class CertificateRow(SQLModel, table=True):
    __tablename__ = "certificates"

    id: str = Field(primary_key=True)
    cert_type: str = Field(index=True)
    agency: str = Field(index=True)
    # Local life cycle: pending (sealed, not yet on the ledger) -> anchored.
    state: str = Field(index=True)
    # Status mirrored from the ledger (the ledger stays the authority): active/revoked/suspended.
    status: str = "active"
    status_reason: str | None = None
    subject: str  # what public pages may show: a company name, or a masked person name
    holder_digest: str = Field(index=True)
    data_json: str  # personal data: stays in this store, never on the ledger or in logs
    token_digest: str
    sealed_digest: str
    pdf: bytes
    issued_at: datetime
    valid_from: date
    valid_until: date | None = None
    anchored_tx: str | None = None
    anchored_block: int | None = None
    anchored_at: datetime | None = None
    proof_json: str | None = None

    def __repr__(self) -> str:
        # Never show data_json or the PDF in reprs (they hold personal data).
        return f"CertificateRow(id={self.id!r}, type={self.cert_type!r}, state={self.state!r})"


class ClientRow(SQLModel, table=True):
    """An API client: an agency system, a counter-staff client or an administrator."""

    __tablename__ = "api_clients"

    id: str = Field(primary_key=True)
    name: str
    agency: str = Field(index=True)
    roles: str  # comma-separated, sorted: "admin,issuer,verifier"
    # SHA-256 of the bearer token; the token itself is shown once and never stored.
    token_digest: str | None = Field(default=None, index=True, unique=True)
    # SHA-256 of a client certificate's DER, for mutual TLS instead of a token.
    cert_fingerprint: str | None = Field(default=None, index=True, unique=True)
    created_at: datetime
    revoked_at: datetime | None = None

    def __repr__(self) -> str:
        return f"ClientRow(id={self.id!r}, agency={self.agency!r}, roles={self.roles!r})"


class AuditRow(SQLModel, table=True):
    """One audit-log entry. Append-only: `hash` covers every other column and `prev_hash`, so
    an edited, deleted or reordered row breaks the chain (see certificates.audit.log)."""

    __tablename__ = "audit_log"

    seq: int = Field(primary_key=True)  # assigned as head + 1, never by autoincrement
    at: str  # canonical UTC timestamp, stored as text so the hashed bytes are exact
    client_id: str
    agency: str | None = None
    action: str = Field(index=True)
    cert_id: str | None = Field(default=None, index=True)
    cert_type: str | None = None
    purpose: str | None = None
    fields: str = "[]"  # JSON list of field names released (names only, never values)
    result: str
    reason: str | None = None
    prev_hash: str
    hash: str


class AuditMeta(SQLModel, table=True):
    __tablename__ = "audit_meta"

    name: str = Field(primary_key=True)
    value: str


class SubscriptionRow(SQLModel, table=True):
    """A webhook subscription of one agency to events about certificates."""

    __tablename__ = "webhook_subscriptions"

    id: str = Field(primary_key=True)
    agency: str = Field(index=True)
    client_id: str
    url: str
    events: str  # comma-separated event names
    cert_id: str | None = Field(default=None, index=True)  # None: every certificate it issued
    secret: str  # HMAC key for signing bodies; shown once at creation
    created_at: datetime
    revoked_at: datetime | None = None

    def __repr__(self) -> str:
        return f"SubscriptionRow(id={self.id!r}, agency={self.agency!r})"


class OutboxRow(SQLModel, table=True):
    """A webhook delivery not yet acknowledged, so a restart does not lose it."""

    __tablename__ = "webhook_outbox"

    id: str = Field(primary_key=True)  # the delivery id receivers de-duplicate by
    sub_id: str = Field(index=True)
    event: str
    body: bytes  # ids, codes and field names only; never a holder identifier or a value
    attempts: int = 0
    state: str = Field(default="pending", index=True)  # pending | delivered | failed
    created_at: datetime


class SealCheck(SQLModel, table=True):
    """The last seal check of a stored certificate (see certificates.verification.seal_cache)."""

    __tablename__ = "seal_checks"

    cert_id: str = Field(primary_key=True)
    checked_at: float  # UNIX time
    payload: str


class SerialCounter(SQLModel, table=True):
    __tablename__ = "serials"

    scope: str = Field(primary_key=True)
    last: int = 0


@dataclass(frozen=True)
class PublicView:
    """What the public status endpoint may show: no personal data beyond a masked name."""

    id: str
    cert_type: str
    agency: str
    subject: str
    issued_at: datetime
    valid_until: date | None
    state: str
    status: str
    status_reason: str | None
    token_digest: str
    anchored_tx: str | None
    anchored_block: int | None
    anchored_at: datetime | None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_SEALED_PDFS = text(
    "SELECT id, pdf, sealed_digest FROM certificates WHERE id > :last ORDER BY id LIMIT 200"
)
_SEALED_PDFS_OF_AGENCY = text(
    "SELECT id, pdf, sealed_digest FROM certificates WHERE id > :last AND agency = :agency "
    "ORDER BY id LIMIT 200"
)


class Store:
    def __init__(self, path: Path) -> None:
        self._engine: Engine = create_engine(
            f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(self._engine, "connect", _sqlite_pragmas)

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        if not create and not path.is_file():
            from certificates.errors import ConfigurationError

            raise ConfigurationError(f"certificate database {path.name} is missing")
        if create and not path.exists():
            # Owner only, before SQLite creates it with the umask's mode: the database holds
            # the certificates' personal data (and SQLite gives its -wal and -shm files the
            # database file's permissions).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        store = cls(path)
        SQLModel.metadata.create_all(store._engine)
        return store

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session:
            yield session

    def autocommit_connection(self) -> Any:
        """A DB-API connection of the caller's own (out of the pool; the caller closes it), in
        autocommit mode: each statement is its own transaction unless the caller begins one.
        Same database and settings as the pool's (WAL, synchronous=FULL, busy timeout). For
        the audit log's group commit, which cannot afford the ORM's per-statement work."""
        fairy = self._engine.raw_connection()
        fairy.detach()
        conn: Any = fairy.dbapi_connection
        assert conn is not None
        conn.isolation_level = None
        return conn

    @property
    def retryable_errors(self) -> tuple[type[Exception], ...]:
        """The driver's errors for a locked database or a lost race on a key: worth a retry."""
        dbapi = self._engine.dialect.dbapi
        assert dbapi is not None
        return (dbapi.IntegrityError, dbapi.OperationalError)

    # -- ids ---------------------------------------------------------------------------------

    def next_serial(self, scope: str) -> int:
        """Atomically allocate the next serial number in a scope (type, agency, year).

        One UPDATE ... RETURNING statement, so two processes never get the same number.
        """
        stmt = text(
            "INSERT INTO serials(scope, last) VALUES (:scope, 1) "
            "ON CONFLICT(scope) DO UPDATE SET last = last + 1 RETURNING last"
        )
        with self._engine.begin() as conn:
            value = conn.execute(stmt, {"scope": scope}).scalar_one()
        return int(value)

    # -- certificates ------------------------------------------------------------------------

    def add_pending(self, rows: Sequence[CertificateRow]) -> None:
        with self.session() as s:
            s.add_all(rows)
            s.commit()

    def get(self, cert_id: str) -> CertificateRow | None:
        with self.session() as s:
            return s.get(CertificateRow, cert_id)

    def pending(self, limit: int = 1000) -> list[CertificateRow]:
        with self.session() as s:
            stmt = (
                select(CertificateRow)
                .where(CertificateRow.state == PENDING)
                .order_by(col(CertificateRow.issued_at))
                .limit(limit)
            )
            return list(s.exec(stmt))

    def count_pending(self) -> int:
        with self._engine.connect() as conn:
            n = conn.execute(
                text("SELECT count(*) FROM certificates WHERE state = :s"), {"s": PENDING}
            ).scalar_one()
        return int(n)

    def mark_anchored(self, updates: Sequence[tuple[str, str, int, datetime, str]]) -> None:
        """updates: (cert_id, tx_id, block, anchored_at, proof_json), in one transaction."""
        stmt = text(
            "UPDATE certificates SET state = :state, anchored_tx = :tx, anchored_block = :block, "
            "anchored_at = :at, proof_json = :proof WHERE id = :id"
        )
        with self._engine.begin() as conn:
            conn.execute(
                stmt,
                [
                    {
                        "state": ANCHORED,
                        "tx": tx,
                        "block": block,
                        "at": at.astimezone(UTC),
                        "proof": proof,
                        "id": cid,
                    }
                    for cid, tx, block, at, proof in updates
                ],
            )

    def sealed_pdfs(self, agency: str | None = None) -> Iterator[tuple[str, bytes, str]]:
        """(id, stored PDF, sealed digest) of every stored certificate, or of one agency's,
        read in batches so that a large store is not held in memory at once."""
        # Two fixed statements (never text built from input): with and without the agency.
        query = _SEALED_PDFS_OF_AGENCY if agency is not None else _SEALED_PDFS
        last = ""
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(query, {"last": last, "agency": agency}).all()
            if not rows:
                return
            for cert_id, pdf, digest in rows:
                yield str(cert_id), bytes(pdf), str(digest)
            last = str(rows[-1][0])

    def replace_pdf(self, cert_id: str, pdf: bytes) -> None:
        """Store a renewed PDF (a later revision added to the sealed one: the anchored
        digest of the sealed revision stays what it was; the caller has checked that)."""
        with self._engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET pdf = :pdf WHERE id = :id"),
                {"pdf": pdf, "id": cert_id},
            )

    def set_status(self, cert_id: str, status: str, reason: str | None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET status = :st, status_reason = :r WHERE id = :id"),
                {"st": status, "r": reason, "id": cert_id},
            )

    def public_view(self, cert_id: str) -> PublicView | None:
        """One indexed read with no ORM object building: this sits behind the QR status page."""
        with self._engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT id, cert_type, agency, subject, issued_at, valid_until, state, status, "
                    "status_reason, token_digest, anchored_tx, anchored_block, anchored_at "
                    "FROM certificates WHERE id = :id"
                ),
                {"id": cert_id},
            ).first()
        if row is None:
            return None
        return PublicView(
            id=row[0],
            cert_type=row[1],
            agency=row[2],
            subject=row[3],
            issued_at=_dt(row[4]),
            valid_until=date.fromisoformat(row[5]) if row[5] else None,
            state=row[6],
            status=row[7],
            status_reason=row[8],
            token_digest=row[9],
            anchored_tx=row[10],
            anchored_block=row[11],
            anchored_at=_dt(row[12]) if row[12] else None,
        )

    # -- seal checks of stored certificates ------------------------------------------------------

    def recent_seal_check(self, cert_id: str, max_age: float) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text("SELECT checked_at, payload FROM seal_checks WHERE cert_id = :id"),
                {"id": cert_id},
            ).first()
        if row is None or time.time() - float(row[0]) > max_age:
            return None
        return str(row[1])

    def save_seal_check(self, cert_id: str, payload: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO seal_checks(cert_id, checked_at, payload) VALUES (:id, :at, :p) "
                    "ON CONFLICT(cert_id) DO UPDATE SET checked_at = :at, payload = :p"
                ),
                {"id": cert_id, "at": time.time(), "p": payload},
            )


def _dt(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # SQLite drops the zone: everything is stored in UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
