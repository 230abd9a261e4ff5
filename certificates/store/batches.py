"""Batch jobs, their rows, and idempotency keys of single issuance: the tables that make a
batch resumable and a repeated request harmless.

A batch row is linked to its certificate (``cert_id`` and the encrypted verification token)
in the transaction that stores the certificate as pending (``Store.add_pending(alongside=…)``),
and only where the row has no certificate yet: a certificate never exists without its row's
link, and a row never gets a second certificate, even with two runners at once.

The rows' data is personal data: it is stored encrypted (``Store.conceal``) and emptied once the
row's certificate holds it. Field errors hold field names, codes and messages, never values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from certificates.store.database import Store

__all__ = [
    "BatchItem",
    "BatchItemRow",
    "BatchJobRow",
    "BatchStore",
    "Counts",
    "IdempotencyRow",
    "LinkLost",
]

# Where each encrypted value lives: its associated data (certificates.store.cipher).
_ROW_DATA_AT = "batch_rows.data:%s:%d"
_ROW_QR_AT = "batch_rows.token:%s:%d"
_KEY_QR_AT = "idempotency_keys.token:%s:%s"


class BatchJobRow(SQLModel, table=True):
    __tablename__ = "batch_jobs"

    id: str = Field(primary_key=True)  # derived from (agency, batch identity): see batches
    agency: str = Field(index=True)
    client_id: str  # who submitted it; its certificates are audited as theirs
    cert_type: str
    file_digest: str  # SHA-256 of the submitted file
    total: int
    state: str  # queued | running | done ("interrupted" is running with no live runner)
    runner: str | None = None  # host:pid:nonce of the process working on it
    heartbeat: float | None = None  # UNIX time of the runner's last sign of life
    created_at: datetime
    finished_at: datetime | None = None


class BatchItemRow(SQLModel, table=True):
    __tablename__ = "batch_rows"

    batch_id: str = Field(primary_key=True)
    row: int = Field(primary_key=True)  # 1-based data row
    line: int  # the row's first line in the file (the header is line 1)
    data: str = ""  # encrypted JSON of the row's values; emptied once issued or refused
    errors_json: str | None = None  # JSON list of field errors; None: the row is valid
    cert_id: str | None = Field(default=None, index=True)
    token: str | None = None  # encrypted verification token of cert_id

    def __repr__(self) -> str:
        return f"BatchItemRow(batch_id={self.batch_id!r}, row={self.row}, cert_id={self.cert_id!r})"


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    agency: str = Field(primary_key=True)
    key_digest: str = Field(primary_key=True)  # SHA-256 of the client's key (kept opaque)
    request_digest: str  # SHA-256 of the canonical request (type and data)
    cert_id: str
    token: str  # encrypted verification token of cert_id
    created_at: datetime


class LinkLost(Exception):
    """A row already has a certificate, or a key is already taken: the transaction that would
    have stored a second certificate is rolled back."""


@dataclass(frozen=True)
class Counts:
    total: int
    issued: int
    failed: int


@dataclass(frozen=True)
class BatchItem:
    row: int
    line: int
    data: dict[str, str] | None  # the row's values while it waits to be issued
    errors: list[dict[str, str]] | None
    cert_id: str | None
    token: str | None

    def __repr__(self) -> str:
        return f"BatchItem(row={self.row}, cert_id={self.cert_id!r})"


_CLAIM = (
    "UPDATE batch_jobs SET state = 'running', runner = :me, heartbeat = :now "
    "WHERE id = :id AND state != 'done' AND "
)
_CLAIM_UNCLAIMED = _CLAIM + "runner IS NULL"
_CLAIM_FROM = _CLAIM + "runner = :old"


class BatchStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- jobs --------------------------------------------------------------------------------

    def job(self, batch_id: str) -> BatchJobRow | None:
        with self._store.session() as s:
            return s.get(BatchJobRow, batch_id)

    def create(
        self,
        job: BatchJobRow,
        rows: Sequence[tuple[int, int, dict[str, str] | None, list[dict[str, str]] | None]],
    ) -> bool:
        """Store a new job and its rows (row, line, data, errors) in one transaction. False if
        a job with this id exists already (a concurrent submit of the same batch won)."""
        conceal = self._store.conceal
        with self._store.session() as s:
            if s.get(BatchJobRow, job.id) is not None:
                return False
            s.add(job)
            s.add_all(
                BatchItemRow(
                    batch_id=job.id,
                    row=n,
                    line=line,
                    data=""
                    if data is None
                    else conceal(json.dumps(data, ensure_ascii=False), _ROW_DATA_AT % (job.id, n)),
                    errors_json=None if errors is None else json.dumps(errors, ensure_ascii=False),
                )
                for n, line, data, errors in rows
            )
            try:
                s.commit()
            except IntegrityError:  # the other submit's insert came first
                return False
        return True

    def running(self, agency: str | None = None) -> list[BatchJobRow]:
        """The jobs marked running (of ``agency``, or of every agency), oldest first."""
        with self._store.session() as s:
            query = select(BatchJobRow).where(BatchJobRow.state == "running")
            if agency is not None:
                query = query.where(BatchJobRow.agency == agency)
            return list(s.exec(query.order_by(col(BatchJobRow.created_at))).all())

    def claim(self, batch_id: str, runner: str, expected: str | None, now: float) -> bool:
        """Make ``runner`` the job's runner if its runner is still ``expected`` (compare and
        set: of two processes resuming at once, one wins)."""
        # ``runner IS :old`` was SQLite's alone: PostgreSQL allows IS only before NULL, TRUE...
        claim = _CLAIM_UNCLAIMED if expected is None else _CLAIM_FROM
        with self._store.session() as s:
            result = s.execute(
                text(claim),
                {"me": runner, "now": now, "id": batch_id, "old": expected},
            )
            s.commit()
        return _rowcount(result) == 1

    def beat(self, batch_id: str, runner: str, now: float) -> None:
        self._exec(
            "UPDATE batch_jobs SET heartbeat = :now WHERE id = :id AND runner = :me",
            {"now": now, "id": batch_id, "me": runner},
        )

    def release(self, batch_id: str, runner: str, *, done: bool) -> None:
        self._exec(
            "UPDATE batch_jobs SET runner = NULL, heartbeat = NULL, "
            "state = CASE WHEN :done THEN 'done' ELSE state END, "
            "finished_at = CASE WHEN :done THEN :at ELSE finished_at END "
            "WHERE id = :id AND runner = :me",
            {"done": done, "at": datetime.now(UTC), "id": batch_id, "me": runner},
        )

    def counts(self, batch_id: str) -> Counts:
        with self._store.session() as s:
            row = s.execute(
                text(
                    "SELECT count(*), count(cert_id), count(errors_json) FROM batch_rows "
                    "WHERE batch_id = :id"
                ),
                {"id": batch_id},
            ).one()
        return Counts(int(row[0]), int(row[1]), int(row[2]))

    # -- rows --------------------------------------------------------------------------------

    def waiting(self, batch_id: str, limit: int) -> list[BatchItem]:
        """The next rows still to be issued: valid, with no certificate yet."""
        return self._items(
            "SELECT row, line, data, errors_json, cert_id, token FROM batch_rows "
            "WHERE batch_id = :id AND cert_id IS NULL AND errors_json IS NULL "
            "ORDER BY row LIMIT :n",
            {"id": batch_id, "n": limit},
            batch_id,
        )

    def items(self, batch_id: str, after: int = 0, limit: int = 500) -> list[BatchItem]:
        """Rows after data row ``after``, in order (read in pages: a batch may be large)."""
        return self._items(
            "SELECT row, line, data, errors_json, cert_id, token FROM batch_rows "
            "WHERE batch_id = :id AND row > :after ORDER BY row LIMIT :n",
            {"id": batch_id, "after": after, "n": limit},
            batch_id,
        )

    def refuse(self, batch_id: str, row: int, errors: list[dict[str, str]]) -> None:
        """A row found invalid when it came to be issued: refused, its data forgotten."""
        self._exec(
            "UPDATE batch_rows SET errors_json = :e, data = '' "
            "WHERE batch_id = :id AND row = :row AND cert_id IS NULL",
            {"e": json.dumps(errors, ensure_ascii=False), "id": batch_id, "row": row},
        )

    def link(self, s: Session, batch_id: str, row: int, cert_id: str, token: str) -> None:
        """Inside the transaction storing ``cert_id`` as pending: the row's link to it.

        :raises LinkLost: the row has a certificate already (the transaction must not commit).
        """
        result = s.execute(
            text(
                "UPDATE batch_rows SET cert_id = :cid, token = :tok, data = '' "
                "WHERE batch_id = :id AND row = :row AND cert_id IS NULL"
            ),
            {
                "cid": cert_id,
                "tok": self._store.conceal(token, _ROW_QR_AT % (batch_id, row)),
                "id": batch_id,
                "row": row,
            },
        )
        if _rowcount(result) != 1:
            raise LinkLost(f"batch row {row} has a certificate already")

    # -- idempotency keys of single issuance -----------------------------------------------------

    def key(self, agency: str, key_digest: str) -> tuple[str, str, str] | None:
        """(request digest, cert id, token) stored under an agency's key."""
        with self._store.session() as s:
            row = s.get(IdempotencyRow, (agency, key_digest))
        if row is None:
            return None
        token = self._store.reveal(row.token, _KEY_QR_AT % (agency, key_digest))
        return row.request_digest, row.cert_id, token

    def take_key(
        self,
        s: Session,
        agency: str,
        key_digest: str,
        request_digest: str,
        cert_id: str,
        token: str,
    ) -> None:
        """Inside the transaction storing ``cert_id`` as pending: the key's record of it.

        :raises LinkLost: another request took the key first.
        """
        result = s.execute(
            text(
                "INSERT INTO idempotency_keys(agency, key_digest, request_digest, cert_id, "
                "token, created_at) VALUES (:a, :k, :r, :c, :t, :at) ON CONFLICT DO NOTHING"
            ),
            {
                "a": agency,
                "k": key_digest,
                "r": request_digest,
                "c": cert_id,
                "t": self._store.conceal(token, _KEY_QR_AT % (agency, key_digest)),
                "at": datetime.now(UTC),
            },
        )
        if _rowcount(result) != 1:
            raise LinkLost("the idempotency key was taken by another request")

    # -- helpers -----------------------------------------------------------------------------

    def _exec(self, sql: str, params: dict[str, object]) -> None:
        with self._store.session() as s:
            s.execute(text(sql), params)
            s.commit()

    def _items(self, sql: str, params: dict[str, object], batch_id: str) -> list[BatchItem]:
        with self._store.session() as s:
            rows = s.execute(text(sql), params).all()
        reveal = self._store.reveal
        out = []
        for row, line, data, errors, cert_id, token in rows:
            n = int(row)
            out.append(
                BatchItem(
                    row=n,
                    line=int(line),
                    data=json.loads(reveal(data, _ROW_DATA_AT % (batch_id, n))) if data else None,
                    errors=json.loads(errors) if errors else None,
                    cert_id=cert_id,
                    token=reveal(token, _ROW_QR_AT % (batch_id, n)) if token else None,
                )
            )
        return out


def _rowcount(result: object) -> int:
    # An UPDATE or INSERT answers a cursor result, which counts the rows it changed.
    return int(cast(CursorResult[Any], result).rowcount)
