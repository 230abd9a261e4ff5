"""Seal checks of untrusted uploads in a pool of bounded worker processes.

Why processes: the caps of :mod:`signing.limits` stop every hostile shape we know of before
it costs much, but a parser can always be asked for something nobody thought of. A check
therefore runs in a worker process with an address-space limit (``RLIMIT_AS``), a CPU limit
(``RLIMIT_CPU``) and a wall-clock deadline kept by the caller. A document that exceeds one
is refused (:class:`DocumentLimitExceeded`, ``memory`` or ``time``) and costs nothing but its
own worker, which is replaced; the server and the other checks go on. A worker that has grown
(Python seldom returns freed memory) is replaced after its check, so no memory is kept.

At most ``workers`` checks run at once, about one per core, and at most ``queue`` more wait
for a worker; beyond that :class:`VerifierBusyError` says to come back shortly, instead of
every request waiting longer and longer.

Workers are started with the ``spawn`` method (a fresh interpreter, no copy of the server's
threads, locks or keys) on first use, and get only the document, the trust roots (DER) and
the revocation data with each job: nothing secret ever reaches them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.errors import DocumentLimitExceeded, UnreadablePdfError, VerifierBusyError
from signing.limits import DEFAULT_LIMITS, DocumentLimits
from signing.models import Outcome, RevocationData, SealReport, Status

__all__ = ["SandboxLimits", "SealCheckSandbox"]

logger = logging.getLogger(__name__)

_MiB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class SandboxLimits:
    """Bounds per check. A genuine certificate is checked in 50-100 ms with well under
    100 MiB: these are an order of magnitude above, far below what a bomb asks."""

    workers: int = max(1, os.cpu_count() or 1)
    queue: int = 32
    # Address space a worker may add to what it holds once started (the interpreter and
    # its libraries): what one check may allocate.
    memory_bytes: int = 768 * _MiB
    cpu_seconds: int = 10
    wall_seconds: float = 15.0
    # A worker whose resident memory has grown beyond this after a check is replaced.
    recycle_rss_bytes: int = 320 * _MiB


class SealCheckSandbox:
    """Thread-safe; one per server process. :meth:`close` ends the workers."""

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        document_limits: DocumentLimits = DEFAULT_LIMITS,
    ) -> None:
        self._limits = limits or SandboxLimits()
        self._document_limits = document_limits
        self._ctx = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live = 0
        self._waiting = 0
        self._closed = False

    @property
    def limits(self) -> SandboxLimits:
        return self._limits

    def worker_pids(self) -> list[int]:
        """The idle workers' process ids (for monitoring and tests)."""
        with self._cond:
            return [w.pid for w in self._idle]

    def check(
        self,
        pdf: bytes,
        trust_roots: tuple[x509.Certificate, ...],
        *,
        now: datetime,
        revocation_data: RevocationData | None = None,
    ) -> SealReport:
        """:func:`signing.check_seal` in a worker, under the limits.

        :raises DocumentLimitExceeded: the document exceeds a cap, the memory or the time.
        :raises UnreadablePdfError: not a readable PDF (as :func:`check_seal`).
        :raises VerifierBusyError: every worker is busy and the queue is full.
        """
        job = (
            pdf,
            tuple(c.public_bytes(serialization.Encoding.DER) for c in trust_roots),
            now.isoformat(),
            _revocation_to_wire(revocation_data),
            self._document_limits,
            self._limits.cpu_seconds,
            self._limits.recycle_rss_bytes,
        )
        worker = self._acquire()
        try:
            answer = worker.run(job, self._limits.wall_seconds)
        except BaseException:
            worker.kill()
            self._release(None)
            raise
        self._release(None if answer.retire else worker)
        return answer.result()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    # -- the pool ----------------------------------------------------------------------------

    def _acquire(self) -> _Worker:
        deadline = time.monotonic() + self._limits.wall_seconds
        with self._cond:
            if self._closed:
                raise VerifierBusyError("the verifier is shutting down")
            if not self._idle and self._live >= self._limits.workers:
                if self._waiting >= self._limits.queue:
                    raise VerifierBusyError("every verification worker is busy")
                self._waiting += 1
                try:
                    while not self._idle and self._live >= self._limits.workers:
                        left = deadline - time.monotonic()
                        if left <= 0 or self._closed:
                            raise VerifierBusyError("no verification worker became free")
                        self._cond.wait(left)
                finally:
                    self._waiting -= 1
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            return _Worker.start(self._ctx, self._limits.memory_bytes)
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise

    def _release(self, worker: _Worker | None) -> None:
        """Back to the pool, or (``None``) retired: its slot is free for a fresh worker."""
        with self._cond:
            if worker is None:
                self._live -= 1
            elif self._closed:
                self._live -= 1
                worker.stop()
            else:
                self._idle.append(worker)
            self._cond.notify()


