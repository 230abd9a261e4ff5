"""The audit log: who did what to which certificate, why, when, and with what result.

Every issuance, revocation, verification, lookup and denial appends one entry. Entries are
append-only and hash-chained: entry n's hash covers its own columns and entry n-1's hash, so

- editing an entry changes its hash, which no longer matches the stored one, nor the next
  entry's ``prev_hash``;
- deleting an entry leaves a gap in the sequence numbers and a broken link;
- reordering entries breaks the links (the sequence number is hashed too).

An attacker with write access to the database could rewrite the whole chain from the edit
onwards; that is what anchoring defends against: the head (sequence number and hash) is
periodically anchored on the ledger, whose contract refuses a head that rewinds or differs at
the same length, and ``verify`` checks the stored chain against the anchored head. Entries
appended after the last anchoring are protected by the chain only.

What an entry never holds: holder identifiers, names, field *values*, tokens. Field names,
purpose codes and certificate ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text

from certificates.audit.model import AuditEntry, AuditEvent, AuditUnavailable, entry_body
from certificates.audit.remote import RemoteAuditWriter
from certificates.store.database import Store
from ledger import Ledger, LedgerError
from ledger.interface import AuditAnchor

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditReport",
    "AuditUnavailable",
    "RemoteAuditWriter",
    "entry_hash",
]

log = logging.getLogger("certledger.audit")

GENESIS_HASH = "0" * 64
_DOMAIN = b"certledger/audit/v1\x00"
_RETRIES = 50
# Commit delay (AuditLog._await_company): at most this share of the last write's duration,
# and never more than _PATIENCE_MAX seconds.
_PATIENCE_SHARE = 1.0
_PATIENCE_MAX = 0.002


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    reason: str
    anchored_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "first_bad_seq": self.first_bad_seq,
            "anchored_seq": self.anchored_seq,
            "reason": self.reason,
        }


def _unwrap(result: list[AuditEntry] | BaseException) -> list[AuditEntry]:
    if isinstance(result, BaseException):
        raise result
    return result


# The canonical form an entry's hash covers is, by definition,
#     json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#                allow_nan=False).encode("utf-8")
# orjson with sorted keys writes exactly these bytes for the values an entry holds (strings,
# None, integers, lists of strings; checked for every Unicode scalar value, and by
# tests/lookup/test_audit_group_commit.py) at a fraction of the cost. Floats (which no entry
# holds, but an edited database row could: orjson writes NaN as null) and whatever orjson
# refuses go through json, the definition.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_FIELDS = json.JSONEncoder(ensure_ascii=False).encode  # the stored `fields` column
_FIELDS_CACHE: dict[tuple[str, ...], str] = {}


def canonical_body(body: dict[str, Any]) -> bytes:
    if float not in map(type, body.values()):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return _CANONICAL(body).encode("utf-8")


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    canonical = canonical_body(body)
    return hashlib.sha256(_DOMAIN + prev_hash.encode("ascii") + b"\x00" + canonical).hexdigest()


def _fields_json(fields: tuple[str, ...]) -> str:
    """The stored form of a field-name list; the few distinct lists are encoded once."""
    text_ = _FIELDS_CACHE.get(fields)
    if text_ is None:
        text_ = _FIELDS(list(fields))
        if len(_FIELDS_CACHE) < 1024:
            _FIELDS_CACHE[fields] = text_
    return text_


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_COLUMN_NAMES = (
    "seq",
    "at",
    "client_id",
    "agency",
    "action",
    "cert_id",
    "cert_type",
    "purpose",
    "fields",
    "result",
    "reason",
    "prev_hash",
    "hash",
)
_COLUMNS = ", ".join(_COLUMN_NAMES)
_SELECT_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
# Rows per INSERT statement: 64 x 13 parameters stays under SQLite's oldest limit (999).
_ROWS_PER_INSERT = 64


@functools.lru_cache(maxsize=2 * _ROWS_PER_INSERT)
def _insert_rows(n: int, mark: str = "?") -> str:
    """``mark``: the driver's placeholder (sqlite3's ``?``, psycopg's ``%s``)."""
    row = "(" + ", ".join([mark] * len(_COLUMN_NAMES)) + ")"
    return f"INSERT INTO audit_log ({_COLUMNS}) VALUES " + ", ".join([row] * n)  # noqa: S608


