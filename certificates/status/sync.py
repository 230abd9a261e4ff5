"""Keeping this deployment's local state in step with the ledger, from its events.

Another instance, or another agency, may revoke a certificate this instance stores or has
cached. Instead of asking the ledger about every certificate now and then, the service follows
the contract's events on its own ledger node (:class:`ledger.interface.EventSource`) and, for
each one, in ledger order:

1. updates the local store: a certificate this instance stores gets the ledger's current
   status and reason (read from the ledger on the event; the event itself names only the
   new status);
2. drops what this process caches about the certificates it names (status answers, lookup
   caches), through the same listeners a local status change calls; a registry change drops
   the verifier's copy of the agency registry;
3. writes the checkpoint (block, index of the event in that block) to the store.

No gap, no double: the stream is opened *after* the stored checkpoint, so every event after
the last applied one is delivered, and none before it. The checkpoint is written only after
the event is applied, so a crash between (1)-(2) and (3) replays exactly that event, which is
harmless because applying is idempotent: step 1 sets the store to what the ledger says *now*
(the same on a second run) and step 2 only forgets.

When the stream breaks (the peer restarts, the network drops), the follower reconnects with
a growing backoff (0.2 s up to 5 s) from its checkpoint. It never reports a status by itself:
the ledger stays the authority, this only keeps copies from going stale.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from certificates.store import Store
from certificates.store.ledger_sync import load_checkpoint, save_checkpoint
from ledger import Ledger, LedgerError, LedgerUnavailable
from ledger.interface import ChainEvent, EventCheckpoint, EventKind, EventSource, EventStream

__all__ = ["LedgerSync"]

log = logging.getLogger(__name__)

_CERT_EVENTS = {EventKind.ANCHORED, EventKind.STATUS_CHANGED, EventKind.REVOKED_BATCH}


class LedgerSync:
    """Follows ``source``'s events from the checkpoint stored under ``name``."""

    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        source: EventSource,
        name: str,
        listeners: Sequence[Callable[[str], None]] = (),
        on_registry: Callable[[], None] | None = None,
        min_backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._source = source
        self.name = name
        self._listeners = list(listeners)
        self._on_registry = on_registry
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: EventStream | None = None
        self._stream_lock = threading.Lock()
        # What was applied, for operators and tests: how many, the last few places, and how
        # often the stream was (re)opened.
        self.applied_count = 0
        self.recent: deque[tuple[int, int, str, tuple[str, ...]]] = deque(maxlen=10_000)
        self.connections = 0
        self.applied = threading.Condition()

    # -- one event ---------------------------------------------------------------------------

    def checkpoint(self) -> EventCheckpoint | None:
        return load_checkpoint(self._store, self.name)

    def apply(self, event: ChainEvent) -> None:
        """Apply one event (idempotent), then record its checkpoint.

        :raises LedgerUnavailable: the ledger could not be read to update the store; nothing
            is recorded, so the event is applied again after reconnecting.
        """
        if event.kind in _CERT_EVENTS:
            changed = event.superseded  # re-issues revoke what they supersede
            if event.kind is not EventKind.ANCHORED:
                changed = event.cert_ids
            for cert_id in changed:
                self._refresh(cert_id)
            for cert_id in (*event.cert_ids, *event.superseded):
                for listener in self._listeners:
                    listener(cert_id)
        elif event.kind is EventKind.REGISTRY_CHANGED and self._on_registry is not None:
            self._on_registry()
        save_checkpoint(self._store, self.name, event.checkpoint)
        with self.applied:
            self.applied_count += 1
            self.recent.append((event.block_number, event.index, event.name, event.cert_ids))
            self.applied.notify_all()

    def _refresh(self, cert_id: str) -> None:
        """The stored status of ``cert_id`` (if stored here) := the ledger's current one."""
        view = self._store.public_view(cert_id)
        if view is None:
            return  # not ours to keep: the caches still drop it
        try:
            record = self._ledger.get(cert_id)
        except LedgerError as exc:
            raise LedgerUnavailable(f"cannot read {cert_id} after its event: {exc}") from None
        if record is None:
            return
        status = str(record.status)
        if view.status != status or view.status_reason != record.reason:
            self._store.set_status(cert_id, status, record.reason)

    # -- following ---------------------------------------------------------------------------

    def run_once(self) -> None:
        """Open one stream after the checkpoint and apply its events until it ends (it is
        cancelled) or breaks (raises ``LedgerUnavailable``)."""
        stream = self._source.event_stream(self.checkpoint())
        with self._stream_lock:
            if self._stop.is_set():
                stream.cancel()
                return
            self._stream = stream
            self.connections += 1
        try:
            for event in stream:
                if self._stop.is_set():
                    break
                self.apply(event)
        finally:
            with self._stream_lock:
                self._stream = None
            stream.cancel()

    def _run(self) -> None:
        delay = self._min_backoff
        while not self._stop.is_set():
            try:
                self.run_once()
                delay = self._min_backoff
            except LedgerError as exc:
                # Logged without certificate data: the error names a block or a peer.
                log.warning("ledger event stream %s broke, reconnecting: %s", self.name, exc)
            except Exception:
                log.exception("ledger event follower %s failed, reconnecting", self.name)
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self._max_backoff)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"ledger-sync-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def break_stream(self) -> None:
        """Cancel the open stream as if the connection had dropped: the follower reconnects
        from its checkpoint (for fault drills and tests)."""
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.cancel()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.break_stream()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds after an applied event, or ``timeout``."""
        with self.applied:
            return self.applied.wait_for(predicate, timeout)