@dataclass(frozen=True)
class _Answer:
    kind: str
    payload: Any
    retire: bool

    def result(self) -> SealReport:
        if self.kind == "ok":
            return _report_from_wire(self.payload)
        if self.kind == "limit":
            limit, found, allowed = self.payload
            raise DocumentLimitExceeded(limit, found, allowed)
        if self.kind == "unreadable":
            raise UnreadablePdfError(str(self.payload))
        raise UnreadablePdfError("the document could not be evaluated")


# How long a new worker may take to start (interpreter, imports): generous, and not counted
# against any document.
_START_SECONDS = 120.0


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = process.pid or 0
        self.ready = False

    @classmethod
    def start(cls, ctx: Any, memory_bytes: int) -> _Worker:
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_serve, args=(child, memory_bytes), name="certledger-verify", daemon=True
        )
        process.start()
        child.close()
        return cls(process, parent)

    def run(self, job: tuple[Any, ...], wall_seconds: float) -> _Answer:
        self._await_start()
        try:
            self.conn.send(job)
            if self.conn.poll(wall_seconds):
                kind, payload, retire = self.conn.recv()
                return _Answer(kind, payload, retire)
        except (EOFError, OSError):
            pass  # the worker died: its exit code says why
        else:
            self.kill()  # over the deadline
            return _Answer("limit", ("time", None, None), retire=True)
        self.process.join(1.0)
        code = self.process.exitcode
        self.kill()
        # SIGXCPU: over the CPU limit. Anything else (SIGKILL by the kernel, SIGSEGV or
        # SIGABRT from an allocation that failed in C code) is taken as memory.
        limit = "time" if code == -signal.SIGXCPU else "memory"
        logger.warning("verification worker %s ended (exit %s): %s limit", self.pid, code, limit)
        return _Answer("limit", (limit, None, None), retire=True)

    def _await_start(self) -> None:
        """Wait for a new worker's imports. Its start-up is not the document's time: on a
        loaded machine a spawned interpreter importing the PDF stack takes seconds, and a
        genuine document must not be refused as too slow for that.

        :raises VerifierBusyError: the worker did not start (the document is not judged).
        """
        if self.ready:
            return
        try:
            if self.conn.poll(_START_SECONDS):
                kind, _payload, _retire = self.conn.recv()
                self.ready = kind == "ready"
        except (EOFError, OSError):
            pass
        if not self.ready:
            self.kill()
            raise VerifierBusyError("a verification worker did not start")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.close()  # the worker's recv() ends, and so does the worker
        finally:
            self.process.join(2.0)
            if self.process.is_alive():
                self.kill()


# -- inside a worker ---------------------------------------------------------------------------