# Built once from constants only (no caller input), so the S608 warnings below are moot.
_SELECT_ALL = f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq"  # noqa: S608
_SELECT_ALL_LIMIT = f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq LIMIT :n"  # noqa: S608
_SELECT_CERT = f"SELECT {_COLUMNS} FROM audit_log WHERE cert_id = :c ORDER BY seq LIMIT :n"  # noqa: S608
_SELECT_SEQ = f"SELECT {_COLUMNS} FROM audit_log WHERE seq = :s"  # noqa: S608
# Newest first: a clerk's list of the day shows the last verification on top.
_SELECT_CLIENT_SINCE = (
    f"SELECT {_COLUMNS} FROM audit_log WHERE action = :a AND client_id = :c AND at >= :t "  # noqa: S608
    "ORDER BY seq DESC LIMIT :n"
)


def _entry(row: Sequence[Any]) -> AuditEntry:
    try:
        fields = tuple(str(f) for f in json.loads(row[8]))
    except (ValueError, TypeError):
        fields = ("<unreadable>",)  # still hashed as stored: verify() will flag the row
    return AuditEntry(
        seq=int(row[0]),
        at=str(row[1]),
        event=AuditEvent(
            action=row[4],
            result=row[9],
            client_id=row[2],
            agency=row[3],
            cert_id=row[5],
            cert_type=row[6],
            purpose=row[7],
            fields=fields,
            reason=row[10],
        ),
        prev_hash=row[11],
        hash=row[12],
    )


@dataclass(slots=True)
class _Waiting:
    """Entries queued by one caller, and how to tell that caller they are durable: a future on
    its event loop (``record_async``) or a slot a thread waits on (``record``)."""

    events: tuple[AuditEvent, ...]
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[list[AuditEntry]] | None = None
    slot: list[list[AuditEntry] | BaseException] | None = None


def _settle(future: asyncio.Future[list[AuditEntry]], outcome: Any) -> None:
    if future.done():  # the caller was cancelled (client went away); its entries are written
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(items: list[tuple[asyncio.Future[list[AuditEntry]], Any]]) -> None:
    for future, outcome in items:
        _settle(future, outcome)


