"""The worker's end of the audit writer service (``audit_service``).

Event-loop callers (the lookup routes) share one connection per loop: every entry recorded in
one turn of the loop goes out as one frame, and the one reply releases all of those callers at
once, so the per-request cost on the loop is a list append and a future. Threads (synchronous
routes, background work) use blocking connections from a small pool.

Failing closed: if the writer cannot be reached, does not answer in time, or answers with an
error, the callers get :class:`AuditUnavailable` and their actions are not reported as done.
A request whose reply never came may or may not have been written; the audit log then holds an
entry for an answer that was not given, never the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from certificates.audit import wire
from certificates.audit.model import AuditEntry, AuditEvent, AuditUnavailable

__all__ = ["RemoteAuditWriter"]

# How long a caller waits for its commit before giving up (the writer itself retries a busy
# database for about a second; anything much longer is a stuck writer).
REPLY_TIMEOUT = 15.0
_POOL = 8

_CONFIRMED: list[AuditEntry] = []  # what write_async callers are released with (unused)
_UNREACHABLE = "the audit writer cannot be reached; nothing was recorded"
_STALLED = "the audit writer did not answer in time; the action was not recorded"
_LOST = "the connection to the audit writer was lost; the action was not recorded"


@dataclass(eq=False, slots=True)
class _Sent:
    events: list[AuditEvent]
    waiters: list[tuple[asyncio.Future[list[AuditEntry]], int]]
    at: float
    entries_wanted: bool


class _Channel(asyncio.Protocol):
    """One event loop's connection. Replies come back in request order (FIFO)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._inbox = bytearray()
        self._sent: deque[_Sent] = deque()
        self._events: list[AuditEvent] = []
        self._waiters: list[tuple[asyncio.Future[list[AuditEntry]], int]] = []
        self._entries_wanted = False
        self._flush_soon = False
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._inbox += data
        try:
            frames = wire.split_frames(self._inbox)
            for payload in frames:
                if not self._sent:
                    raise wire.WireError("a reply to no request")
                sent = self._sent.popleft()
                if not sent.entries_wanted:  # write_async callers only: confirmation is all
                    error = wire.check_reply(payload, len(sent.events))
                    if error is not None:
                        _fail(sent.waiters, AuditUnavailable(error))
                        continue
                    for future, _ in sent.waiters:
                        if not future.done():  # a cancelled caller's entries are written
                            future.set_result(_CONFIRMED)
                    continue
                outcome = wire.decode_reply(payload, sent.events)
                if isinstance(outcome, str):
                    _fail(sent.waiters, AuditUnavailable(outcome))
                    continue
                i = 0
                for future, n in sent.waiters:
                    if not future.done():  # a cancelled caller's entries are written anyway
                        future.set_result(outcome[i : i + n])
                    i += n
        except wire.WireError:
            self._abort(_LOST)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._abort(_LOST)

    # -- callers ---------------------------------------------------------------------------

    def submit(
        self, events: Sequence[AuditEvent], *, entries: bool
    ) -> asyncio.Future[list[AuditEntry]]:
        future: asyncio.Future[list[AuditEntry]] = self._loop.create_future()
        try:
            wire.check_events(events)
        except wire.WireError as exc:  # this caller's own fault; the frame stays good
            future.set_exception(AuditUnavailable(f"the audit entry was refused: {exc}"))
            return future
        self._events += events
        self._waiters.append((future, len(events)))
        self._entries_wanted = self._entries_wanted or entries
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_soon = False
        events, waiters, wanted = self._events, self._waiters, self._entries_wanted
        self._events, self._waiters, self._entries_wanted = [], [], False
        if not waiters:
            return
        if not self.open:
            _fail(waiters, AuditUnavailable(_LOST))
            return
        assert self._transport is not None
        self._sent.append(_Sent(events, waiters, time.monotonic(), wanted))
        self._transport.write(wire.encode_events(events))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(REPLY_TIMEOUT, self._check_stalled)

    def _check_stalled(self) -> None:
        self._watchdog = None
        if not self._sent:
            return
        waited = time.monotonic() - self._sent[0].at
        if waited >= REPLY_TIMEOUT:
            # Replies are matched by order, so a stalled connection cannot be resumed.
            self._abort(_STALLED)
        else:
            self._watchdog = self._loop.call_later(REPLY_TIMEOUT - waited, self._check_stalled)

    def _abort(self, message: str) -> None:
        sent, self._sent = self._sent, deque()
        for s in sent:
            _fail(s.waiters, AuditUnavailable(message))
        if self._transport is not None:
            self._transport.abort()
            self._transport = None