def _serve(conn: Connection, memory_bytes: int) -> None:
    """A worker's life: limits set once, then one check per job until told to go."""
    from signing.seal_check import check_seal  # the heavy imports, before the limit

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the server's
    ceiling = _vm_bytes() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    conn.send(("ready", None, False))  # the deadlines start now, not while Python starts
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        pdf, roots_der, now, revocation, limits, cpu_seconds, recycle_rss = job
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime)
        # RLIMIT_CPU counts the process's whole life: the next check may use cpu_seconds more.
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = spent + cpu_seconds + 1
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        retire = False
        try:
            report = check_seal(
                pdf,
                [x509.load_der_x509_certificate(d) for d in roots_der],
                now=datetime.fromisoformat(now),
                revocation_data=_revocation_from_wire(revocation),
                limits=limits,
            )
            answer: tuple[str, Any] = ("ok", _report_to_wire(report))
        except DocumentLimitExceeded as exc:
            answer = ("limit", (exc.limit, exc.found, exc.allowed))
            retire = exc.limit == "memory"
        except UnreadablePdfError as exc:
            answer = ("unreadable", str(exc))
        except MemoryError:
            answer, retire = ("limit", ("memory", None, None)), True
        except Exception as exc:  # never a verdict: the caller refuses the document
            answer = ("error", type(exc).__name__)
        del pdf
        if answer[0] != "limit" and _peak_vm_bytes() >= ceiling * 0.9:
            # The address-space limit was reached on the way, whatever the check made of
            # it: a MemoryError can surface from C code as another error, or be taken by a
            # library for a broken object. Never a verdict from a starved analysis.
            answer, retire = ("limit", ("memory", None, None)), True
        retire = retire or _rss_bytes() > recycle_rss
        conn.send((*answer, retire))
        if retire:
            return


def _statm(field: int) -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[field]) * _PAGE


def _vm_bytes() -> int:
    return _statm(0)


def _peak_vm_bytes() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmPeak:"):
                return int(line.split()[1]) * 1024
    return 0


def _rss_bytes() -> int:
    return _statm(1)


# -- what crosses the pipe (plain values: certificates as DER) ---------------------------------


def _revocation_to_wire(data: RevocationData | None) -> tuple[Any, ...] | None:
    if data is None:
        return None
    certs = tuple(c.public_bytes(serialization.Encoding.DER) for c in data.certificates)
    return (data.ocsp_responses, data.crls, certs)


def _revocation_from_wire(wire: tuple[Any, ...] | None) -> RevocationData | None:
    if wire is None:
        return None
    ocsps, crls, certs = wire
    return RevocationData(
        ocsp_responses=tuple(ocsps),
        crls=tuple(crls),
        certificates=tuple(x509.load_der_x509_certificate(d) for d in certs),
    )


def _outcome_to_wire(o: Outcome | None) -> tuple[str, str] | None:
    return None if o is None else (o.status.value, o.reason)


def _outcome_from_wire(w: tuple[str, str] | None) -> Outcome | None:
    return None if w is None else Outcome(Status(w[0]), w[1])


def _report_to_wire(r: SealReport) -> dict[str, Any]:
    signer = r.signer_certificate
    return {
        "seal_found": r.seal_found,
        "intact": _outcome_to_wire(r.intact),
        "chain": _outcome_to_wire(r.chain),
        "timestamp": _outcome_to_wire(r.timestamp),
        "modification": _outcome_to_wire(r.modification),
        "timestamp_time": r.timestamp_time,
        "signer_certificate": (
            signer.public_bytes(serialization.Encoding.DER) if signer is not None else None
        ),
        "signer_fingerprint": r.signer_fingerprint,
        "signed_at": r.signed_at,
        "sealed_digest": r.sealed_digest,
        "document_info": dict(r.document_info),
        "revocation": _outcome_to_wire(r.revocation),
        "seal_certificate_revoked_at": r.seal_certificate_revoked_at,
    }


def _report_from_wire(w: dict[str, Any]) -> SealReport:
    der = w["signer_certificate"]

    def outcome(key: str) -> Outcome:
        value = _outcome_from_wire(w[key])
        if value is None:
            raise UnreadablePdfError("the verification worker answered incompletely")
        return value

    return SealReport(
        seal_found=bool(w["seal_found"]),
        intact=outcome("intact"),
        chain=outcome("chain"),
        timestamp=outcome("timestamp"),
        modification=outcome("modification"),
        timestamp_time=w["timestamp_time"],
        signer_certificate=x509.load_der_x509_certificate(der) if der is not None else None,
        signer_fingerprint=w["signer_fingerprint"],
        signed_at=w["signed_at"],
        sealed_digest=w["sealed_digest"],
        document_info=MappingProxyType(dict(w["document_info"])),
        revocation=_outcome_from_wire(w["revocation"]),
        seal_certificate_revoked_at=w["seal_certificate_revoked_at"],
    )
