"""A Fabric Gateway client over gRPC: signed proposal -> Endorse -> Submit -> CommitStatus,
Evaluate for queries, ChaincodeEvents for following the ledger.

No SDK: the messages come from ``hyperledger-fabric-protos`` and are signed here with the
agency's MSP key (ECDSA P-256 over SHA-256, low-S as Fabric requires). The transaction id
is SHA-256(nonce + creator), which is what the peers check it against.

Security notes, numbered as cited below:
(1) The TLS connection trusts exactly the peer's TLS CA from the connection profile, never
    the system store.
(2) The private key stays in this process; only signatures leave it. ``repr`` hides it.
(3) The peer authenticates the signature against the channel's MSPs; the chaincode then
    trusts only that authenticated MSP id, so a client cannot act for another agency.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

__all__ = [
    "ChaincodeEvent",
    "Committed",
    "GatewayClient",
    "GatewayError",
    "Identity",
]

# Order of the P-256 group, for low-S normalisation.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class GatewayError(Exception):
    """A gateway call failed. ``code`` is the gRPC status; ``details`` the peers' messages.

    ``transient`` is True when retrying the same call may succeed (unavailable peers,
    timeouts, MVCC conflicts), False when the request itself was refused.
    """

    def __init__(
        self, message: str, *, code: str = "", details: tuple[str, ...] = (), transient: bool
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details
        self.transient = transient

    @property
    def chaincode_message(self) -> str | None:
        """The chaincode's own error text (``CODE: message``), when the chaincode refused."""
        marker = "chaincode response 500, "
        for text in (*self.details, str(self)):
            i = text.find(marker)
            if i >= 0:
                return text[i + len(marker) :]
        return None


