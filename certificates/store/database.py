"""Local store of issued certificates (SQLModel on SQLite, in WAL mode with full fsync).

The store keeps what must never reach the ledger: the certificate data and the sealed PDF. A row is
written as `pending` right after sealing and before anchoring, so a crash between the two loses
nothing; the anchoring step is idempotent on the ledger side, so re-running it anchors nothing
twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Field, Session, SQLModel, col, select

from certificates.errors import ConfigurationError
from certificates.store.cipher import FieldCipher, is_sealed
from certificates.store.engine import Database
from certificates.store.migrations import migrate

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
    # The keyed digest of the type's unique_by values (certificates.store.unique_claims), and
    # for a re-issue the certificate it supersedes: both go to the ledger with the entry.
    unique_digest: str | None = None
    supersedes: str | None = None

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


class StoreMeta(SQLModel, table=True):
    """Markers of one-time work done on the store (e.g. ``encrypted_at_rest``)."""

    __tablename__ = "store_meta"

    name: str = Field(primary_key=True)
    value: str | None = None


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


def _row_with(row: CertificateRow, *, data_json: str, pdf: bytes) -> CertificateRow:
    """A new, unattached row like ``row`` with these values (``model_copy`` of a table model
    shares its ORM state, and the insert wrote the original's values)."""
    values = {name: getattr(row, name) for name in CertificateRow.model_fields}
    values.update(data_json=data_json, pdf=pdf)
    return CertificateRow(**values)


_SEALED_PDFS = text(
    "SELECT id, pdf, sealed_digest FROM certificates WHERE id > :last ORDER BY id LIMIT 200"
)
_SEALED_PDFS_OF_AGENCY = text(
    "SELECT id, pdf, sealed_digest FROM certificates WHERE id > :last AND agency = :agency "
    "ORDER BY id LIMIT 200"
)


# Where each encrypted value lives: its associated data (certificates.store.cipher).
_DATA = "certificates.data_json:%s"
_PDF = "certificates.pdf:%s"
_WEBHOOK_KEY = "webhook_subscriptions.secret:%s"


class Store:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._engine: Engine = database.engine()
        self._cipher: FieldCipher | None = None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: for the few statements the two engines spell apart."""
        return self._engine.dialect.name

    # -- personal data at rest (certificates.store.cipher) -----------------------------------

    def use_cipher(self, cipher: FieldCipher) -> None:
        """Encrypt personal data written from now on, and read what is encrypted."""
        self._cipher = cipher

    # Each value is bound to its place (table.column:row id) as associated data; the places
    # are spelled only here.

    def reveal_data(self, cert_id: str, data_json: str) -> str:
        """A certificate's stored holder data in clear (data from before encryption passes as
        it is).

        :raises ConfigurationError: it is encrypted and the store has no data key.
        """
        return self._reveal_text(data_json, _DATA % cert_id)

    def conceal_secret(self, sub_id: str, secret: str) -> str:
        """A webhook secret as it is stored: encrypted.

        :raises ConfigurationError: opened without the data key. Personal data and secrets
            are never written in clear, so a store without the key cannot write them at all.
        """
        return self._require_cipher().seal_text(secret, _WEBHOOK_KEY % sub_id)

    def reveal_secret(self, sub_id: str, stored: str) -> str:
        return self._reveal_text(stored, _WEBHOOK_KEY % sub_id)

    def conceal(self, value: str, place: str) -> str:
        """``value`` encrypted for ``place`` (table.column:row key), for the store package's
        other tables, whose places are spelled in their own modules."""
        return self._require_cipher().seal_text(value, place)

    def reveal(self, stored: str, place: str) -> str:
        return self._reveal_text(stored, place)

    def _reveal_text(self, value: str, place: str) -> str:
        if not is_sealed(value):
            return value
        return self._require_cipher().open_text(value, place)

    def _reveal_pdf(self, cert_id: str, pdf: bytes) -> bytes:
        if not is_sealed(pdf):
            return pdf
        return self._require_cipher().open_bytes(pdf, _PDF % cert_id)

    def _require_cipher(self) -> FieldCipher:
        if self._cipher is None:
            raise ConfigurationError(
                "the certificates' personal data is encrypted at rest: open the deployment "
                "with the key passphrase (CERTLEDGER_PASSPHRASE) to read or write it"
            )
        return self._cipher

    def _revealed(self, row: CertificateRow) -> CertificateRow:
        """A detached copy of ``row`` with its personal data in clear."""
        return _row_with(
            row,
            data_json=self.reveal_data(row.id, row.data_json),
            pdf=self._reveal_pdf(row.id, row.pdf),
        )

    def encrypt_at_rest(self, batch: int = 500) -> int:
        """Encrypt what was stored in clear before encryption at rest (certificates' data and
        PDFs, webhook secrets), in batches; returns how many values it encrypted. Cheap when
        there is nothing to do: one indexed look at a marker."""
        cipher = self._require_cipher()
        with self._engine.begin() as conn:
            done = conn.execute(
                text("SELECT value FROM store_meta WHERE name = 'encrypted_at_rest'")
            ).first()
        if done is not None:
            return 0
        count = 0
        while True:
            with self._engine.begin() as conn:
                rows = conn.execute(
                    text(
                        "SELECT id, data_json, pdf FROM certificates WHERE "
                        "substr(data_json, 1, 5) != 'enc1:' OR substr(pdf, 1, 4) != :magic "
                        "LIMIT :n"
                    ),
                    {"n": batch, "magic": b"CLE1"},
                ).all()
                for cid, data_json, pdf in rows:
                    conn.execute(
                        text("UPDATE certificates SET data_json = :d, pdf = :p WHERE id = :id"),
                        {
                            "id": cid,
                            "d": data_json
                            if is_sealed(data_json)
                            else cipher.seal_text(data_json, _DATA % cid),
                            "p": bytes(pdf)
                            if is_sealed(bytes(pdf))
                            else cipher.seal_bytes(bytes(pdf), _PDF % cid),
                        },
                    )
                count += len(rows)
            if len(rows) < batch:
                break
        with self._engine.begin() as conn:
            subs = conn.execute(
                text(
                    "SELECT id, secret FROM webhook_subscriptions "
                    "WHERE substr(secret, 1, 5) != 'enc1:'"
                )
            ).all()
            for sid, secret in subs:
                conn.execute(
                    text("UPDATE webhook_subscriptions SET secret = :s WHERE id = :id"),
                    {
                        "id": sid,
                        "s": cipher.seal_text(secret, _WEBHOOK_KEY % sid),
                    },
                )
            count += len(subs)
            conn.execute(
                text(
                    "INSERT INTO store_meta(name, value) VALUES ('encrypted_at_rest', '1') "
                    "ON CONFLICT(name) DO UPDATE SET value = '1'"
                )
            )
        if count and self.dialect == "sqlite":
            # The clear values still sit in freed pages and in the WAL: rewrite the file and
            # empty the WAL, once (this is the only time the store ever held them). A server
            # database's own VACUUM FULL is its operator's (it locks every table).
            with self._engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    @classmethod
    def open(cls, path: Path, *, create: bool = False, url: str | None = None) -> Store:
        """The store in the SQLite file at ``path``, or in the PostgreSQL database at ``url``
        when one is given; brought to the newest schema (certificates.store.migrations).

        :raises ConfigurationError: no store there (a SQLite file is made only with
            ``create``), or the database cannot be reached.
        """
        database = Database.choose(path, url)
        if not database.exists():
            if not create:
                raise ConfigurationError(f"certificate database {database.label} is missing")
            database.prepare()
        store = cls(database)
        try:
            migrate(store._engine, lock_file=database.sqlite_path)
        except OperationalError as exc:
            store.close()
            # The driver's message names the host and the reason, never the password.
            raise ConfigurationError(
                f"cannot open the certificate database {database.label}: {_first_line(exc.orig)}"
            ) from None
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
        if self.dialect == "postgresql":
            conn.autocommit = True
        else:
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
            "ON CONFLICT(scope) DO UPDATE SET last = serials.last + 1 RETURNING last"
        )
        with self._engine.begin() as conn:
            value = conn.execute(stmt, {"scope": scope}).scalar_one()
        return int(value)

    # -- certificates ------------------------------------------------------------------------

    def add_pending(
        self,
        rows: Sequence[CertificateRow],
        *,
        alongside: Callable[[Session], None] | None = None,
    ) -> None:
        """Store new rows; their data and PDF are encrypted on the way in. ``alongside`` writes
        what must be stored with them or not at all (a batch row's link to its certificate, an
        idempotency key), in the same transaction; if it raises, nothing is stored."""
        cipher = self._require_cipher()
        stored = [
            _row_with(
                row,
                data_json=cipher.seal_text(row.data_json, _DATA % row.id),
                pdf=cipher.seal_bytes(row.pdf, _PDF % row.id),
            )
            for row in rows
        ]
        with self.session() as s:
            s.add_all(stored)
            if alongside is not None:
                s.flush()
                alongside(s)
            s.commit()

    def get(self, cert_id: str) -> CertificateRow | None:
        with self.session() as s:
            row = s.get(CertificateRow, cert_id)
        return self._revealed(row) if row is not None else None

    def pending(self, limit: int = 1000) -> list[CertificateRow]:
        with self.session() as s:
            stmt = (
                select(CertificateRow)
                .where(CertificateRow.state == PENDING)
                .order_by(col(CertificateRow.issued_at))
                .limit(limit)
            )
            rows = list(s.exec(stmt))
        return [self._revealed(r) for r in rows]

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
                yield str(cert_id), self._reveal_pdf(str(cert_id), bytes(pdf)), str(digest)
            last = str(rows[-1][0])

    def replace_pdf(self, cert_id: str, pdf: bytes) -> None:
        """Store a renewed PDF (a later revision added to the sealed one: the anchored
        digest of the sealed revision stays what it was; the caller has checked that)."""
        sealed = self._require_cipher().seal_bytes(pdf, _PDF % cert_id)
        with self._engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET pdf = :pdf WHERE id = :id"),
                {"pdf": sealed, "id": cert_id},
            )

    def mark_refused(self, cert_id: str) -> None:
        """A pending certificate the ledger refused for good leaves the anchoring queue (its
        uniqueness claim with it); it stays stored, so nothing is lost, and never verifies."""
        with self._engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET state = 'refused' WHERE id = :id AND state = :p"),
                {"id": cert_id, "p": PENDING},
            )
            conn.execute(text("DELETE FROM unique_claims WHERE cert_id = :id"), {"id": cert_id})

    def set_status(self, cert_id: str, status: str, reason: str | None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET status = :st, status_reason = :r WHERE id = :id"),
                {"st": status, "r": reason, "id": cert_id},
            )
            if status == "revoked":
                # Revocation is final: the certificate's uniqueness key is free for a new one
                # (certificates.store.unique_claims), in the same transaction.
                conn.execute(text("DELETE FROM unique_claims WHERE cert_id = :id"), {"id": cert_id})

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
            valid_until=_day(row[5]) if row[5] else None,
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


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""


def _day(value: Any) -> date:
    # PostgreSQL returns a date; SQLite the text it stored.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _dt(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # SQLite drops the zone: everything is stored in UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
