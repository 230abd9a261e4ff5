"""The narrow ledger interface the contract is written against.

It mirrors the parts of fabric-chaincode-python's ``ChaincodeStub`` the contract needs,
so a Fabric adapter is a few one-line delegations:

==========================  ===============================================================
this protocol               fabric_shim ``ChaincodeStub`` (2.5.x)
==========================  ===============================================================
``get_state(key)``          ``await stub.get_state(key)`` (``b""`` when absent)
``put_state(key, value)``   ``await stub.put_state(key, value)``
``get_history(key)``        ``async for m in await stub.get_history_for_key(key)``; convert
                            ``m.timestamp`` (protobuf) to an aware UTC datetime
``get_creator_msp()``       ``stub.get_creator()["mspid"]``
``get_tx_id()``             ``stub.get_txid()``
``get_tx_timestamp()``      ``stub.get_tx_timestamp().ToDatetime(tzinfo=UTC)``
``set_event(name, data)``   ``stub.set_event(name, data)``
==========================  ===============================================================

Semantics every implementation must keep, because the contract relies on them:

* Reads see committed state only, never this transaction's own writes (Fabric has no
  read-your-writes). The contract therefore refuses duplicate ids inside one batch itself.
* Writes are buffered and only become visible if the whole transaction succeeds.
* One event per transaction: a later ``set_event`` replaces an earlier one.
* ``get_history`` may return versions in any order (Fabric 2.x returns newest first);
  the contract orders them by the version counter it stores in each value.
* ``get_creator_msp`` is authenticated by the platform (Fabric: the MSP validates the
  proposal signature). It is the only identity the contract trusts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["HistoryItem", "Stub"]


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One committed version of a key, as the platform's history index returns it."""

    tx_id: str
    timestamp: datetime
    value: bytes
    is_delete: bool


class Stub(Protocol):
    """What one contract invocation can see and do. One stub per transaction."""

    async def get_state(self, key: str) -> bytes:
        """Committed value of ``key``, ``b""`` when absent."""
        ...

    async def put_state(self, key: str, value: bytes) -> None:
        """Buffer a write; it lands only if the transaction commits."""
        ...

    async def get_history(self, key: str) -> list[HistoryItem]:
        """Every committed version of ``key``, in no guaranteed order."""
        ...

    def get_creator_msp(self) -> str:
        """The authenticated MSP id of the caller."""
        ...

    def get_tx_id(self) -> str:
        """This transaction's id."""
        ...

    def get_tx_timestamp(self) -> datetime:
        """This transaction's timestamp (aware, UTC); the only clock the contract may read."""
        ...

    def set_event(self, name: str, payload: bytes) -> None:
        """Set the transaction's event (replaces an earlier one)."""
        ...
