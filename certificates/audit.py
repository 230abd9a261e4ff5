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
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from ledger import Ledger, LedgerError
from ledger.interface import AuditAnchor

from .errors import CertificateError
from .store import Store

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditReport",
    "AuditUnavailable",
    "entry_hash",
]

GENESIS_HASH = "0" * 64
_DOMAIN = b"certledger/audit/v1\x00"
_RETRIES = 50


class AuditUnavailable(CertificateError):
    """An entry could not be written; the caller must not report the action as done."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, as the caller reports it."""

    action: str  # issue | revoke | verify | view | lookup | details | agreement-* | ...
    result: str  # allowed | denied | ok | not-found | error
    client_id: str = "public"
    agency: str | None = None
    cert_id: str | None = None
    cert_type: str | None = None
    purpose: str | None = None
    fields: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    event: AuditEvent
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return _body(self.seq, self.at, self.event)

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


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


def _body(seq: int, at: str, e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "client_id": e.client_id,
        "agency": e.agency,
        "action": e.action,
        "cert_id": e.cert_id,
        "cert_type": e.cert_type,
        "purpose": e.purpose,
        "fields": list(e.fields),
        "result": e.result,
        "reason": e.reason,
    }


def _unwrap(result: AuditEntry | BaseException) -> AuditEntry:
    if isinstance(result, BaseException):
        raise result
    return result


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    return hashlib.sha256(_DOMAIN + prev_hash.encode("ascii") + b"\x00" + canonical).hexdigest()


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_COLUMNS = (
    "seq, at, client_id, agency, action, cert_id, cert_type, purpose, fields, result, reason, "
    "prev_hash, hash"
)
# Built once from constants only (no caller input), so the S608 warnings below are moot.
_INSERT = (
    f"INSERT INTO audit_log ({_COLUMNS}) VALUES (:seq, :at, :client_id, "  # noqa: S608
    ":agency, :action, :cert_id, :cert_type, :purpose, :fields, :result, :reason, "
    ":prev_hash, :hash)"
)
_SELECT_ALL = f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq"  # noqa: S608
_SELECT_ALL_LIMIT = f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq LIMIT :n"  # noqa: S608
_SELECT_CERT = f"SELECT {_COLUMNS} FROM audit_log WHERE cert_id = :c ORDER BY seq LIMIT :n"  # noqa: S608


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


@dataclass
class AuditLog:
    """Appends and checks the hash-chained audit log in the store."""

    store: Store
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _queue: list[tuple[AuditEvent, list[Any]]] = field(default_factory=list, repr=False)
    _writer: threading.Thread | None = field(default=None, repr=False)
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _loop_queues: dict[Any, list[tuple[list[AuditEvent], Any]]] = field(
        default_factory=dict, repr=False
    )
    _loop_flushing: set[Any] = field(default_factory=set, repr=False)
    _head: tuple[int, str] | None = field(default=None, repr=False)

    # -- writing -------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> AuditEntry:
        """Append one entry and return once it is durably stored; safe across threads and
        processes.

        Group commit: one writer thread per log takes everything queued while it was writing
        and writes it in one transaction (one fsync), so concurrent requests share the cost of
        durability instead of queueing behind one fsync each. No caller returns before its own
        entry is committed.

        The next sequence number is the stored head's plus one, and ``seq`` is the primary
        key: of two processes that read the same head, one insert fails and retries on the
        new head, so the chain never forks.
        """
        slot: list[AuditEntry | BaseException] = []
        with self._cond:
            self._enqueue([(event, slot)])
            while not slot:
                self._cond.wait()
        return _unwrap(slot[0])

    async def record_async(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """As :meth:`record` for several entries, for code on an event loop.

        Group commit per loop: entries queued while a batch is being written wait for the
        next batch, and each batch is written in one transaction on a worker thread, so the
        loop keeps serving (a slow fsync never stalls other requests) and the thread hand-off
        is paid once per batch, not once per request.
        """
        if not events:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[AuditEntry] | BaseException] = loop.create_future()
        # One queue per loop: a batch resolves only futures of the loop it was queued on.
        self._loop_queues.setdefault(loop, []).append((list(events), future))
        if loop not in self._loop_flushing:
            self._loop_flushing.add(loop)
            loop.call_soon(self._start_flush, loop)
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._loop_queues.pop(loop, [])
        if not batch:
            self._loop_flushing.discard(loop)
            return
        flat = [e for events, _ in batch for e in events]
        done = loop.run_in_executor(None, self._write_batch, flat)
        done.add_done_callback(lambda f: self._finish_flush(loop, batch, f))

    def _finish_flush(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[list[AuditEvent], Any]],
        done: asyncio.Future[list[AuditEntry]],
    ) -> None:
        written: list[AuditEntry] | BaseException
        exc = done.exception()
        written = exc if exc is not None else done.result()
        i = 0
        for events, future in batch:
            if not future.done():
                future.set_result(
                    written if isinstance(written, BaseException) else written[i : i + len(events)]
                )
            i += len(events)
        self._start_flush(loop)  # whatever queued meanwhile is the next batch

    def _enqueue(self, items: list[tuple[AuditEvent, list[Any]]]) -> None:
        # Called with self._cond held.
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._writer.start()
        self._queue.extend(items)
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            try:
                outcome: list[AuditEntry] | BaseException = self._write_batch([e for e, _ in batch])
            except BaseException as exc:  # handed to every waiter, who re-raises it
                outcome = exc
            with self._cond:
                for i, (_, waiting) in enumerate(batch):
                    waiting.append(outcome if isinstance(outcome, BaseException) else outcome[i])
                self._cond.notify_all()

    def _write_batch(self, events: list[AuditEvent]) -> list[AuditEntry]:
        # One writer at a time in this process (the writer thread or an event loop); other
        # processes are kept apart by the primary key on seq.
        with self._write_lock:
            for attempt in range(_RETRIES):
                try:
                    return self._append(events, use_cache=attempt == 0)
                except (IntegrityError, OperationalError):
                    self._head = None
                    time.sleep(0.001 * (attempt + 1))
        raise AuditUnavailable("the audit log is busy; the action was not recorded")

    def _append(self, events: list[AuditEvent], *, use_cache: bool) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        with self.store.session() as s:
            conn = s.connection()
            head = self._head if use_cache else None
            if head is None:
                row = conn.execute(
                    text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                ).first()
                head = (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
            seq, prev = head
            rows = []
            for event in events:
                seq += 1
                at = _timestamp(self.clock())
                digest = entry_hash(prev, _body(seq, at, event))
                rows.append(
                    {
                        "seq": seq,
                        "at": at,
                        "client_id": event.client_id,
                        "agency": event.agency,
                        "action": event.action,
                        "cert_id": event.cert_id,
                        "cert_type": event.cert_type,
                        "purpose": event.purpose,
                        "fields": json.dumps(list(event.fields), ensure_ascii=False),
                        "result": event.result,
                        "reason": event.reason,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                out.append(AuditEntry(seq, at, event, prev, digest))
                prev = digest
            conn.execute(text(_INSERT), rows)
            s.commit()
        # Another process may append too: the cached head is only a first guess, and a stale
        # one fails on the primary key and is re-read.
        self._head = (seq, prev)
        return out

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
