"""The audit writer service: its frames (``_audit_wire``), the service on a real Unix socket
with a real SQLite store, and the workers' client (``RemoteAuditWriter``), failing closed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from certificates.audit import remote as _audit_remote
from certificates.audit import wire
from certificates.audit import writer as audit_service
from certificates.audit.log import AuditEntry, AuditEvent, AuditLog, AuditUnavailable
from certificates.audit.writer import AuditWriterService
from certificates.store.database import Store

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
BOUND = 20.0  # seconds: no call in these tests may take longer (a hang fails, never blocks)

EVENTS = [
    AuditEvent(
        "details",
        "allowed",
        "cl_1",
        "market-regulation",
        "BL-MR-2026-00000001-01-X",
        "business-licence",
        "hiring",
        ("name", "address"),
        None,
    ),
    AuditEvent("view", "ok"),  # public, every optional field None, no fields
    AuditEvent(
        "lookup",
        "denied",
        "cl_é",
        "人力资源",
        purpose="招聘",
        fields=("姓名", "\u0000", "🚫"),
        reason="没有协议 \U0010ffff",
    ),
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, failing (not hanging) after ``BOUND`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def ev(name: str) -> AuditEvent:
    return AuditEvent("details", "allowed", name, "market-regulation", purpose="check")


# -- the frames --------------------------------------------------------------------------------


def test_events_round_trip() -> None:
    data = wire.encode_events(EVENTS)
    assert wire.HEADER.unpack_from(data)[0] == len(data) - wire.HEADER.size
    buf = bytearray(data)
    [payload] = wire.split_frames(buf)
    assert buf == bytearray()
    decoded = wire.decode_events(payload)
    assert decoded == EVENTS  # fields come back as tuples, None stays None
    assert decoded[1].fields == () and decoded[1].agency is None


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 17, 64])
def test_split_frames_waits_for_whole_frames(chunk: int) -> None:
    a, b = wire.encode_events(EVENTS[:1]), wire.encode_events(EVENTS)
    stream = a + b
    buf = bytearray()
    emitted: list[tuple[int, bytes]] = []
    for start in range(0, len(stream), chunk):
        buf += stream[start : start + chunk]
        emitted += [(start + chunk, p) for p in wire.split_frames(buf)]
    assert [p for _, p in emitted] == [a[4:], b[4:]]
    # Each frame comes out in the chunk that completes it, not before and not later.
    assert len(a) <= emitted[0][0] < len(a) + chunk
    assert len(stream) <= emitted[1][0] < len(stream) + chunk
    assert buf == bytearray()


def test_split_frames_keeps_the_partial_tail() -> None:
    a = wire.encode_events(EVENTS)
    buf = bytearray(a + a[:7])
    assert wire.split_frames(buf) == [a[4:]]
    assert buf == bytearray(a[:7])  # the start of the next frame stays for the next read
    buf += a[7:]
    assert wire.split_frames(buf) == [a[4:]]


def test_a_length_header_over_the_limit_is_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.split_frames(bytearray(wire.HEADER.pack(wire.MAX_FRAME + 1)))
    # At the limit it is a frame still arriving, not an error.
    buf = bytearray(wire.HEADER.pack(wire.MAX_FRAME) + b"[")
    assert wire.split_frames(buf) == [] and len(buf) == 5


def _row(**change: Any) -> list[Any]:
    names = ["action", "result", "client_id", "agency", "cert_id", "cert_type", "purpose"]
    row: list[Any] = ["view", "ok", "cl_1", None, None, None, None, ["name"], None]
    for name, value in change.items():
        row[[*names, "fields", "reason"].index(name)] = value
    return row


_MALFORMED: dict[str, bytes] = {
    "empty payload": b"",
    "not json": b"not json",
    "truncated json": b'[["view", "ok"',
    "an object": b'{"action": "view"}',
    "a string": b'"view"',
    "empty list": b"[]",
    "row not a list": orjson.dumps(["view"]),
    "row of two": orjson.dumps([["view", "ok"]]),
    "row of ten": orjson.dumps([[*_row(), None]]),
    "action a number": orjson.dumps([_row(action=5)]),
    "action null": orjson.dumps([_row(action=None)]),
    "client null": orjson.dumps([_row(client_id=None)]),
    "result a bool": orjson.dumps([_row(result=True)]),
    "agency a list": orjson.dumps([_row(agency=["x"])]),
    "fields a string": orjson.dumps([_row(fields="name")]),
    "fields null": orjson.dumps([_row(fields=None)]),
    "a field a number": orjson.dumps([_row(fields=[1])]),
    "a field null": orjson.dumps([_row(fields=[None])]),
    "reason too long": orjson.dumps([_row(reason="x" * (wire._MAX_TEXT + 1))]),
    "a field too long": orjson.dumps([_row(fields=["x" * (wire._MAX_TEXT + 1)])]),
    "too many fields": orjson.dumps([_row(fields=["f"] * (wire._MAX_FIELDS + 1))]),
    "too many events": orjson.dumps([_row()] * (wire.MAX_EVENTS + 1)),
    "a good row then a bad one": orjson.dumps([_row(), _row(purpose=7)]),
}


@pytest.mark.parametrize("payload", list(_MALFORMED.values()), ids=list(_MALFORMED))
def test_malformed_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_events(payload)


def test_the_limits_themselves_are_allowed() -> None:
    most, longest = wire._MAX_FIELDS, "x" * wire._MAX_TEXT
    [event] = wire.decode_events(orjson.dumps([_row(reason=longest, fields=[longest] * most)]))
    assert event.reason == longest and len(event.fields) == most


def test_reply_round_trip(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db", create=True)
    audit = AuditLog(store)
    audit.append_batch([ev("first")])
    entries = audit.append_batch(EVENTS)  # real chained entries, starting past the genesis
    assert entries[0].seq == 2
    assert wire.decode_reply(wire.encode_reply(entries)[4:], EVENTS) == entries
    audit.close()
    store.close()


def test_a_reply_must_answer_the_request_it_follows() -> None:
    payload = orjson.dumps([7, "2026-01-01T00:00:00.000000Z", "0" * 64, ["a" * 64] * 3])
    assert len(wire.decode_reply(payload, EVENTS)) == 3
    assert wire.check_reply(payload, 3) is None  # confirmed, without building entries
    for events in (EVENTS[:2], [*EVENTS, ev("x")], []):
        with pytest.raises(wire.WireError):
            wire.decode_reply(payload, events)
        with pytest.raises(wire.WireError):
            wire.check_reply(payload, len(events))


_MALFORMED_REPLIES = [
    b"nope",
    b"5",
    b"[1, 2]",
    b'"abcd"',
    b'[1, "at", "p", "hashes"]',
    b"[]",
    b'["1", "at", "p", ["h"]]',  # seq not a number
    b'[true, "at", "p", ["h"]]',
    b'[1.0, "at", "p", ["h"]]',
]


@pytest.mark.parametrize("payload", _MALFORMED_REPLIES)
def test_malformed_replies_are_refused(payload: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_reply(payload, EVENTS[:1])
    with pytest.raises(wire.WireError):
        wire.check_reply(payload, 1)


@pytest.mark.parametrize(
    "payload",
    [
        b'[1, 5, "p", ["h"]]',  # time not a string
        b'[1, "at", null, ["h"]]',  # previous hash not a string
        b'[1, "at", "p", [7]]',  # a hash not a string
    ],
)
def test_replies_with_entries_of_the_wrong_types_are_refused(payload: bytes) -> None:
    # Only where entries are built from them; a confirmation needs the count alone.
    with pytest.raises(wire.WireError):
        wire.decode_reply(payload, EVENTS[:1])


def test_an_error_reply_is_the_writers_message() -> None:
    message = "the audit log is busy; the action was not recorded"
    assert wire.decode_reply(wire.encode_error(message)[4:], EVENTS) == message
    assert wire.check_reply(wire.encode_error(message)[4:], 3) == message
    assert wire.decode_reply(b'{"error": ""}', EVENTS)  # never an empty (falsy) message
    assert wire.check_reply(b'{"error": ""}', 3)


# -- the service on a real socket --------------------------------------------------------------


@dataclass
class Service:
    path: str
    db: Path
    store: Store
    audit: AuditLog
    service: AuditWriterService
    thread: threading.Thread

    def stop(self) -> None:
        self.service.stop()
        # A connection wakes the service's select() at once instead of at its next timeout.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
            with contextlib.suppress(OSError):
                poke.connect(self.path)
            self.thread.join(timeout=BOUND)
        assert not self.thread.is_alive(), "serve_forever did not stop"


@pytest.fixture()
def socket_dir() -> Iterator[str]:
    # Short: a Unix socket address holds at most 107 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="cl-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_service(db: Path, path: str, **options: Any) -> Service:
    store = Store.open(db, create=True)
    audit = AuditLog(store)
    service = AuditWriterService(audit, path, **options)
    service.bind()
    thread = threading.Thread(target=service.serve_forever, name="audit-service", daemon=True)
    thread.start()
    return Service(path, db, store, audit, service, thread)


@pytest.fixture()
def svc(tmp_path: Path, socket_dir: str) -> Iterator[Service]:
    s = start_service(tmp_path / "store.db", os.path.join(socket_dir, "a.sock"))
    yield s
    s.stop()
    s.audit.close()
    s.store.close()


class Call(threading.Thread):
    """Runs ``fn`` in a daemon thread; :meth:`outcome` returns or raises what it did, and
    fails (instead of hanging the suite) if it is still running after ``BOUND`` seconds."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:
            self.error = exc

    def outcome(self, timeout: float = BOUND) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the call did not return in time"
        if self.error is not None:
            raise self.error
        return self.result


