"""The contract as a chaincode-as-a-service gRPC server, with the shim's defects handled.

fabric-chaincode-python 2.5.4 defects and what this module does about each:

1. *Concurrent stream writes.* The shim handles each peer message in its own task and every
   task writes to the gRPC stream directly; two writes at once fail with
   ``GRPC_CALL_ERROR_TOO_MANY_OPERATIONS``, the peer waits for its execute timeout and the
   client sees ABORTED (eight concurrent submits are enough). :class:`SerialisedStream`
   puts every write behind one lock per stream.
2. *TLS silently off.* ``start()`` passes ``key=None`` to its server builder, so the TLS
   environment variables never apply and the server listens in plaintext without a word.
   :func:`build_server` takes key, certificate and client CA explicitly, requires client
   certificates (only the peers hold one), and refuses to start without them.
3. *Logging.* See :mod:`chaincode.fabric._quiet`: DEBUG on the root logger and state values
   in the log are undone at import.

Events: the shim drops ``set_event`` on the floor (its COMPLETED message has no event), so
:class:`ContractHandler` builds the COMPLETED message itself, event included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import grpc
from fabric_protos.peer import chaincode_pb2, proposal_response_pb2

from chaincode import ContractError

from ._dispatch import dispatch
from ._quiet import Handler, ccshim_grpc, ccshim_pb2
from ._stub import FabricStub, ShimError, TxContext

__all__ = ["ContractHandler", "SerialisedStream", "ServerTls", "build_server"]

_log = logging.getLogger("certledger.chaincode")
_MSG = ccshim_pb2.ChaincodeMessage


class SerialisedStream:
    """A gRPC servicer context whose ``write`` calls never overlap (defect 1)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._lock = asyncio.Lock()

    async def write(self, message: Any) -> None:
        async with self._lock:
            await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class ContractHandler(Handler):  # type: ignore[misc]
    """The shim's stream handler, with transactions run by our dispatcher."""

    def __init__(self, cc_id: str, chaincode_name: str) -> None:
        super().__init__(cc_id, None)
        self._cc_name = chaincode_name

    async def handle_stub_interaction(self, msg: Any, action: str = "Invoke") -> None:
        cc_input = chaincode_pb2.ChaincodeInput.FromString(msg.payload)
        is_init = bool(cc_input.is_init) or action.lower() == "init"
        event = None
        try:
            tx = TxContext(msg)
            stub = FabricStub(self, tx)
            payload = await dispatch(stub, list(cc_input.args), is_init=is_init)
            await stub.flush()
            event = stub.chaincode_event()
            response = proposal_response_pb2.Response(status=200, payload=payload)
        except ContractError as exc:
            # "CODE: message": the client rebuilds the refusal with ContractError.parse.
            response = proposal_response_pb2.Response(status=500, message=str(exc))
        except ShimError as exc:
            _log.error("transaction %s: %s", msg.txid, exc)
            response = proposal_response_pb2.Response(status=500, message=f"SHIM: {exc}")
        except Exception:
            # Never echo the exception: it may quote state. The log has the type and tx only.
            _log.exception("transaction %s failed inside the chaincode", msg.txid)
            response = proposal_response_pb2.Response(
                status=500, message="INTERNAL: the chaincode failed; see its log"
            )
        done = _MSG(
            type=_MSG.COMPLETED,
            payload=response.SerializeToString(),
            txid=msg.txid,
            channel_id=msg.channel_id,
        )
        if event is not None:
            event.chaincode_id = self._cc_name
            done.chaincode_event.CopyFrom(event)
        await self.context.write(done)


class _Service(ccshim_grpc.ChaincodeServicer):  # type: ignore[misc]
    def __init__(self, cc_id: str, chaincode_name: str) -> None:
        self._cc_id = cc_id
        self._name = chaincode_name

    async def Connect(self, request_iterator: AsyncIterable[Any], context: Any) -> None:
        handler = ContractHandler(self._cc_id, self._name)
        try:
            await handler.chat_with_peer(request_iterator, SerialisedStream(context))
        except asyncio.CancelledError:
            _log.info("peer stream closed")


@dataclass(frozen=True)
class ServerTls:
    """PEM bytes. ``client_ca`` verifies the peers' client certificates."""

    key: bytes
    cert: bytes
    client_ca: bytes

    def __repr__(self) -> str:
        return "ServerTls(key=<hidden>, cert=..., client_ca=...)"


def build_server(cc_id: str, chaincode_name: str, address: str, tls: ServerTls) -> Any:
    """A grpc.aio server for the chaincode, TLS with client authentication (defect 2)."""
    if not (tls.key and tls.cert and tls.client_ca):
        raise ValueError("the chaincode server needs a TLS key, certificate and client CA")
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            ("grpc.max_send_message_length", 100 * 1024 * 1024),
        ]
    )
    creds = grpc.ssl_server_credentials(
        [(tls.key, tls.cert)], root_certificates=tls.client_ca, require_client_auth=True
    )
    port = server.add_secure_port(address, creds)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    ccshim_grpc.add_ChaincodeServicer_to_server(_Service(cc_id, chaincode_name), server)
    return server