@dataclass(frozen=True)
class Identity:
    """An MSP identity: MSP id, X.509 certificate (PEM) and its private key."""

    msp_id: str
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, msp_id: str, cert_path: str, key_path: str) -> Identity:
        with open(cert_path, "rb") as fh:
            cert = fh.read()
        with open(key_path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not an EC private key")
        return cls(msp_id, cert, key)

    def creator(self) -> bytes:
        raw: bytes = identities_pb2.SerializedIdentity(
            mspid=self.msp_id, id_bytes=self.cert_pem
        ).SerializeToString()
        return raw

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 signature, DER, with S in the lower half of the order (Fabric
        rejects high-S signatures as malleable)."""
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        if s > _P256_N // 2:
            s = _P256_N - s
        return encode_dss_signature(r, s)

    def __repr__(self) -> str:  # (2)
        return f"Identity(msp_id={self.msp_id!r}, key=<hidden>)"


@dataclass(frozen=True)
class Committed:
    tx_id: str
    block_number: int
    result: bytes
    timestamp: datetime


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    tx_id: str
    name: str
    payload: bytes


_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    # The gateway's "no combination of peers can be derived which satisfy the endorsement
    # policy": too few orgs reachable right now (peers down, gossip not yet reconnected).
    grpc.StatusCode.FAILED_PRECONDITION,
}


def _status_details(err: grpc.RpcError) -> tuple[str, ...]:
    """The gateway's ``ErrorDetail`` messages from the google.rpc.Status trailer."""
    raw = b""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            raw = value if isinstance(value, bytes) else value.encode()
    out = []
    for field, payload in _fields(raw):
        if field != 3:  # google.rpc.Status.details (repeated Any)
            continue
        value = b""
        for f2, p2 in _fields(payload):
            if f2 == 2:  # Any.value
                value = p2
        try:
            d = gateway_pb2.ErrorDetail.FromString(value)
        except Exception:  # noqa: S112 (not an ErrorDetail: skip it)
            continue
        out.append(f"{d.msp_id}@{d.address}: {d.message}")
    return tuple(out)


def _fields(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """Length-delimited fields of a protobuf message (others skipped)."""
    i = 0
    n = len(buf)
    try:
        while i < n:
            key, i = _varint(buf, i)
            field, wire = key >> 3, key & 7
            if wire == 0:
                _, i = _varint(buf, i)
            elif wire == 2:
                length, i = _varint(buf, i)
                yield field, buf[i : i + length]
                i += length
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            else:
                return
    except IndexError:
        return


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def error_of(what: str, err: grpc.RpcError) -> GatewayError:
    """``err`` as a :class:`GatewayError` (for callers that hold a raw stream)."""
    return _error(what, err)


def _error(what: str, err: grpc.RpcError) -> GatewayError:
    code = err.code()
    details = _status_details(err)
    text = f"{what}: {code.name}: {err.details()}"
    if details:
        text += " [" + "; ".join(details) + "]"
    transient = code in _TRANSIENT
    if code is grpc.StatusCode.ABORTED:
        # Endorsement failures are ABORTED: transient when peers were unreachable or too
        # few answered, permanent when the chaincode itself refused.
        blob = text.lower()
        transient = "chaincode response 500" not in blob
    return GatewayError(text, code=code.name, details=details, transient=transient)


class GatewayClient:
    """One agency's connection to its own peer's gateway (1)."""

    def __init__(
        self,
        *,
        address: str,
        tls_ca_pem: bytes,
        identity: Identity,
        channel: str,
        chaincode: str,
        server_name: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            ("grpc.max_send_message_length", 100 * 1024 * 1024),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        creds = grpc.ssl_channel_credentials(root_certificates=tls_ca_pem)
        self._grpc = grpc.secure_channel(address, creds, options=options)
        self._stub = gateway_pb2_grpc.GatewayStub(self._grpc)
        self.identity = identity
        self.address = address
        self.channel = channel
        self.chaincode = chaincode
        self.timeout = timeout
        self._creator = identity.creator()

    # --- proposals --------------------------------------------------------------------

    def _proposal(
        self, args: list[bytes], *, chaincode: str | None = None, is_init: bool = False
    ) -> tuple[str, proposal_pb2.SignedProposal]:
        name = chaincode or self.chaincode
        nonce = os.urandom(24)
        tx_id = hashlib.sha256(nonce + self._creator).hexdigest()
        cc_id = chaincode_pb2.ChaincodeID(name=name)
        channel_header = common_pb2.ChannelHeader(
            type=common_pb2.ENDORSER_TRANSACTION,
            channel_id=self.channel,
            tx_id=tx_id,
            extension=proposal_pb2.ChaincodeHeaderExtension(chaincode_id=cc_id).SerializeToString(),
        )
        channel_header.timestamp.GetCurrentTime()
        header = common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=self._creator, nonce=nonce
            ).SerializeToString(),
        )
        spec = chaincode_pb2.ChaincodeInvocationSpec(
            chaincode_spec=chaincode_pb2.ChaincodeSpec(
                type=chaincode_pb2.ChaincodeSpec.UNDEFINED,
                chaincode_id=cc_id,
                input=chaincode_pb2.ChaincodeInput(args=args, is_init=is_init),
            )
        )
        payload = proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString())
        proposal = proposal_pb2.Proposal(
            header=header.SerializeToString(), payload=payload.SerializeToString()
        )
        raw = proposal.SerializeToString()
        return tx_id, proposal_pb2.SignedProposal(
            proposal_bytes=raw, signature=self.identity.sign(raw)
        )

    # --- calls ------------------------------------------------------------------------

    def evaluate(self, args: list[bytes], *, chaincode: str | None = None) -> bytes:
        """Run a query on this peer only; nothing is ordered or written."""
        tx_id, signed = self._proposal(args, chaincode=chaincode)
        req = gateway_pb2.EvaluateRequest(
            transaction_id=tx_id, channel_id=self.channel, proposed_transaction=signed
        )
        try:
            resp = self._stub.Evaluate(req, timeout=self.timeout)
        except grpc.RpcError as err:
            raise _error("evaluate", err) from None
        return bytes(resp.result.payload)

    def submit(self, args: list[bytes], *, is_init: bool = False) -> Committed:
        """Endorse (the gateway gathers a majority of orgs), order, and wait for commit."""
        tx_id, signed = self._proposal(args, is_init=is_init)
        try:
            endorsed = self._stub.Endorse(
                gateway_pb2.EndorseRequest(
                    transaction_id=tx_id, channel_id=self.channel, proposed_transaction=signed
                ),
                timeout=self.timeout,
            )
        except grpc.RpcError as err:
            raise _error("endorse", err) from None
        envelope = endorsed.prepared_transaction
        result, timestamp = _result_of(envelope)
        envelope.signature = self.identity.sign(envelope.payload)
        try:
            self._stub.Submit(
                gateway_pb2.SubmitRequest(
                    transaction_id=tx_id, channel_id=self.channel, prepared_transaction=envelope
                ),
                timeout=self.timeout,
            )
        except grpc.RpcError as err:
            raise _error("submit", err) from None
        block = self.commit_status(tx_id)
        return Committed(tx_id, block, result, timestamp)

    def commit_status(self, tx_id: str) -> int:
        """Wait until ``tx_id`` is committed; its block number, or an error if invalid."""
        req = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=self.channel, identity=self._creator
        ).SerializeToString()
        try:
            resp = self._stub.CommitStatus(
                gateway_pb2.SignedCommitStatusRequest(
                    request=req, signature=self.identity.sign(req)
                ),
                timeout=self.timeout,
            )
        except grpc.RpcError as err:
            raise _error("commit status", err) from None
        if resp.result != transaction_pb2.VALID:
            name = transaction_pb2.TxValidationCode.Name(resp.result)
            # MVCC conflicts and endorsement-policy failures at commit are worth a retry
            # (the contract makes a repeated anchoring a no-op); the rest are not.
            transient = name in {"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"}
            raise GatewayError(
                f"transaction {tx_id} committed as invalid: {name}",
                code=name,
                transient=transient,
            )
        return int(resp.block_number)

    def events(
        self, *, start_block: int = 0, timeout: float | None = None
    ) -> Iterator[ChaincodeEvent]:
        """Chaincode events from ``start_block`` on, as blocks commit; the stream stays open
        (until ``timeout`` seconds, when given, end it with a DEADLINE_EXCEEDED error)."""
        try:
            for resp in self.events_call(start_block, timeout=timeout):
                for ev in resp.events:
                    yield ChaincodeEvent(
                        int(resp.block_number), ev.tx_id, ev.event_name, bytes(ev.payload)
                    )
        except grpc.RpcError as err:
            raise _error("chaincode events", err) from None

    def events_call(self, start_block: int, *, timeout: float | None = None) -> Any:
        """The raw ``ChaincodeEvents`` stream from ``start_block``: an iterator of responses
        (one per block with events of this chaincode, events in transaction order) that
        another thread can ``cancel()``. Iterating raises ``grpc.RpcError``."""
        req = gateway_pb2.ChaincodeEventsRequest(
            channel_id=self.channel,
            chaincode_id=self.chaincode,
            identity=self._creator,
            start_position=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block)),
        ).SerializeToString()
        signed = gateway_pb2.SignedChaincodeEventsRequest(
            request=req, signature=self.identity.sign(req)
        )
        return self._stub.ChaincodeEvents(signed, timeout=timeout)

    def close(self) -> None:
        self._grpc.close()


def _result_of(envelope: common_pb2.Envelope) -> tuple[bytes, datetime]:
    """The chaincode's response payload and the tx timestamp from an endorsed envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    ts = datetime.fromtimestamp(ch.timestamp.seconds, UTC).replace(
        microsecond=ch.timestamp.nanos // 1000
    )
    tx = transaction_pb2.Transaction.FromString(payload.data)
    if not tx.actions:
        return b"", ts
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload
    )
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    return bytes(action.response.payload), ts
