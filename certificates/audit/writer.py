"""One audit writer for every server worker: a process that owns the chain's head.

Why a process of its own: a details lookup must not be answered before its audit entry is
durable, so every request waits for a commit. Written from inside the worker (a thread), the
chaining, the insert and the hand-offs cost the event loop more than the lookup itself, because
they compete for the interpreter lock; and with several workers, each process appending to the
one chain took turns on SQLite's write lock and collided on the head. Here one process, one
thread, one connection appends everything: workers send events over a Unix socket (frames in
``_audit_wire``), the writer gathers whatever arrived while it was committing into one
transaction (group commit: one fsync for many requests), and answers each request only after
that commit. Other writers of the same database (CLI commands) still work: ``AuditLog`` keeps the
chain linear across processes, and this process is just one of them.

Who may connect: the socket lives in a directory only the service's user can enter, and every
connection's peer credentials are checked against this process's uid (Linux ``SO_PEERCRED``),
so no other local user can add to (or flood) the audit log through it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from certificates.audit import wire
from certificates.audit.log import AuditLog, AuditUnavailable
from certificates.audit.model import AuditEvent

__all__ = ["AuditWriterService"]

log = logging.getLogger("certledger.audit.writer")

# Entries per transaction at most; a larger backlog is written as several commits, each frame
# whole in one of them.
_MAX_BATCH = 4096
_RECV = 256 * 1024


@dataclass(eq=False)
class _Peer:
    sock: socket.socket
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    closing: bool = False
    closed: bool = False


def _same_user(sock: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):  # pragma: no cover - Linux is the platform
        return True
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


class AuditWriterService:
    """Serves ``AuditLog.append_batch`` on a Unix socket until :meth:`stop`."""

    def __init__(
        self, audit: AuditLog, path: str, *, orphaned: Callable[[], bool] | None = None
    ) -> None:
        self._audit = audit
        self._path = path
        # Checked between batches: a writer whose server is gone stops (uvicorn ends the
        # server by re-raising SIGTERM, so the server cannot always stop the writer itself).
        self._orphaned = orphaned
        self._stop = threading.Event()
        self._drain_until: float | None = None
        self._peers = 0
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None

    def bind(self) -> None:
        """Listen on the socket path (replacing a stale socket file of a previous run)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # the socket file itself: owner only
        try:
            sock.bind(self._path)
        finally:
            os.umask(old)
        sock.listen(128)
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, None)

    def stop(self) -> None:
        """Stop after the batch being written is answered; requests not yet read are not
        written (their callers get AuditUnavailable)."""
        self._stop.set()

    def drain(self, timeout: float) -> None:
        """Stop once every connected worker has gone (or after ``timeout`` seconds), serving
        them until then. For SIGTERM: a service manager signals the server's workers and this
        writer together, and the workers still finishing their last requests need it."""
        self._drain_until = time.monotonic() + timeout

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        try:
            while not self._stop.is_set():
                if self._orphaned is not None and self._orphaned():
                    log.warning("the server that started the audit writer is gone; stopping")
                    break
                if self._drain_until is not None and (
                    self._peers == 0 or time.monotonic() > self._drain_until
                ):
                    break
                ready = self._sel.select(timeout=0.2)
                requests: list[tuple[_Peer, list[AuditEvent]]] = []
                for key, mask in ready:
                    if key.data is None:
                        self._accept()
                        continue
                    peer: _Peer = key.data
                    if mask & selectors.EVENT_READ:
                        requests += self._read(peer)
                    if mask & selectors.EVENT_WRITE:
                        self._flush(peer)
                if requests:
                    self._commit(requests)
        finally:
            self._close_all()

    # -- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of descriptors and the like: keep serving the others
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    log.error("cannot accept an audit connection: %s", exc.strerror)
                return
            if not _same_user(sock):
                log.warning("refused an audit connection from another user")
                sock.close()
                continue
            sock.setblocking(False)
            self._sel.register(sock, selectors.EVENT_READ, _Peer(sock))
            self._peers += 1

    def _read(self, peer: _Peer) -> list[tuple[_Peer, list[AuditEvent]]]:
        try:
            data = peer.sock.recv(_RECV)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            self._drop(peer)
            return []
        if peer.closing:  # refused a frame: nothing after it is read, let alone written
            return []
        peer.inbox += data
        out: list[tuple[_Peer, list[AuditEvent]]] = []
        try:
            while frames := wire.split_frames(peer.inbox):
                for payload in frames:  # one by one: those before a bad one are kept
                    out.append((peer, wire.decode_events(payload)))
        except wire.WireError as exc:
            # Whatever came before the bad frame is written and answered; the bad frame and
            # anything after it are not, and the peer is told why and disconnected.
            log.warning("refused a malformed audit request: %s", exc)
            peer.inbox.clear()
            peer.closing = True
            out.append((peer, []))
        return out

    def _flush(self, peer: _Peer) -> None:
        if peer.closed:  # went away while its request was being written: nobody to tell
            return
        if peer.outbox:
            try:
                sent = peer.sock.send(peer.outbox)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._drop(peer)
                return
            del peer.outbox[:sent]
        if peer.outbox:
            self._sel.modify(peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, peer)
        elif peer.closing:
            self._drop(peer)
        else:
            self._sel.modify(peer.sock, selectors.EVENT_READ, peer)

    def _drop(self, peer: _Peer) -> None:
        if peer.closed:
            return
        peer.closed = True
        self._peers -= 1
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(peer.sock)
        peer.sock.close()

    def _close_all(self) -> None:
        for key in list(self._sel.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        with contextlib.suppress(OSError):  # the private directory, when nothing else is in it
            os.rmdir(os.path.dirname(self._path))

    # -- writing ---------------------------------------------------------------------------

    def _commit(self, requests: list[tuple[_Peer, list[AuditEvent]]]) -> None:
        """Write the requests in as few transactions as the batch limit allows, then answer
        each one, in the order it arrived on its connection."""
        batch: list[tuple[_Peer, list[AuditEvent]]] = []
        size = 0
        touched: dict[int, _Peer] = {}
        for peer, events in requests:
            touched[id(peer)] = peer
            if not events:  # the malformed request's place in the reply order
                self._answer_batch(batch)
                batch, size = [], 0
                peer.outbox += wire.encode_error("malformed audit request; nothing written")
                continue
            if batch and size + len(events) > _MAX_BATCH:
                self._answer_batch(batch)
                batch, size = [], 0
            batch.append((peer, events))
            size += len(events)
        self._answer_batch(batch)
        for peer in touched.values():
            self._flush(peer)

    def _answer_batch(self, batch: list[tuple[_Peer, list[AuditEvent]]]) -> None:
        if not batch:
            return
        events = [e for _, evs in batch for e in evs]
        try:
            entries = self._audit.append_batch(events)
        except AuditUnavailable as exc:
            for peer, _ in batch:
                peer.outbox += wire.encode_error(str(exc))
            return
        i = 0
        for peer, evs in batch:
            peer.outbox += wire.encode_reply(entries[i : i + len(evs)])
            i += len(evs)
