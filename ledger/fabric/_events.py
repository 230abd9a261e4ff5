"""Following the contract's events on this agency's own peer (Gateway ``ChaincodeEvents``).

The gateway answers one message per block that holds events of this chaincode, the events in
transaction order, and only those of valid transactions. An event's place is therefore
``(block, index in that block's list)``: the same on every call, since a committed block never
changes. A stream opened *after* a checkpoint starts at the checkpoint's block (so nothing
after it can be missed) and drops that block's events up to the checkpoint's index (so
nothing is delivered twice).

Payloads are the contract's canonical JSON (``chaincode.contract``). An event whose payload
does not parse is delivered as ``OTHER``, never raised: one odd event must not stop a
follower from applying the next revocation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import grpc

from ledger.errors import LedgerUnavailable
from ledger.fabric._gateway import GatewayClient, error_of
from ledger.interface import ChainEvent, EventCheckpoint, EventKind

__all__ = ["FabricEventStream", "typed_event"]

_STATUS_EVENTS = {"revoked", "suspended", "reinstated"}


def typed_event(block: int, index: int, tx_id: str, name: str, payload: bytes) -> ChainEvent:
    """The contract event ``name`` with ``payload`` as a :class:`ChainEvent`."""
    try:
        body: Any = json.loads(payload) if payload else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ChainEvent(block, index, tx_id, EventKind.OTHER, name)
    if name == "anchored":
        ids = _ids(body.get("cert_ids"))
        agency = body.get("agency")
        return ChainEvent(
            block,
            index,
            tx_id,
            EventKind.ANCHORED,
            name,
            ids,
            agency=agency if isinstance(agency, str) else None,
            superseded=_ids(body.get("superseded")),
        )
    if name in _STATUS_EVENTS and isinstance(body.get("cert_id"), str):
        status = body.get("status")
        return ChainEvent(
            block,
            index,
            tx_id,
            EventKind.STATUS_CHANGED,
            name,
            (body["cert_id"],),
            status=status if isinstance(status, str) else None,
        )
    if name == "revoked_batch":
        return ChainEvent(
            block,
            index,
            tx_id,
            EventKind.REVOKED_BATCH,
            name,
            _ids(body.get("cert_ids")),
            status="revoked",
        )
    if name == "registry" or name.startswith("registry"):
        return ChainEvent(block, index, tx_id, EventKind.REGISTRY_CHANGED, name)
    return ChainEvent(block, index, tx_id, EventKind.OTHER, name)


def _ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


class FabricEventStream:
    """One open ``ChaincodeEvents`` stream, events strictly after ``after``."""

    def __init__(self, client: GatewayClient, after: EventCheckpoint | None) -> None:
        self._after = after
        self._cancelled = threading.Event()
        start = after.block if after is not None else 0
        self._call = client.events_call(start)

    def __iter__(self) -> Iterator[ChainEvent]:
        after = self._after
        try:
            for resp in self._call:
                block = int(resp.block_number)
                for index, ev in enumerate(resp.events):
                    if after is not None and EventCheckpoint(block, index) <= after:
                        continue  # applied before the checkpoint was written
                    yield typed_event(block, index, ev.tx_id, ev.event_name, bytes(ev.payload))
        except grpc.RpcError as err:
            if self._cancelled.is_set():
                return
            raise LedgerUnavailable(f"Fabric: {error_of('chaincode events', err)}") from None
        if not self._cancelled.is_set():
            # The peer ended a stream that should stay open (it is shutting down).
            raise LedgerUnavailable("Fabric: the peer ended the chaincode event stream")

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()
