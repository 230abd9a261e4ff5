"""The three fabric-chaincode-python 2.5.4 defects, each shown handled."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import grpc
import pytest
from fabric_protos.peer import chaincode_shim_pb2, chaincode_shim_pb2_grpc

from chaincode.fabric import SerialisedStream, ServerTls, build_server
from ledger import AnchorEntry

from .conftest import FabricNet

# -- defect 1: concurrent writes to the gRPC stream ---------------------------------------


class _OneWriterAtATime:
    """Fails like grpc does (TOO_MANY_OPERATIONS) when two writes overlap."""

    def __init__(self) -> None:
        self.busy = False
        self.written: list[int] = []

    async def write(self, message: int) -> None:
        if self.busy:
            raise RuntimeError("GRPC_CALL_ERROR_TOO_MANY_OPERATIONS")
        self.busy = True
        await asyncio.sleep(0.001)
        self.written.append(message)
        self.busy = False


def test_stream_writes_are_serialised() -> None:
    async def run() -> list[int]:
        raw = _OneWriterAtATime()
        with pytest.raises(RuntimeError):
            await asyncio.gather(*(raw.write(i) for i in range(10)))
        ctx = _OneWriterAtATime()
        stream = SerialisedStream(ctx)
        await asyncio.gather(*(stream.write(i) for i in range(200)))
        return ctx.written

    assert sorted(asyncio.run(run())) == list(range(200))


# -- defect 2: TLS silently off ----------------------------------------------------------


def test_server_refuses_to_start_without_tls() -> None:
    with pytest.raises(ValueError, match="TLS"):
        build_server("cc:1", "certledger", "127.0.0.1:0", ServerTls(b"", b"", b""))


def _cc_target(net: FabricNet) -> tuple[str, bytes]:
    topo = net.layout.load()
    port = topo.chaincode_port["transport"]
    ca = (net.layout.crypto / "chaincode" / "transport" / "server" / "ca.crt").read_bytes()
    return f"127.0.0.1:{port}", ca


def _try_connect(channel: grpc.Channel) -> int:
    """Open the chaincode stream; the server speaks first (REGISTER)."""
    stub = chaincode_shim_pb2_grpc.ChaincodeStub(channel)
    call = stub.Connect(iter(()), timeout=5)
    try:
        return int(next(iter(call)).type)
    finally:
        call.cancel()


def test_chaincode_server_speaks_only_mutual_tls(fabric_net: FabricNet) -> None:
    address, ca = _cc_target(fabric_net)
    with grpc.insecure_channel(address) as plain, pytest.raises(grpc.RpcError):
        _try_connect(plain)
    creds = grpc.ssl_channel_credentials(root_certificates=ca)  # TLS, but no client cert
    with grpc.secure_channel(address, creds) as anonymous, pytest.raises(grpc.RpcError):
        _try_connect(anonymous)
    # Control: with the client certificate the peers use, the stream opens.
    client = fabric_net.layout.crypto / "chaincode" / "transport" / "client"
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(client / "server.key").read_bytes(),
        certificate_chain=(client / "server.crt").read_bytes(),
    )
    with grpc.secure_channel(address, creds) as peer_like:
        assert _try_connect(peer_like) == chaincode_shim_pb2.ChaincodeMessage.REGISTER


# -- defect 3: DEBUG logging and state values in the log ----------------------------------


def test_importing_the_shim_leaves_logging_alone() -> None:
    code = (
        "import logging; logging.getLogger().setLevel(logging.WARNING);"
        "import chaincode.fabric, fabric_chaincode_python.fabric_shim.logging as s;"
        "r = logging.getLogger();"
        "print(r.level, len(r.handlers), s.LOGGER.level)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(30), "0", str(40)], out


def test_state_values_never_reach_the_logs(fabric_net: FabricNet) -> None:
    secret_digest = f"{time.time_ns():064x}"
    cid = f"BL-LOG-{time.time_ns()}"
    with fabric_net.ledger("market-regulation") as ledger:
        ledger.anchor(
            "market-regulation",
            [AnchorEntry(cid, secret_digest, "9" * 64, "business-licence", "2026-01-01", None)],
        )
        assert ledger.get(cid) is not None
    logs = list(fabric_net.layout.logs.glob("*.log"))
    assert any(p.name.startswith("cc.") for p in logs)
    for log in logs:
        assert secret_digest not in log.read_text("utf-8", "replace"), log.name