def call(fn: Callable[[], Any]) -> Call:
    c = Call(fn)
    c.start()
    return c


def stored(s: Service) -> list[AuditEntry]:
    return s.audit.entries()


def assert_chain(s: Service, returned: list[AuditEntry], total: int) -> None:
    """``returned`` are exactly the stored entries 1..total, and the chain verifies."""
    assert sorted(e.seq for e in returned) == list(range(1, total + 1))
    assert sorted(returned, key=lambda e: e.seq) == stored(s)
    report = s.audit.verify()
    assert report.ok and report.entries_checked == total, report.reason


def count_batches(s: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = s.audit.append_batch

    def counting(events: list[AuditEvent]) -> list[AuditEntry]:
        sizes.append(len(events))
        return real(events)

    monkeypatch.setattr(s.audit, "append_batch", counting)
    return sizes


def test_many_callers_on_one_loop(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = count_batches(svc, monkeypatch)
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    events = [
        AuditEvent("details", "allowed", f"cl_{i}", cert_id=f"X-{i}", fields=("name",) * (i % 3))
        for i in range(200)
    ] + EVENTS

    async def main() -> tuple[list[list[AuditEntry]], list[list[AuditEntry]]]:
        first = await asyncio.gather(*[writer.record_async([e]) for e in events])
        # The connection is open now: every caller below submits in the same loop turn.
        second = await asyncio.gather(*[writer.record_async([e]) for e in events])
        writer.close()
        return first, second

    first, second = run(main())
    for result in (first, second):
        assert [r[0].event for r in result] == events  # each caller gets its own entry
    assert_chain(svc, [r[0] for r in first + second], 2 * len(events))
    # One loop turn went as one frame, written in one transaction.
    assert batches[-1] == len(events)
    assert sum(batches) == 2 * len(events)


def test_confirmation_only_callers_share_frames_with_the_others(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_async (the lookup path) and record_async callers in one loop turn: one frame,
    the first get their confirmation, the others their entries."""
    batches = count_batches(svc, monkeypatch)
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    audit = AuditLog(svc.store, remote=writer)  # as a worker's runtime has it
    events = [ev(f"cl_{i}") for i in range(200)]

    async def main() -> list[Any]:
        await audit.write_async([ev("warm")])  # the loop's connection opens
        await audit.write_async([])  # nothing to write: nothing sent
        try:
            return await asyncio.gather(
                *[
                    audit.write_async([e]) if i % 2 else audit.record_async([e])
                    for i, e in enumerate(events)
                ]
            )
        finally:
            writer.close()

    results = run(main())
    assert batches == [1, 200]
    entries = stored(svc)
    assert [e.event for e in entries] == [ev("warm"), *events]
    for i, result in enumerate(results):
        if i % 2:
            assert result is None
        else:
            assert result == [entries[i + 1]]  # the stored entry, seq and hashes included
    assert svc.audit.verify().ok


def test_confirmation_only_callers(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = count_batches(svc, monkeypatch)
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    events = [ev(f"cl_{i}") for i in range(100)]

    async def main() -> None:
        try:
            await writer.write_async([ev("warm")])
            await asyncio.gather(*[writer.write_async([e]) for e in events])
            await writer.write_async(EVENTS)
        finally:
            writer.close()

    run(main())
    assert batches == [1, 100, len(EVENTS)]
    assert [e.event for e in stored(svc)] == [ev("warm"), *events, *EVENTS]
    assert svc.audit.verify().ok


def test_one_caller_with_several_events(svc: Service) -> None:
    writer = _audit_remote.RemoteAuditWriter(svc.path)

    async def main() -> list[AuditEntry]:
        try:
            return await writer.record_async(EVENTS)
        finally:
            writer.close()

    entries = run(main())
    assert [e.event for e in entries] == EVENTS
    assert_chain(svc, entries, len(EVENTS))


def test_record_from_many_threads(svc: Service) -> None:
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    start = threading.Barrier(12)

    def worker(n: int) -> list[AuditEntry]:
        start.wait(BOUND)
        return [writer.record([ev(f"t{n}-{i}")])[0] for i in range(25)]

    calls = [call(functools.partial(worker, n)) for n in range(12)]
    results: list[list[AuditEntry]] = [c.outcome() for c in calls]
    writer.close()
    for n, entries in enumerate(results):
        assert [e.event.client_id for e in entries] == [f"t{n}-{i}" for i in range(25)]
        seqs = [e.seq for e in entries]
        assert seqs == sorted(seqs)  # one thread's entries in the order it recorded them
    assert_chain(svc, [e for r in results for e in r], 12 * 25)


def test_a_frame_larger_than_a_batch_is_written_whole(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = count_batches(svc, monkeypatch)
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    many = [ev(f"cl_{i}") for i in range(audit_service._MAX_BATCH + 10)]
    entries = writer.record(many)
    writer.close()
    assert batches == [len(many)]
    assert_chain(svc, entries, len(many))


class Peer:
    """A raw connection to the service, reading its replies one frame at a time."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(BOUND)
        self.sock.connect(path)
        self._buf = bytearray()
        self._frames: deque[bytes] = deque()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> Any:
        """The next reply (decoded JSON), or ``None`` once the service closed the connection."""
        while not self._frames:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                assert not self._buf, "the connection closed in the middle of a reply"
                return None
            self._buf += chunk
            self._frames.extend(wire.split_frames(self._buf))
        return orjson.loads(self._frames.popleft())


def test_replies_are_in_request_order_and_batches_respect_the_limit(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_service, "_MAX_BATCH", 2)
    batches = count_batches(svc, monkeypatch)
    with Peer(svc.path) as peer:
        # Three requests in one write: the service reads them together.
        peer.send(b"".join(wire.encode_events([ev(f"r{i}")]) for i in range(3)))
        replies = [peer.reply() for _ in range(3)]
    assert [r[0] for r in replies] == [1, 2, 3]  # first seq of each request, in order
    assert batches == [2, 1]
    assert [e.event.client_id for e in stored(svc)] == ["r0", "r1", "r2"]
    assert svc.audit.verify().ok


def test_a_malformed_frame_is_refused_and_nothing_of_it_written(svc: Service) -> None:
    with Peer(svc.path) as peer:
        peer.send(
            wire.encode_events([ev("before")])
            + wire.frame(orjson.dumps([_row(), _row(action=None)]))  # half good: refused whole
            + wire.encode_events([ev("after")])  # after the bad frame: not read
        )
        assert peer.reply()[0] == 1  # "before" was written and answered
        error = peer.reply()
        assert isinstance(error, dict) and "malformed" in error["error"]
        assert peer.reply() is None  # then disconnected
    assert [e.event.client_id for e in stored(svc)] == ["before"]
    # The service keeps serving everyone else.
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    [entry] = writer.record([ev("other client")])
    writer.close()
    assert entry.seq == 2 and svc.audit.verify().ok


def test_an_oversize_frame_header_is_refused(svc: Service) -> None:
    with Peer(svc.path) as peer:
        peer.send(wire.HEADER.pack(wire.MAX_FRAME + 1) + b"[")
        error = peer.reply()
        assert isinstance(error, dict) and error["error"]
        assert peer.reply() is None
    assert stored(svc) == []
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    assert writer.record([ev("next")])[0].seq == 1
    writer.close()


def test_no_writer_listening_fails_closed(socket_dir: str, tmp_path: Path) -> None:
    missing = os.path.join(socket_dir, "none.sock")
    stale = os.path.join(socket_dir, "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(stale)  # a socket file nobody listens on, as a killed writer leaves
    store = Store.open(tmp_path / "store.db", create=True)
    for path in (missing, stale):
        writer = _audit_remote.RemoteAuditWriter(path)
        audit = AuditLog(store, remote=writer)
        with pytest.raises(AuditUnavailable) as sync_exc:
            audit.record(ev("sync"))

        async def main(audit: AuditLog = audit) -> None:
            await audit.record_async([ev("async")])

        async def confirm(audit: AuditLog = audit) -> None:
            await audit.write_async([ev("async")])

        with pytest.raises(AuditUnavailable) as async_exc:
            run(main())
        with pytest.raises(AuditUnavailable) as confirm_exc:
            run(confirm())
        for exc in (sync_exc, async_exc, confirm_exc):
            message = str(exc.value)
            assert message == "the audit writer cannot be reached; nothing was recorded"
            assert socket_dir not in message and "Errno" not in message
        audit.close()
    # No fallback: nothing was written by this process either.
    assert AuditLog(store).entries() == []
    store.close()


def test_callers_waiting_when_the_service_stops(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() while a batch is being written: that batch is written and answered; requests
    not yet read are not written, and their callers get AuditUnavailable, not a hang."""
    entered, release = threading.Event(), threading.Event()
    real = svc.audit.append_batch

    def slow(events: list[AuditEvent]) -> list[AuditEntry]:
        entered.set()
        assert release.wait(BOUND)
        return real(events)

    monkeypatch.setattr(svc.audit, "append_batch", slow)
    first = _audit_remote.RemoteAuditWriter(svc.path)
    a = call(lambda: first.record([ev("being written")]))
    assert entered.wait(BOUND)

    waiting = threading.Event()
    real_read = _audit_remote._read_frame

    def read_frame(sock: socket.socket) -> bytes:
        waiting.set()  # the request is sent; the caller now waits for its reply
        return real_read(sock)

    monkeypatch.setattr(_audit_remote, "_read_frame", read_frame)
    second = _audit_remote.RemoteAuditWriter(svc.path)
    b = call(lambda: second.record([ev("never read")]))
    assert waiting.wait(BOUND)
    svc.service.stop()
    release.set()

    [entry] = a.outcome()
    assert entry.seq == 1
    with pytest.raises(AuditUnavailable):
        b.outcome()
    svc.thread.join(BOUND)
    assert not svc.thread.is_alive()
    assert not os.path.exists(svc.path)
    assert [e.event.client_id for e in stored(svc)] == ["being written"]
    first.close()
    second.close()


_STUCK_WRITER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from certificates.audit.log import AuditLog
    from certificates.audit.writer import AuditWriterService
    from certificates.store.database import Store

    audit = AuditLog(Store.open(Path(sys.argv[1]), create=True))
    real, batches = audit.append_batch, []

    def stuck(events):  # the first batch is written; every later one hangs, unanswered
        batches.append(events)
        if len(batches) == 1:
            return real(events)
        print(f"writing {len(events)}", flush=True)
        threading.Event().wait()

    audit.append_batch = stuck
    service = AuditWriterService(audit, sys.argv[2])
    service.bind()
    print("listening", flush=True)
    service.serve_forever()
    """
)


def test_callers_waiting_when_the_writer_process_dies(
    tmp_path: Path, socket_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, path = tmp_path / "store.db", os.path.join(socket_dir, "a.sock")
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK_WRITER, str(db), path],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=60) == "listening"
        writer = _audit_remote.RemoteAuditWriter(path)

        async def five() -> list[Any]:
            await writer.record_async([ev("warm")])  # the loop's connection is open now, so
            # the five below go as one frame, in one loop turn
            return await asyncio.gather(
                *[writer.record_async([ev(f"a{i}")]) for i in range(5)], return_exceptions=True
            )

        a = call(lambda: run(five()))
        assert lines.get(timeout=BOUND) == "writing 5"  # the writer holds the five, unanswered

        waiting = threading.Event()
        real_read = _audit_remote._read_frame

        def read_frame(sock: socket.socket) -> bytes:
            waiting.set()
            return real_read(sock)

        monkeypatch.setattr(_audit_remote, "_read_frame", read_frame)
        b = call(lambda: writer.record([ev("sync")]))
        assert waiting.wait(BOUND)
        started = time.monotonic()
        proc.kill()
        proc.wait(BOUND)

        outcomes = a.outcome()
        assert len(outcomes) == 5
        for outcome in outcomes:
            assert isinstance(outcome, AuditUnavailable), outcome
            assert "lost" in str(outcome)
        with pytest.raises(AuditUnavailable):
            b.outcome()
        assert time.monotonic() - started < _audit_remote.REPLY_TIMEOUT  # not the watchdog
        writer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(BOUND)
        reader.join(BOUND)
        if proc.stdout is not None:
            proc.stdout.close()
    store = Store.open(db)
    assert [e.event.client_id for e in AuditLog(store).entries()] == ["warm"]
    store.close()


def test_a_database_that_refuses_the_write(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("certificates.audit.log._RETRIES", 3)  # the writer gives up sooner
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    writer.record([ev("before")])
    with contextlib.closing(sqlite3.connect(svc.db)) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        db.commit()

    async def several() -> list[Any]:
        try:
            confirm_only = await asyncio.gather(  # a frame of write_async callers only
                *[writer.write_async([ev(f"unconfirmed{i}")]) for i in range(10)],
                return_exceptions=True,
            )
            mixed = await asyncio.gather(
                *[writer.record_async([ev(f"lost{i}")]) for i in range(10)],
                *[writer.write_async([ev(f"unconfirmed{i}")]) for i in range(10)],
                return_exceptions=True,
            )
            return confirm_only + mixed
        finally:
            writer.close()

    with pytest.raises(AuditUnavailable, match="not recorded"):
        writer.record([ev("lost")])
    outcomes = run(several())
    assert all(isinstance(o, AuditUnavailable) for o in outcomes), outcomes
    assert [e.event.client_id for e in stored(svc)] == ["before"]

    with contextlib.closing(sqlite3.connect(svc.db)) as db:
        db.execute("DROP TRIGGER refuse")
        db.commit()
    [entry] = writer.record([ev("after")])
    writer.close()
    assert entry.seq == 2 and entry.prev_hash == stored(svc)[0].hash
    assert svc.audit.verify().ok


def test_a_database_error_resets_the_writer(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    writer.record([ev("before")])
    real = svc.audit._write_batch
    failures = [sqlite3.DatabaseError("database disk image is malformed")]

    def failing(events: list[AuditEvent]) -> list[AuditEntry]:
        if failures:
            raise failures.pop()
        return real(events)

    monkeypatch.setattr(svc.audit, "_write_batch", failing)
    with pytest.raises(AuditUnavailable) as exc:
        writer.record([ev("lost")])
    assert str(exc.value) == "the audit log cannot be written; nothing was recorded"
    assert "malformed" not in str(exc.value)  # the database's own message stays in the writer
    [entry] = writer.record([ev("after")])
    writer.close()
    assert entry.seq == 2
    assert [e.event.client_id for e in stored(svc)] == ["before", "after"]
    assert svc.audit.verify().ok


def test_two_workers_and_a_local_writer_share_one_chain(svc: Service) -> None:
    workers = [_audit_remote.RemoteAuditWriter(svc.path) for _ in range(2)]
    local_store = Store.open(svc.db)  # as the CLI: another writer of the same database
    local = AuditLog(local_store)
    start = threading.Barrier(3)

    def worker(n: int) -> list[AuditEntry]:
        writer = workers[n]

        async def rounds() -> list[AuditEntry]:
            out: list[AuditEntry] = []
            for r in range(10):
                results = await asyncio.gather(
                    *[writer.record_async([ev(f"w{n}-{r}-{i}")]) for i in range(15)]
                )
                out += [e for res in results for e in res]
                out += await asyncio.to_thread(writer.record, [ev(f"w{n}-{r}-sync")])
            writer.close()
            return out

        start.wait(BOUND)
        return run(rounds())

    def cli() -> list[AuditEntry]:
        start.wait(BOUND)
        return [local.record(ev(f"cli-{i}")) for i in range(80)]

    calls = [call(lambda: worker(0)), call(lambda: worker(1)), call(cli)]
    returned = [e for c in calls for e in c.outcome(timeout=120)]
    total = 2 * 10 * 16 + 80
    assert len({e.event.client_id for e in returned}) == total  # each exactly once
    assert_chain(svc, returned, total)
    local.close()
    local_store.close()


class _OtherUser:
    """The ``os`` module as the service sees it, but running as another user."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def getuid() -> int:
        return os.getuid() + 1


def test_a_peer_of_another_user_is_refused(
    svc: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="certledger.audit.writer")
    monkeypatch.setattr(audit_service, "os", _OtherUser())
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    with pytest.raises(AuditUnavailable):
        writer.record([ev("intruder")])

    async def main() -> None:
        try:
            await writer.record_async([ev("intruder async")])
        finally:
            writer.close()

    with pytest.raises(AuditUnavailable):
        run(main())
    with Peer(svc.path) as peer:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            peer.send(wire.encode_events([ev("raw intruder")]))
        assert peer.reply() is None  # closed, no reply
    assert stored(svc) == []
    assert "another user" in caplog.text
    monkeypatch.undo()  # the same user again: served
    [entry] = writer.record([ev("owner")])
    writer.close()
    assert entry.seq == 1 and svc.audit.verify().ok


def test_an_orphaned_writer_stops_and_removes_its_socket(tmp_path: Path) -> None:
    socket_dir = tempfile.mkdtemp(prefix="cl-")
    path = os.path.join(socket_dir, "a.sock")
    orphaned = threading.Event()
    s = start_service(tmp_path / "store.db", path, orphaned=orphaned.is_set)
    try:
        writer = _audit_remote.RemoteAuditWriter(path)
        assert writer.record([ev("served")])[0].seq == 1
        orphaned.set()  # nobody calls stop()
        s.thread.join(BOUND)
        assert not s.thread.is_alive()
        assert not os.path.exists(path)
        assert not os.path.exists(socket_dir)  # its private directory, now empty, too
        with pytest.raises(AuditUnavailable):  # the pooled connection was closed
            writer.record([ev("too late")])
        writer.close()
    finally:
        s.stop()
        s.audit.close()
        s.store.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_stopping_leaves_a_directory_with_other_files(svc: Service, socket_dir: str) -> None:
    Path(socket_dir, "other").write_text("kept")
    svc.stop()
    assert not os.path.exists(svc.path)
    assert os.listdir(socket_dir) == ["other"]


def test_a_writer_that_never_answers_times_out(
    socket_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_audit_remote, "REPLY_TIMEOUT", 0.5)
    path = os.path.join(socket_dir, "mute.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    listener.settimeout(BOUND)
    held: list[socket.socket] = []
    received = threading.Semaphore(0)

    def accept_and_ignore() -> None:
        for _ in range(3):
            conn, _ = listener.accept()
            held.append(conn)
            conn.recv(65536)  # the request arrives; no reply ever goes back
            received.release()

    mute = call(accept_and_ignore)
    writer = _audit_remote.RemoteAuditWriter(path)

    async def main() -> list[AuditEntry]:
        try:
            return await writer.record_async([ev("async")])
        finally:
            writer.close()

    async def confirm() -> None:
        try:
            await writer.write_async([ev("confirm")])
        finally:
            writer.close()

    for attempt in (
        lambda: run(main()),
        lambda: run(confirm()),
        lambda: writer.record([ev("sync")]),
    ):
        started = time.monotonic()
        with pytest.raises(AuditUnavailable, match="did not answer in time"):
            attempt()
        assert 0.4 < time.monotonic() - started < 5
        assert received.acquire(timeout=BOUND)
    mute.outcome()
    writer.close()
    for conn in held:
        conn.close()
    listener.close()


# -- faults found in review, fixed ------------------------------------------------------------


def test_an_event_the_app_can_make_is_accepted(svc: Service) -> None:
    # POST /api/v1/agreements allows 20 purposes of 64 characters; the agreement-create entry
    # records them joined with commas (certificates/lookup.py, create_agreement).
    purposes = ",".join(f"p{i:02d}" + "x" * 61 for i in range(20))
    event = AuditEvent("agreement-create", "ok", "cl_1", "market-regulation", purpose=purposes)
    assert len(purposes) == 1299
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    try:
        [entry] = writer.record([event])
    finally:
        writer.close()
    assert entry.event == event


def test_a_restarted_writer_is_reached_at_once(svc: Service) -> None:
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    writer.record([ev("before")])  # its connection goes back to the pool
    svc.stop()  # the writer restarts (as the supervisor does after a crash)
    os.makedirs(os.path.dirname(svc.path), exist_ok=True)  # stop() removed it, empty
    again = start_service(svc.db, svc.path)
    try:
        [entry] = writer.record([ev("after")])  # a healthy writer: no reason to fail
        assert entry.seq == 2
    finally:
        writer.close()
        again.stop()
        again.audit.close()
        again.store.close()


def test_one_refused_event_fails_only_its_own_caller(svc: Service) -> None:
    writer = _audit_remote.RemoteAuditWriter(svc.path)
    too_long = AuditEvent("view", "ok", reason="x" * (wire._MAX_TEXT + 1))

    async def main() -> list[Any]:
        try:
            await writer.write_async([ev("warm")])
            return await asyncio.gather(
                writer.record_async([too_long]),
                *[writer.record_async([ev(f"innocent{i}")]) for i in range(5)],
                return_exceptions=True,
            )
        finally:
            writer.close()

    refused, *others = run(main())
    assert isinstance(refused, Exception)
    assert not any(isinstance(o, BaseException) for o in others), others


def test_the_client_refuses_exactly_what_the_writer_refuses() -> None:
    # check_events decides the common case on a shortcut; it must never differ from the
    # writer's own check (decode_events), on either side of the limits.
    import random

    rng = random.Random(5)
    limit = wire._MAX_TEXT

    def text() -> object:
        return rng.choice(["", "x", "x" * (limit - 1), "x" * limit, "x" * (limit + 1), "名" * 3])

    def optional() -> object:
        return rng.choice([None, text(), 7])

    for _ in range(3000):
        n_fields = rng.choice([0, 1, 2, 3, wire._MAX_FIELDS, wire._MAX_FIELDS + 1])
        event = AuditEvent(
            text(),  # type: ignore[arg-type]
            text(),  # type: ignore[arg-type]
            rng.choice([text(), None]),  # type: ignore[arg-type]
            optional(),  # type: ignore[arg-type]
            optional(),  # type: ignore[arg-type]
            optional(),  # type: ignore[arg-type]
            optional(),  # type: ignore[arg-type]
            tuple(rng.choice(["a", "b" * (limit + 1), 3]) for _ in range(n_fields)),  # type: ignore[misc]
            optional(),  # type: ignore[arg-type]
        )
        try:
            wire.decode_events(orjson.dumps([tuple(event)]))
            writer_accepts = True
        except wire.WireError:
            writer_accepts = False
        try:
            wire.check_events([event])
            client_accepts = True
        except wire.WireError:
            client_accepts = False
        assert client_accepts == writer_accepts, event


def test_a_draining_writer_serves_its_workers_until_they_have_gone(svc: Service) -> None:
    # SIGTERM to the whole service group: the workers finish their last requests, and those
    # must still be audited, so the writer only stops once they have disconnected.
    worker = _audit_remote.RemoteAuditWriter(svc.path)
    assert worker.record([ev("before")])[0].seq == 1
    svc.service.drain(BOUND)
    time.sleep(0.5)  # more than one turn of the service's loop (its select waits 0.2 s)
    assert svc.thread.is_alive()
    assert worker.record([ev("while draining")])[0].seq == 2  # still served
    worker.close()  # the worker exits: its connections close
    svc.thread.join(BOUND)
    assert not svc.thread.is_alive()
    assert not os.path.exists(svc.path)
    assert [e.event.client_id for e in stored(svc)] == ["before", "while draining"]


def test_a_draining_writer_stops_after_its_timeout(svc: Service) -> None:
    worker = _audit_remote.RemoteAuditWriter(svc.path)
    worker.record([ev("connected")])  # and stays connected (pooled), never exiting
    started = time.monotonic()
    svc.service.drain(0.5)
    svc.thread.join(BOUND)
    assert not svc.thread.is_alive()
    assert 0.4 < time.monotonic() - started < 5
    worker.close()


def test_sigterm_lets_the_writer_process_serve_its_last_requests(
    tmp_path: Path, socket_dir: str
) -> None:
    # `certledger audit writer` as `serve` starts it, signalled as a service manager signals
    # a whole group: it keeps serving the connected worker and exits when that has gone.
    home = tmp_path / "home"
    home.mkdir()
    Store.open(home / "certificates.db", create=True).close()
    path = os.path.join(socket_dir, "a.sock")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTLEDGER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "verify_api", "--home", str(home), "audit", "writer",
         "--socket", path],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(path):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        worker = _audit_remote.RemoteAuditWriter(path)
        try:
            assert worker.record([ev("before")])[0].seq == 1
            proc.terminate()
            time.sleep(0.5)  # more than one turn of its loop
            assert proc.poll() is None
            assert worker.record([ev("after the signal")])[0].seq == 2
        finally:
            worker.close()
        assert proc.wait(BOUND) == 0
        assert not os.path.exists(path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(BOUND)
