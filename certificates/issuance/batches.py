"""Batch issuance as a job: submitted once, worked through in chunks, resumable after a crash,
never issuing a row twice. The one place batch rules live; the CLI, the HTTP API and the
agency console all call :class:`BatchService`.

* **Identity.** A batch is identified by the caller's batch key, or else by its agency, type
  and the SHA-256 of the file; submitting the same identity again returns the existing job
  (and a runner resumes it), it never makes a second one.
* **Partial failure.** Every row is validated at submission; an invalid row is reported with
  its field errors (data row and file line), the valid rows are issued.
* **Durability.** Rows go through :meth:`IssuanceService.issue_chunk_as` a chunk at a time
  (render → seal → store pending: the one pipeline). Each row's link to its certificate is
  written in the transaction that stores the certificate, so a crash loses at most the chunk
  in flight, and a resumed run issues only rows without a certificate. The stored chunks are
  anchored together, one ledger transaction per :data:`ANCHOR_ROWS` rows and at the end (on
  Fabric every transaction waits for a commit); what a crash left pending is anchored when
  the batch is resumed.
* **Liveness.** A job says who runs it (host, process, nonce) and when that runner last gave a
  sign of life; a job marked running whose runner is gone (its process dead, or silent for
  :data:`STALE_AFTER` seconds) is ``interrupted``, and ``run`` takes it over.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session

from certificates.audit import AuditEvent, AuditLog
from certificates.issuance.batch_csv import read_batch_csv
from certificates.issuance.refusals import BatchBusy, BatchKeyConflict, BatchNotFound, BatchRefusal
from certificates.issuance.service import (
    ANCHOR_CHUNK,
    BatchValidationError,
    IssuanceService,
    Issued,
)
from certificates.sharing.clients import Principal
from certificates.store.batches import BatchItem, BatchJobRow, BatchStore, LinkLost
from certificates.store.database import Store
from certificates.types import (
    CERTIFICATE_TYPES,
    CertificateDataError,
    CertificateType,
    FieldError,
    ValidatedData,
)

__all__ = ["BatchProgress", "BatchRowResult", "BatchService"]

log = logging.getLogger("certledger.batches")

CHUNK = 20  # rows per store transaction: what a crash can cost at most
ANCHOR_ROWS = ANCHOR_CHUNK  # stored rows anchored together (one ledger transaction)
STALE_AFTER = 120.0  # seconds without a heartbeat after which a runner elsewhere is gone
MAX_KEY_LENGTH = 200

QUEUED, RUNNING, DONE, INTERRUPTED = "queued", "running", "done", "interrupted"


@dataclass(frozen=True)
class BatchProgress:
    batch_id: str
    cert_type: str
    total: int
    issued: int
    failed: int
    state: str  # "queued" | "running" | "done" | "interrupted"

    @property
    def percent(self) -> int:
        """How much of the batch is settled (issued or refused), 0 to 100."""
        if self.total == 0:
            return 100
        return min(100, (self.issued + self.failed) * 100 // self.total)

    @property
    def done(self) -> bool:
        return self.state == DONE

    @property
    def waiting(self) -> int:
        return self.total - self.issued - self.failed


@dataclass(frozen=True)
class BatchRowResult:
    row: int  # 1-based data row
    line: int  # the row's first line in the file (the header is line 1)
    cert_id: str | None
    verify_url: str | None = field(repr=False)  # carries the verification token
    errors: tuple[FieldError, ...]

    @property
    def status(self) -> str:
        """``issued``, ``failed`` (invalid data) or ``waiting`` (not issued yet)."""
        if self.cert_id is not None:
            return "issued"
        return "failed" if self.errors else "waiting"

    def __repr__(self) -> str:
        return f"BatchRowResult(row={self.row}, line={self.line}, cert_id={self.cert_id!r})"


_MANIFEST_HEADER = ("row", "line", "id", "verify_url", "status", "error_zh", "error_en")


def manifest_header() -> bytes:
    return _csv_line(_MANIFEST_HEADER)


def manifest_line(r: BatchRowResult) -> bytes:
    """One row of the results manifest (the CLI appends these as rows are stored)."""
    return _csv_line(
        (
            str(r.row),
            str(r.line),
            r.cert_id or "",
            r.verify_url or "",
            r.status,
            "；".join(f"{e.field}：{e.message_zh}" for e in r.errors),
            "; ".join(f"{e.field}: {e.message_en}" for e in r.errors),
        )
    )


def _csv_line(cells: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue().encode()


class BatchService:
    def __init__(
        self,
        *,
        issuance: IssuanceService,
        store: Store,
        audit: AuditLog | None = None,
        chunk: int = CHUNK,
        anchor_rows: int = ANCHOR_ROWS,
    ) -> None:
        self._issuance = issuance
        self._store = store
        self._jobs = BatchStore(store)
        self._audit = audit
        self._chunk = max(1, chunk)
        self._anchor_rows = max(1, anchor_rows)
        self._runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    # -- submitting --------------------------------------------------------------------------

    def batch_id_for(
        self, who: Principal, cert_type: str, csv_bytes: bytes, *, batch_key: str | None = None
    ) -> str:
        identity = batch_key if batch_key is not None else self._derived_key(cert_type, csv_bytes)
        digest = hashlib.sha256(f"{who.agency}\x00{identity}".encode()).hexdigest()
        return f"B{digest[:24].upper()}"

    def submit(
        self, who: Principal, cert_type: str, csv_bytes: bytes, *, batch_key: str | None = None
    ) -> BatchProgress:
        """Parse and validate the file and store the job and its rows; returns at once.

        The same identity submitted again returns the existing job (its rows are never issued
        twice). :raises BatchFileError: the file is not a usable CSV;
        :raises BatchKeyConflict: the batch key was used for another file or type.
        """
        ctype = self._issuance.allowed_for(who, cert_type)
        if batch_key is not None:
            _check_key(batch_key)
        file_digest = hashlib.sha256(csv_bytes).hexdigest()
        batch_id = self.batch_id_for(who, cert_type, csv_bytes, batch_key=batch_key)
        existing = self._jobs.job(batch_id)
        if existing is None:
            rows = read_batch_csv(csv_bytes)  # BatchFileError -> 400
            prepared: list[tuple[int, int, dict[str, str] | None, list[dict[str, str]] | None]]
            prepared = []
            invalid = 0
            valid: list[tuple[int, ValidatedData]] = []
            for n, r in enumerate(rows):
                try:
                    valid.append((n, self._issuance.validate(ctype, r.values)))
                except CertificateDataError as exc:
                    invalid += 1
                    prepared.append((r.row, r.line, None, [e.as_json() for e in exc.errors]))
                else:
                    prepared.append((r.row, r.line, r.values, None))
            # Rows whose certificate is active already, or repeated in the file, are refused
            # up front like invalid data (issuing them would be refused in any case).
            for n, error in self._unique_errors(ctype, valid, [r.row for r in rows]).items():
                invalid += 1
                prepared[n] = (rows[n].row, rows[n].line, None, [error.as_json()])
            job = BatchJobRow(
                id=batch_id,
                agency=who.agency,
                client_id=who.client_id,
                cert_type=ctype.code,
                file_digest=file_digest,
                total=len(rows),
                state=QUEUED,
                created_at=datetime.now(UTC),
            )
            if self._jobs.create(job, prepared):
                self._record(
                    AuditEvent(
                        "batch-submit",
                        "ok",
                        who.client_id,
                        who.agency,
                        cert_type=ctype.code,
                        reason=f"batch={batch_id} rows={len(rows)} invalid={invalid}",
                    )
                )
            existing = self._jobs.job(batch_id)
            assert existing is not None
        if existing.agency != who.agency:  # pragma: no cover - the id is derived from the agency
            raise BatchNotFound()
        if existing.file_digest != file_digest or existing.cert_type != ctype.code:
            raise BatchKeyConflict()
        return self._progress(existing)

    def check(
        self, who: Principal, cert_type: str, csv_bytes: bytes, *, batch_key: str | None = None
    ) -> list[BatchRowResult]:
        """The rows of a file that would be refused, with their field errors; stores nothing
        (for a caller that issues a file only when every row is valid). Certificates this
        same batch issued before (it is being resumed) are its own, not in the way.

        :raises BatchFileError: the file is not a usable CSV."""
        ctype = self._issuance.allowed_for(who, cert_type)
        batch_id = self.batch_id_for(who, cert_type, csv_bytes, batch_key=batch_key)
        own: set[str] = set()
        if self._jobs.job(batch_id) is not None:
            own = {r.cert_id for r in self.iter_rows(who, batch_id) if r.cert_id is not None}
        bad: dict[int, BatchRowResult] = {}
        rows = read_batch_csv(csv_bytes)
        valid: list[tuple[int, ValidatedData]] = []
        for n, r in enumerate(rows):
            try:
                valid.append((n, self._issuance.validate(ctype, r.values)))
            except CertificateDataError as exc:
                bad[n] = BatchRowResult(r.row, r.line, None, None, tuple(exc.errors))
        for n, error in self._unique_errors(ctype, valid, [r.row for r in rows], own).items():
            bad[n] = BatchRowResult(rows[n].row, rows[n].line, None, None, (error,))
        return [bad[n] for n in sorted(bad)]

    def _unique_errors(
        self,
        ctype: CertificateType,
        valid: Sequence[tuple[int, ValidatedData]],
        row_numbers: Sequence[int],
        own: set[str] | frozenset[str] = frozenset(),
    ) -> dict[int, FieldError]:
        """Index into the file's rows -> why the row cannot be issued under the uniqueness
        rule (an active certificate, or an earlier row, has its key); certificates in ``own``
        (the batch's own, issued before it was interrupted) are not in the way."""
        conflicts = self._issuance.uniqueness.conflicts(ctype, [v for _, v in valid])
        rows_of = [row_numbers[n] for n, _ in valid]
        return {
            valid[i][0]: c.field_error(ctype, rows_of)
            for i, c in conflicts.items()
            if c.existing_id is None or c.existing_id not in own
        }

    @staticmethod
    def _derived_key(cert_type: str, csv_bytes: bytes) -> str:
        return f"file:{cert_type}:{hashlib.sha256(csv_bytes).hexdigest()}"

    # -- running -----------------------------------------------------------------------------

    def run(
        self,
        batch_id: str,
        *,
        on_rows: Callable[[Sequence[tuple[BatchRowResult, bytes]]], None] | None = None,
    ) -> BatchProgress:
        """Issue the batch's waiting rows here and now; returns when it is done. ``on_rows``
        is called with each chunk's rows and their sealed PDFs once they are stored (the CLI
        writes them out as it goes).

        Certificates a crashed run left pending are anchored first. :raises BatchBusy: a live
        runner elsewhere has the job."""
        job = self._jobs.job(batch_id)
        if job is None:
            raise BatchNotFound()
        if job.state != DONE:
            self._claim(job)
            try:
                self._work(job, on_rows)
            except BaseException:
                self._jobs.release(batch_id, self._runner, done=False)
                raise
            self._jobs.release(batch_id, self._runner, done=True)
            counts = self._jobs.counts(batch_id)
            self._record(
                AuditEvent(
                    "batch-finish",
                    "ok",
                    job.client_id,
                    job.agency,
                    cert_type=job.cert_type,
                    reason=f"batch={batch_id} issued={counts.issued} failed={counts.failed}",
                )
            )
        done = self._jobs.job(batch_id)
        assert done is not None
        return self._progress(done)

    def start(self, batch_id: str) -> None:
        """Run the batch on a background thread of this process (at most one per batch)."""
        with self._lock:
            running = self._threads.get(batch_id)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._run_logged, args=(batch_id,), name=f"batch-{batch_id}", daemon=True
            )
            self._threads[batch_id] = thread
            thread.start()

    def resume_interrupted(self, agency: str | None = None) -> list[str]:
        """Start (on background threads, as :meth:`start`) every batch that reads
        ``interrupted``: marked running, its runner gone (a server restarted after a crash
        calls this at start-up). ``agency``: only that agency's batches (a deployment that acts
        for one agency). Returns the ids started."""
        started = []
        for job in self._jobs.running(agency):
            if not self._alive(job):
                log.info("batch %s was interrupted; resuming it", job.id)
                self.start(job.id)
                started.append(job.id)
        return started

    def wait(self, batch_id: str, timeout: float | None = None) -> None:
        """Wait for this process's background run of the batch, if there is one."""
        thread = self._threads.get(batch_id)
        if thread is not None:
            thread.join(timeout)

    def _run_logged(self, batch_id: str) -> None:
        try:
            self.run(batch_id)
        except BatchBusy:
            log.info("batch %s is run by another process", batch_id)
        except Exception as exc:  # the job stays resumable; say what kind of failure only
            log.error("batch %s stopped: %s", batch_id, type(exc).__name__)

    def _claim(self, job: BatchJobRow) -> None:
        if job.runner is not None and job.runner != self._runner and self._alive(job):
            raise BatchBusy()
        if job.runner == self._runner and self._thread_elsewhere(job.id):
            raise BatchBusy()
        if not self._jobs.claim(job.id, self._runner, job.runner, time.time()):
            raise BatchBusy()

    def _thread_elsewhere(self, batch_id: str) -> bool:
        thread = self._threads.get(batch_id)
        return thread is not None and thread.is_alive() and thread is not threading.current_thread()

    def _work(
        self,
        job: BatchJobRow,
        on_rows: Callable[[Sequence[tuple[BatchRowResult, bytes]]], None] | None,
    ) -> None:
        ctype = CERTIFICATE_TYPES[job.cert_type]
        who = Principal(job.client_id, job.agency, frozenset({"issuer"}))
        # What a crashed run stored but did not anchor goes to the ledger first (idempotent).
        self._issuance.anchor_pending()
        unanchored = 0
        while items := self._jobs.waiting(job.id, self._chunk):
            values: list[ValidatedData] = []
            keep: list[BatchItem] = []
            for item in items:
                try:
                    values.append(self._issuance.validate(ctype, item.data or {}))
                    keep.append(item)
                except CertificateDataError as exc:  # valid at submission, not now (fonts)
                    self._jobs.refuse(job.id, item.row, [e.as_json() for e in exc.errors])
            # Issued elsewhere since submission (another batch, another host): refused.
            conflicts = self._issuance.uniqueness.conflicts(ctype, values)
            for i, conflict in conflicts.items():
                error = conflict.field_error(ctype, [k.row for k in keep])
                self._jobs.refuse(job.id, keep[i].row, [error.as_json()])
            if conflicts:
                values = [v for i, v in enumerate(values) if i not in conflicts]
                keep = [k for i, k in enumerate(keep) if i not in conflicts]

            def link(
                s: Session, stored: Sequence[tuple[int, Issued]], keep_: list[BatchItem] = keep
            ) -> None:
                for n, issued in stored:
                    self._jobs.link(s, job.id, keep_[n].row, issued.cert_id, issued.token)

            if values:
                try:
                    done = self._issuance.issue_chunk_as(
                        who, ctype, values, alongside=link, anchor=False
                    )
                except LinkLost:
                    # Another runner stored some of these rows first; this chunk was rolled
                    # back whole, and the next look at the waiting rows skips theirs.
                    continue
                except (BatchValidationError, BatchRefusal):
                    # Another host took one of these keys since the check above: the chunk
                    # was rolled back whole, and the next look refuses that row.
                    continue
                if on_rows is not None:
                    on_rows(
                        [
                            (
                                BatchRowResult(
                                    keep[n].row, keep[n].line, i.cert_id, i.verify_url, ()
                                ),
                                i.pdf,
                            )
                            for n, i in sorted(done, key=lambda pair: pair[0])
                        ]
                    )
                unanchored += len(done)
                if unanchored >= self._anchor_rows:
                    self._issuance.anchor_pending()
                    unanchored = 0
            self._jobs.beat(job.id, self._runner, time.time())
        if unanchored:
            self._issuance.anchor_pending()

    def _alive(self, job: BatchJobRow) -> bool:
        """Whether the job's runner is still at work (see the module's note on liveness)."""
        if job.runner is None:
            return False
        if job.runner == self._runner:
            return self._thread_elsewhere(job.id)
        host, _, rest = job.runner.partition(":")
        pid_text = rest.partition(":")[0]
        if host == socket.gethostname() and pid_text.isdigit():
            try:
                os.kill(int(pid_text), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass  # a process of another user: it exists
        return job.heartbeat is not None and time.time() - job.heartbeat < STALE_AFTER

    # -- reading -----------------------------------------------------------------------------

    def progress(self, who: Principal, batch_id: str) -> BatchProgress:
        return self._progress(self._own(who, batch_id))

    def rows(self, who: Principal, batch_id: str) -> list[BatchRowResult]:
        return list(self.iter_rows(who, batch_id))

    def iter_rows(self, who: Principal, batch_id: str) -> Iterator[BatchRowResult]:
        """:meth:`rows`, read page by page (a large batch is not held in memory at once)."""
        self._own(who, batch_id)
        after = 0
        while page := self._jobs.items(batch_id, after):
            for item in page:
                yield self._result(item)
            after = page[-1].row

    def pdfs(
        self, who: Principal, batch_id: str, *, wanted: Callable[[str], bool] | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """(certificate id, sealed PDF) of each issued row (or of those whose id is
        ``wanted``), one at a time."""
        for r in self.iter_rows(who, batch_id):
            if r.cert_id is None or (wanted is not None and not wanted(r.cert_id)):
                continue
            row = self._store.get(r.cert_id)
            if row is not None:
                yield r.cert_id, row.pdf

    def manifest_csv(self, who: Principal, batch_id: str) -> bytes:
        return b"".join(self.manifest_lines(who, batch_id))

    def manifest_lines(self, who: Principal, batch_id: str) -> Iterator[bytes]:
        yield manifest_header()
        for r in self.iter_rows(who, batch_id):
            yield manifest_line(r)

    def _own(self, who: Principal, batch_id: str) -> BatchJobRow:
        job = self._jobs.job(batch_id) if len(batch_id) <= 64 else None
        if job is None or job.agency != who.agency:
            # Another agency's batch answers as unknown: no hint that it exists.
            raise BatchNotFound()
        return job

    def _progress(self, job: BatchJobRow) -> BatchProgress:
        counts = self._jobs.counts(job.id)
        state = job.state
        if state == RUNNING and not self._alive(job):
            state = INTERRUPTED
        return BatchProgress(
            job.id, job.cert_type, counts.total, counts.issued, counts.failed, state
        )

    def _result(self, item: BatchItem) -> BatchRowResult:
        url = (
            self._issuance.verify_url(item.cert_id, item.token)
            if item.cert_id is not None and item.token is not None
            else None
        )
        errors = tuple(FieldError(**e) for e in item.errors or ())
        return BatchRowResult(item.row, item.line, item.cert_id, url, errors)

    def _record(self, event: AuditEvent) -> None:
        if self._audit is not None:
            self._audit.record_all([event])


def _check_key(key: str) -> None:
    if not (0 < len(key) <= MAX_KEY_LENGTH) or not all(" " < c < "\x7f" for c in key):
        raise BatchRefusal(
            "BAD_BATCH_KEY",
            f"批次标识须为 1 至 {MAX_KEY_LENGTH} 个可打印的 ASCII 字符（不含空格）。",
            f"A batch key is 1 to {MAX_KEY_LENGTH} printable ASCII characters, without spaces.",
        )