@dataclass
class AuditLog:
    """Appends and checks the hash-chained audit log in the store."""

    store: Store
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Set in server workers: entries go to the audit writer service (one writer process for
    # all workers) instead of this process's writer thread. Reading and checking stay here.
    remote: RemoteAuditWriter | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: list[_Waiting] = field(default_factory=list, repr=False)
    _writer: threading.Thread | None = field(default=None, repr=False)
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _conn: Any = field(default=None, repr=False)
    _head: tuple[int, str] | None = field(default=None, repr=False)
    _gather: int = field(default=0, repr=False)  # queue length the writer waits for, or 0
    _work: threading.Condition = field(init=False, repr=False)
    _done: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Two conditions on one lock: the writer waits for work, callers of record() for
        # their entries; a notify for one never wakes the other.
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)

    # -- writing -------------------------------------------------------------------------
    #
    # Group commit with one writer: every entry of this process, from threads (record) and
    # event loops (record_async) alike, goes through one queue to one writer thread. The
    # writer takes everything queued while it was writing and writes it in one transaction
    # (one fsync), then releases every waiter of that batch; no caller returns before its own
    # entry is committed. Callers on an event loop are resumed by one callback per loop per
    # batch, so the loop never blocks on the database and the thread hand-off is paid per
    # batch, not per request.
    #
    # Across processes (several server workers, the CLI) the chain stays linear because
    # ``seq`` is the primary key and a batch is written all or nothing: each process chains
    # onto the head it last wrote or read, and if another process appended meanwhile, the
    # batch's first seq collides, the whole batch fails, and it is retried on the head read
    # afresh. So the chain never forks, and no caller is released on a failed write.

    def record(self, event: AuditEvent) -> AuditEntry:
        """Append one entry and return once it is durably stored; safe across threads and
        processes."""
        return self.record_all((event,))[0]

    def record_all(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """As :meth:`record` for several entries, written in one transaction (all or none)."""
        if not events:
            return []
        if self.remote is not None:
            return self.remote.record(list(events))
        slot: list[list[AuditEntry] | BaseException] = []
        with self._lock:
            self._enqueue(_Waiting(tuple(events), slot=slot))
            while not slot:
                self._done.wait()
        return _unwrap(slot[0])

    async def record_async(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """As :meth:`record` for several entries, for code on an event loop: awaits the batch
        that commits them without blocking the loop."""
        if not events:
            return []
        if self.remote is not None:
            return await self.remote.record_async(events)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[AuditEntry]] = loop.create_future()
        with self._lock:
            self._enqueue(_Waiting(tuple(events), loop, future))
        return await future

    async def write_async(self, events: Sequence[AuditEvent]) -> None:
        """As :meth:`record_async`, for callers that need only to know the entries are
        durable (the lookup routes): through the audit writer service, the entries are then
        not built at all."""
        if not events:
            return
        if self.remote is not None:
            await self.remote.write_async(events)
        else:
            await self.record_async(events)

    def _enqueue(self, item: _Waiting) -> None:
        # Called with self._lock held.
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._writer.start()
        self._queue.append(item)
        n = len(self._queue)
        # The writer waits for a first entry, or (gathering) for a number of them.
        if n == self._gather or (n == 1 and not self._gather):
            self._work.notify()

    def _run(self) -> None:
        company, patience = 1, 0.0
        while True:
            with self._lock:
                while not self._queue:
                    self._work.wait()
                if len(self._queue) < company and patience > 0:
                    self._await_company(company, patience)
                batch, self._queue = self._queue, []
            events = [e for w in batch for e in w.events]
            outcome: list[AuditEntry] | BaseException
            started = time.monotonic()
            try:
                outcome = self.append_batch(events)
            except AuditUnavailable as exc:  # handed to every waiter, who re-raises it
                outcome = exc
            company = len(batch)
            patience = min(_PATIENCE_MAX, (time.monotonic() - started) * _PATIENCE_SHARE)
            self._release(batch, outcome)

    def _await_company(self, company: int, patience: float) -> None:
        """Commit delay (called with the lock held): the callers just released by a batch of
        ``company`` usually come back with their next entries within a fraction of a commit.
        Waiting a little for them turns what would be two commits into one, so under
        concurrency each commit serves about twice the callers. Never longer than
        ``patience`` (a share of the last write, capped), and not at all without
        concurrency (a batch of one sets ``company`` to one)."""
        deadline = time.monotonic() + patience
        self._gather = company
        try:
            while len(self._queue) < company:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
        finally:
            self._gather = 0

    def _release(self, batch: list[_Waiting], outcome: list[AuditEntry] | BaseException) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
        slots: list[tuple[list[Any], Any]] = []
        i = 0
        for w in batch:
            n = len(w.events)
            mine = outcome if isinstance(outcome, BaseException) else outcome[i : i + n]
            i += n
            if w.slot is not None:
                slots.append((w.slot, mine))
            elif w.loop is not None:
                by_loop.setdefault(w.loop, []).append((w.future, mine))
        for loop, items in by_loop.items():
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, items)
        if slots:
            with self._lock:
                for slot, mine in slots:
                    slot.append(mine)
                self._done.notify_all()

    def append_batch(self, events: list[AuditEvent]) -> list[AuditEntry]:
        """Chain and durably write ``events`` as one transaction, all or nothing; the writer
        of this process and the audit writer service (``audit_service``) both call this.
        Raises :class:`AuditUnavailable` when nothing was written."""
        try:
            return self._write_batch(events)
        except AuditUnavailable:
            raise
        except Exception as exc:  # the database failed: fail closed, with the same error
            log.error("cannot write the audit log: %s", type(exc).__name__)
            self._reset()  # a fresh connection and head for the next batch
            raise AuditUnavailable("the audit log cannot be written; nothing was recorded") from exc

    def _write_batch(self, events: list[AuditEvent]) -> list[AuditEntry]:
        # One writer at a time in this process; other processes (and, on PostgreSQL, other
        # hosts) are kept apart by the database's locks and the primary key on seq.
        with self._write_lock:
            for attempt in range(_RETRIES):
                try:
                    return self._append(events)
                except self.store.retryable_errors:  # locked, or another process appended
                    self._head = None
                    # ... or the server went away (a PostgreSQL restart): a closed connection
                    # never recovers, so the next attempt opens a new one. Kept, it would
                    # refuse every later batch until this process restarted.
                    if getattr(self._conn, "closed", False):
                        self._conn = None
                    time.sleep(0.001 * (attempt + 1))
        raise AuditUnavailable("the audit log is busy; the action was not recorded")

    def _append(self, events: list[AuditEvent]) -> list[AuditEntry]:
        # A DB-API connection of the log's own, in autocommit mode: a batch of up to
        # _ROWS_PER_INSERT entries is ONE statement, hence one implicit transaction and one
        # fsync (synchronous=FULL) with no BEGIN/COMMIT round trips and no ORM work.
        conn = self._conn
        if conn is None:
            conn = self._conn = self.store.autocommit_connection()
        cur = conn.cursor()
        head = self._head
        if head is None:
            cur.execute(_SELECT_HEAD)
            row = cur.fetchone()
            head = (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
        seq, prev = head
        # One timestamp per batch: the entries are committed together.
        at = _timestamp(self.clock())
        out: list[AuditEntry] = []
        params: list[Any] = []
        for event in events:
            seq += 1
            digest = entry_hash(prev, entry_body(seq, at, event))
            params += (
                seq,
                at,
                event.client_id,
                event.agency,
                event.action,
                event.cert_id,
                event.cert_type,
                event.purpose,
                _fields_json(event.fields),
                event.result,
                event.reason,
                prev,
                digest,
            )
            out.append(AuditEntry(seq, at, event, prev, digest))
            prev = digest
        postgres = self.store.dialect == "postgresql"
        mark = "%s" if postgres else "?"
        if len(events) <= _ROWS_PER_INSERT:
            cur.execute(_insert_rows(len(events), mark), params)
        else:  # several statements: one explicit transaction, still all or nothing
            width = len(_COLUMN_NAMES)
            # SQLite: take the write lock at once, so the batch cannot deadlock half-way.
            cur.execute("BEGIN" if postgres else "BEGIN IMMEDIATE")
            try:
                for start in range(0, len(events), _ROWS_PER_INSERT):
                    n = min(_ROWS_PER_INSERT, len(events) - start)
                    cur.execute(_insert_rows(n, mark), params[start * width : (start + n) * width])
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
        # Only a guess for the next batch: if another process appends meanwhile, the next
        # insert collides on seq (the primary key), fails as a whole and is retried on the
        # head read afresh, so the chain never forks.
        self._head = (seq, prev)
        return out

    def close(self) -> None:
        """Close the log's own connection (the writer thread opens another if needed)."""
        if self.remote is not None:
            self.remote.close()
        self._reset()

    def _reset(self) -> None:
        with self._write_lock:
            conn, self._conn, self._head = self._conn, None, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    # -- reading -------------------------------------------------------------------------

    def entries(self, *, cert_id: str | None = None, limit: int = 10_000) -> list[AuditEntry]:
        with self.store.session() as s:
            conn = s.connection()
            if cert_id is None:
                rows = conn.execute(text(_SELECT_ALL_LIMIT), {"n": limit}).all()
            else:
                rows = conn.execute(
                    text(_SELECT_CERT),
                    {"c": cert_id, "n": limit},
                ).all()
        return [_entry(r) for r in rows]

    def entry(self, seq: int) -> AuditEntry | None:
        """The entry with sequence number ``seq`` (an audit record number), or ``None``."""
        with self.store.session() as s:
            row = s.connection().execute(text(_SELECT_SEQ), {"s": seq}).first()
        return _entry(row) if row is not None else None

    def entries_by_client(
        self, client_id: str, *, action: str, since: datetime, limit: int = 500
    ) -> list[AuditEntry]:
        """``client_id``'s entries of ``action`` written at or after ``since``, newest first.

        ``at`` is stored as canonical UTC text of fixed width, so comparing the text compares
        the times (the filter runs on the ``action`` index)."""
        with self.store.session() as s:
            rows = (
                s.connection()
                .execute(
                    text(_SELECT_CLIENT_SINCE),
                    {"a": action, "c": client_id, "t": _timestamp(since), "n": limit},
                )
                .all()
            )
        return [_entry(r) for r in rows]

    def head(self) -> tuple[int, str] | None:
        with self.store.session() as s:
            row = (
                s.connection()
                .execute(text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
                .first()
            )
        return (int(row[0]), str(row[1])) if row else None

    # -- identity and anchoring ------------------------------------------------------------

    def _meta(self, name: str) -> str | None:
        with self.store.session() as s:
            row = (
                s.connection()
                .execute(text("SELECT value FROM audit_meta WHERE name = :n"), {"n": name})
                .first()
            )
        return str(row[0]) if row else None

    def _meta_default(self, name: str, value: str) -> str:
        """The stored value of ``name``, storing ``value`` first if there is none."""
        with self.store.session() as s:
            conn = s.connection()
            conn.execute(
                text("INSERT INTO audit_meta (name, value) VALUES (:n, :v) ON CONFLICT DO NOTHING"),
                {"n": name, "v": value},
            )
            s.commit()
            row = (
                s.connection()
                .execute(text("SELECT value FROM audit_meta WHERE name = :n"), {"n": name})
                .first()
            )
        assert row is not None
        return str(row[0])

    def log_id(self) -> str:
        """This log's stable name on the ledger (random, made once)."""
        return self._meta_default("log_id", f"log-{secrets.token_hex(8)}")

    def anchor(self, ledger: Ledger, agency: str) -> AuditAnchor | None:
        """Anchor the current head on the ledger as ``agency``; ``None`` for an empty log.

        The anchoring agency is fixed on first use, so verification always reads the head
        from the same ledger key.
        """
        head = self.head()
        if head is None:
            return None
        agency = self._meta_default("anchor_agency", agency)
        return ledger.anchor_audit_head(agency, self.log_id(), head[0], head[1])

    def anchored(self, ledger: Ledger) -> AuditAnchor | None:
        agency = self._meta("anchor_agency")
        log_id = self._meta("log_id")
        if agency is None or log_id is None:
            return None
        return ledger.audit_head(agency, log_id)

    # -- checking --------------------------------------------------------------------------

    def verify(self, ledger: Ledger | None = None) -> AuditReport:
        """Re-check every link and hash, then the chain against the ledger's anchored head.

        Reports the first bad entry. An unreadable ledger is a failed check, never a pass.
        """
        anchor: AuditAnchor | None = None
        if ledger is not None:
            try:
                anchor = self.anchored(ledger)
            except LedgerError as exc:
                return AuditReport(False, 0, None, f"cannot read the anchored head: {exc}")
        expected_seq, prev = 1, GENESIS_HASH
        checked = 0
        anchored_hash: str | None = None
        with self.store.session() as s:
            result = s.connection().execute(text(_SELECT_ALL))
            for row in result:
                entry = _entry(row)
                if entry.seq != expected_seq:
                    return AuditReport(
                        False,
                        checked,
                        expected_seq,
                        f"entry {expected_seq} is missing (next stored entry is {entry.seq}); "
                        "entries were deleted",
                        anchor.seq if anchor else None,
                    )
                if entry.prev_hash != prev:
                    return AuditReport(
                        False,
                        checked,
                        entry.seq,
                        f"entry {entry.seq} does not link to entry {entry.seq - 1}; entries were "
                        "edited, deleted or reordered",
                        anchor.seq if anchor else None,
                    )
                if entry_hash(prev, entry.body()) != entry.hash:
                    return AuditReport(
                        False,
                        checked,
                        entry.seq,
                        f"entry {entry.seq} does not match its hash; it was edited",
                        anchor.seq if anchor else None,
                    )
                if anchor is not None and entry.seq == anchor.seq:
                    anchored_hash = entry.hash
                prev = entry.hash
                checked += 1
                expected_seq += 1
        if anchor is not None:
            if checked < anchor.seq:
                return AuditReport(
                    False,
                    checked,
                    checked + 1,
                    f"the ledger anchored {anchor.seq} entries but only {checked} are stored; "
                    "entries were deleted",
                    anchor.seq,
                )
            if anchored_hash != anchor.head:
                return AuditReport(
                    False,
                    checked,
                    None,
                    f"entries up to {anchor.seq} differ from the head anchored on the ledger; "
                    "the log was rewritten",
                    anchor.seq,
                )
        summary = f"{checked} entries verified"
        summary += (
            f"; head at entry {anchor.seq} matches the ledger"
            if anchor
            else "; no head anchored on the ledger yet"
        )
        return AuditReport(True, checked, None, summary, anchor.seq if anchor else None)
