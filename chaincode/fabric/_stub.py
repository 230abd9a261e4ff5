"""The contract's :class:`~chaincode.stub.Stub` over one Fabric chaincode transaction.

Speaks the chaincode shim protocol through the shim's per-transaction message queue
(``Handler``'s queue sends one request at a time per transaction and routes the reply),
but checks every reply's type itself: the shim's ``get_state`` returns the payload of an
ERROR reply as if it were the value.

Identity: the creator is read from the signed proposal the *peer* forwarded after
validating its signature against the channel's MSPs, so ``get_creator_msp`` is the MSP
the platform authenticated, never a value the client chose.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2

from chaincode.stub import HistoryItem

from ._quiet import ccshim_pb2

__all__ = ["FabricStub", "ShimError", "TxContext"]

_MSG = ccshim_pb2.ChaincodeMessage
# The peer's default chaincode.runtimeParams.maxSizeWriteBatch / maxSizeGetMultipleKeys.
_MAX_KEYS_PER_MESSAGE = 1000


class ShimError(Exception):
    """The peer answered a shim request with an error (not a contract refusal)."""


class TxContext:
    """What the peer told us about the transaction: id, channel, creator MSP, timestamp."""

    def __init__(self, msg: Any) -> None:
        self.tx_id: str = msg.txid
        self.channel_id: str = msg.channel_id
        if not msg.proposal.proposal_bytes:
            raise ShimError("the peer sent a transaction without a signed proposal")
        proposal = proposal_pb2.Proposal.FromString(msg.proposal.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        sig_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        creator = identities_pb2.SerializedIdentity.FromString(sig_header.creator)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        self.msp_id: str = creator.mspid
        ts = channel_header.timestamp
        self.timestamp = datetime.fromtimestamp(ts.seconds, UTC).replace(
            microsecond=ts.nanos // 1000
        )


class FabricStub:
    """One transaction's view of the ledger, for the contract."""

    def __init__(self, handler: Any, tx: TxContext) -> None:
        self._handler = handler
        self._tx = tx
        self.event: tuple[str, bytes] | None = None
        self._read: dict[str, bytes] = {}
        self._writes: dict[str, bytes] = {}

    async def _ask(self, kind: int, payload: bytes) -> Any:
        # The shim's MsgQueueHandler: one outstanding request per transaction, replies
        # matched on channel + tx id. QueueMessage is constructed the shim's way.
        from fabric_chaincode_python.fabric_shim.msg_queue_handler import QueueMessage

        msg = _MSG(type=kind, payload=payload, txid=self._tx.tx_id, channel_id=self._tx.channel_id)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._handler.msg_queue_handler.queue_msg(QueueMessage(msg, str(kind), fut))
        reply = await fut
        if reply.type != _MSG.RESPONSE:
            # The payload of an ERROR reply is the peer's error text; it names keys, not values.
            raise ShimError(f"peer refused shim request {kind}: {reply.payload[:300]!r}")
        return reply

    async def prefetch(self, keys: list[str]) -> None:
        """Read many keys in a few GET_STATE_MULTIPLE round trips instead of one each.

        The values come from the same simulation as single reads (the peer records them in
        the read set alike), so the contract's later ``get_state`` calls are answered here.
        """
        wanted = [k for k in dict.fromkeys(keys) if k not in self._read]
        for i in range(0, len(wanted), _MAX_KEYS_PER_MESSAGE):
            chunk = wanted[i : i + _MAX_KEYS_PER_MESSAGE]
            req = ccshim_pb2.GetStateMultiple(keys=chunk, collection="")
            reply = await self._ask(_MSG.GET_STATE_MULTIPLE, req.SerializeToString())
            values = ccshim_pb2.GetStateMultipleResult.FromString(reply.payload).values
            if len(values) != len(chunk):
                raise ShimError(f"asked for {len(chunk)} keys, the peer answered {len(values)}")
            self._read.update(zip(chunk, (bytes(v) for v in values), strict=True))

    async def get_state(self, key: str) -> bytes:
        if key in self._read:
            return self._read[key]
        req = ccshim_pb2.GetState(key=key, collection="")
        reply = await self._ask(_MSG.GET_STATE, req.SerializeToString())
        return bytes(reply.payload)

    async def put_state(self, key: str, value: bytes) -> None:
        # Buffered (reads never see this transaction's writes anyway) and sent by flush()
        # in WRITE_BATCH_STATE messages: one round trip per thousand writes, not per write.
        self._writes[key] = value

    async def flush(self) -> None:
        """Send the buffered writes to the peer; called once the contract has succeeded."""
        items = list(self._writes.items())
        self._writes.clear()
        put = ccshim_pb2.WriteRecord.PUT_STATE
        for i in range(0, len(items), _MAX_KEYS_PER_MESSAGE):
            batch = ccshim_pb2.WriteBatchState(
                rec=[
                    ccshim_pb2.WriteRecord(key=k, value=v, collection="", type=put)
                    for k, v in items[i : i + _MAX_KEYS_PER_MESSAGE]
                ]
            )
            await self._ask(_MSG.WRITE_BATCH_STATE, batch.SerializeToString())

    async def get_history(self, key: str) -> list[HistoryItem]:
        req = ccshim_pb2.GetHistoryForKey(key=key)
        reply = await self._ask(_MSG.GET_HISTORY_FOR_KEY, req.SerializeToString())
        items: list[HistoryItem] = []
        while True:
            resp = ccshim_pb2.QueryResponse.FromString(reply.payload)
            for r in resp.results:
                km = kv_query_result_pb2.KeyModification.FromString(r.resultBytes)
                ts = km.timestamp
                when = datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)
                items.append(HistoryItem(km.tx_id, when, bytes(km.value), km.is_delete))
            if not resp.has_more:
                break
            nxt = ccshim_pb2.QueryStateNext(id=resp.id)
            reply = await self._ask(_MSG.QUERY_STATE_NEXT, nxt.SerializeToString())
        if resp.id:
            close = ccshim_pb2.QueryStateClose(id=resp.id)
            await self._ask(_MSG.QUERY_STATE_CLOSE, close.SerializeToString())
        return items

    def get_creator_msp(self) -> str:
        return self._tx.msp_id

    def get_tx_id(self) -> str:
        return self._tx.tx_id

    def get_tx_timestamp(self) -> datetime:
        return self._tx.timestamp

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, payload)

    def chaincode_event(self) -> Any:
        if self.event is None:
            return None
        name, payload = self.event
        return chaincode_event_pb2.ChaincodeEvent(
            tx_id=self._tx.tx_id, event_name=name, payload=payload
        )