def _fail(waiters: list[tuple[asyncio.Future[list[AuditEntry]], int]], exc: Exception) -> None:
    for future, _ in waiters:
        if not future.done():
            future.set_exception(exc)


class RemoteAuditWriter:
    """Records audit entries through the audit writer service listening at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._channels: dict[asyncio.AbstractEventLoop, _Channel] = {}
        self._connecting: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteAuditWriter({self.path!r})"

    # -- from an event loop ----------------------------------------------------------------

    async def record_async(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        channel = self._open_channel() or await self._connect(asyncio.get_running_loop())
        return await channel.submit(events, entries=True)

    async def write_async(self, events: Sequence[AuditEvent]) -> None:
        """As :meth:`record_async`, returning once written, without the entries (the lookup
        path has no use for them, and building them is work on its event loop)."""
        channel = self._open_channel() or await self._connect(asyncio.get_running_loop())
        await channel.submit(events, entries=False)

    def _open_channel(self) -> _Channel | None:
        """The running loop's connection if it is open (the common case: no await)."""
        channel = self._channels.get(asyncio.get_running_loop())
        return channel if channel is not None and channel.open else None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Channel:
        for old in [lp for lp in self._channels if lp.is_closed()]:  # tests run many loops
            self._channels.pop(old, None)
            self._connecting.pop(old, None)
        lock = self._connecting.setdefault(loop, asyncio.Lock())
        async with lock:  # one connection per loop, however many callers arrive at once
            channel = self._channels.get(loop)
            if channel is not None and channel.open:
                return channel
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_unix_connection(lambda: _Channel(loop), self.path),
                    REPLY_TIMEOUT,
                )
            except (OSError, TimeoutError) as exc:
                raise AuditUnavailable(_UNREACHABLE) from exc
            self._channels[loop] = protocol
            return protocol

    # -- from a thread ---------------------------------------------------------------------

    def record(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        try:
            wire.check_events(events)
        except wire.WireError as exc:
            raise AuditUnavailable(f"the audit entry was refused: {exc}") from None
        request = wire.encode_events(events)
        sock, pooled = self._take()
        try:
            sock.sendall(request)
        except OSError:
            # A pooled connection the writer closed (it was restarted) fails here, before
            # anything was written: once more on a fresh one.
            sock.close()
            if not pooled:
                raise AuditUnavailable(_LOST) from None
            sock, _ = self._take(fresh=True)
            try:
                sock.sendall(request)
            except OSError as exc:
                sock.close()
                raise AuditUnavailable(_LOST) from exc
        try:
            outcome = wire.decode_reply(_read_frame(sock), events)
        except (OSError, wire.WireError) as exc:
            sock.close()
            raise AuditUnavailable(_STALLED if isinstance(exc, TimeoutError) else _LOST) from exc
        if isinstance(outcome, str):
            sock.close()  # the writer may close its end after an error: never reuse it
            raise AuditUnavailable(outcome)
        self._give_back(sock)
        return outcome

    def _take(self, *, fresh: bool = False) -> tuple[socket.socket, bool]:
        """A connection, and whether it came from the pool."""
        while not fresh:
            with self._lock:
                if not self._idle:
                    break
                sock = self._idle.pop()
            # An idle connection has nothing to read; if it has, the writer closed it.
            if select.select([sock], [], [], 0)[0]:
                sock.close()
                continue
            return sock, True
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise AuditUnavailable(_UNREACHABLE) from exc
        return sock, False

    def _give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < _POOL:
                self._idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()
        for channel in list(self._channels.values()):
            if channel.open:
                with contextlib.suppress(RuntimeError):  # its loop may be closed already
                    channel._abort(_LOST)
        self._channels.clear()
        self._connecting.clear()


def _read_frame(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, wire.HEADER.size)
    (n,) = wire.HEADER.unpack(header)
    if n > wire.MAX_FRAME:
        raise wire.WireError("reply larger than the limit")
    return _read_exactly(sock, n)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError("the audit writer closed the connection")
        buf += chunk
    return bytes(buf)
