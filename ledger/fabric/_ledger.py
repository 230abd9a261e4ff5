"""``FabricLedger``: the :class:`~ledger.interface.Ledger` interface over a Fabric channel.

Each agency's service talks only to its own agency's peer, with its own MSP identity
(from the connection profile ``certledger network up`` writes). Reads are Evaluate calls on
that peer alone, so an agency verifying another agency's certificate trusts its own node.

Anchoring is one transaction per batch and is retried on transient failures (peer or
orderer unreachable, MVCC conflict, timeout while waiting for commit). Retrying cannot
anchor twice: the contract answers a repeated entry with ``already-anchored`` and the
original transaction, so a retry after a lost commit status just reports it.

Proofs: Fabric blocks carry no per-write Merkle tree. A receipt's proof therefore covers
the one write (``leaf``) with a single-leaf tree; block integrity comes from Fabric's hash
chain and the orderers' signatures, which :meth:`FabricLedger.verify_chain` re-checks link
by link from this agency's peer. The receipt also names the block's data hash, so that a
verifier can check on its own peer (:meth:`FabricLedger.check_receipt`) that the
transaction is in that block, valid, and that the block is the one the receipt names.

Events: :meth:`FabricLedger.event_stream` follows the contract's events from a checkpoint
(``ledger.fabric._events``), what a service uses to keep its local state in step.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import transaction_pb2

from chaincode import (
    AgencyRecord,
    Agreement,
    AgreementTerms,
    AnchorEntry,
    AuditAnchor,
    CertificateState,
    CertStatus,
    ContractError,
    Proposal,
    ProposalStatus,
    ProposalVersion,
    RegistryChange,
    cert_key,
    is_cert_id,
    parse_timestamp,
)
from ledger.errors import LedgerConfigError, LedgerCorrupt, LedgerRefused, LedgerUnavailable
from ledger.fabric._events import FabricEventStream
from ledger.fabric._gateway import Committed, GatewayClient, GatewayError, Identity
from ledger.interface import (
    AnchorReceipt,
    ChainReport,
    EventCheckpoint,
    HistoryEntry,
    InclusionProof,
    LedgerRecord,
    ReceiptCheck,
    TxReceipt,
)
from ledger.merkle import encode_write_leaf, leaf_hash

__all__ = ["FabricLedger", "LedgerEvent", "load_profile"]


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One contract event: ``anchored`` (``agency``, ``cert_ids``), ``revoked`` /
    ``suspended`` / ``reinstated`` (``cert_id``, ``status``), ``registry`` (``revision``)..."""

    block_number: int
    tx_id: str
    name: str
    payload: Any


T = TypeVar("T")
_BLOCK_CACHE = 100_000
_RECEIPT_CACHE = 65_536


def load_profile(path: str | Path) -> dict[str, Any]:
    try:
        raw: dict[str, Any] = json.loads(Path(path).read_text("utf-8"))
        if not isinstance(raw.get("agencies"), dict) or not raw["agencies"]:
            raise ValueError("no agencies")
        return raw
    except (OSError, ValueError) as exc:
        raise LedgerConfigError(f"Fabric connection profile {path} is unusable: {exc}") from None


class FabricLedger:
    """Ledger backend over the Fabric Gateway of this agency's own peer."""

    backend = "fabric"

    def __init__(
        self,
        clients: dict[str, GatewayClient],
        reader: str,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if reader not in clients:
            raise LedgerConfigError(f"no Fabric connection for agency {reader!r}")
        self._clients = clients
        self._reader = clients[reader]
        self._attempts = attempts
        self._backoff = backoff
        self._blocks: OrderedDict[str, int] = OrderedDict()
        self._data_hashes: OrderedDict[int, str] = OrderedDict()
        self._receipts: OrderedDict[tuple[str, int, str | None], ReceiptCheck] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_profile(
        cls, path: str | Path, agency: str | None = None, **kwargs: Any
    ) -> FabricLedger:
        """Connect as ``agency`` (its peer, its identity); ``None``: every agency in the
        profile (a one-machine demo), reading through the first one's peer."""
        profile = load_profile(path)
        codes = [agency] if agency else list(profile["agencies"])
        clients = {}
        for code in codes:
            entry = profile["agencies"].get(code)
            if entry is None:
                raise LedgerConfigError(f"agency {code!r} is not in the connection profile {path}")
            try:
                identity = Identity.load(
                    entry["msp_id"], entry["identity"]["cert"], entry["identity"]["key"]
                )
                tls_ca = Path(entry["peer"]["tls_ca"]).read_bytes()
            except (OSError, KeyError, ValueError) as exc:
                raise LedgerConfigError(
                    f"agency {code}: unusable identity or TLS CA: {exc}"
                ) from None
            clients[code] = GatewayClient(
                address=entry["peer"]["address"],
                tls_ca_pem=tls_ca,
                identity=identity,
                channel=profile.get("channel", "certledger"),
                chaincode=profile.get("chaincode", "certledger"),
                server_name=entry["peer"].get("server_name"),
            )
        return cls(clients, codes[0], **kwargs)

    # --- plumbing ---------------------------------------------------------------------

    def _client(self, agency: str) -> GatewayClient:
        client = self._clients.get(agency)
        if client is None:
            raise LedgerConfigError(
                f"this service holds no Fabric identity for agency {agency!r}; "
                f"it acts for {sorted(self._clients)}"
            )
        return client

    @staticmethod
    def _translate(exc: GatewayError) -> Exception:
        text = exc.chaincode_message
        if text is not None:
            refusal = ContractError.parse(text)
            if refusal is not None:
                return LedgerRefused(refusal.code.value, refusal.message)
        return LedgerUnavailable(f"Fabric: {exc}")

    def _evaluate(self, function: str, arg: object) -> bytes:
        try:
            return self._reader.evaluate([function.encode(), json.dumps(arg).encode()])
        except GatewayError as exc:
            raise self._translate(exc) from None

    def _submit(self, agency: str, function: str, arg: object, *, idempotent: bool) -> Committed:
        """Submit with retries. Non-idempotent calls are retried only while nothing can
        have reached the orderer (the endorsement step failed)."""
        client = self._client(agency)
        payload = [function.encode(), json.dumps(arg, ensure_ascii=False).encode()]
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                return client.submit(payload)
            except GatewayError as exc:
                err = self._translate(exc)
                retry = (
                    isinstance(err, LedgerUnavailable)
                    and exc.transient
                    and (idempotent or str(exc).startswith("endorse"))
                    and attempt < self._attempts
                )
                if not retry:
                    raise err from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise LedgerUnavailable("unreachable")  # pragma: no cover (loop always returns/raises)

    def block_of(self, tx_id: str) -> int:
        """The number of the block holding ``tx_id`` (asked of this peer once, then cached)."""
        with self._lock:
            if tx_id in self._blocks:
                self._blocks.move_to_end(tx_id)
                return self._blocks[tx_id]
        try:
            raw = self._reader.evaluate(
                [b"GetBlockByTxID", self._reader.channel.encode(), tx_id.encode()], chaincode="qscc"
            )
        except GatewayError as exc:
            raise LedgerUnavailable(f"Fabric: cannot find the block of {tx_id}: {exc}") from None
        number = int(common_pb2.Block.FromString(raw).header.number)
        self._remember(tx_id, number)
        return number

    def _block(self, number: int, client: GatewayClient | None = None) -> common_pb2.Block:
        """Block ``number`` as this peer (or ``client``'s) serves it (qscc
        ``GetBlockByNumber``)."""
        client = client or self._reader
        try:
            raw = client.evaluate(
                [b"GetBlockByNumber", client.channel.encode(), str(number).encode()],
                chaincode="qscc",
            )
        except GatewayError as exc:
            if exc.transient:
                raise LedgerUnavailable(f"Fabric: cannot read block {number}: {exc}") from None
            raise LedgerRefused("NO_SUCH_BLOCK", f"this peer has no block {number}") from None
        return _parsed(lambda: common_pb2.Block.FromString(raw))

    def data_hash(self, number: int, client: GatewayClient | None = None) -> str:
        """Block ``number``'s data hash (hex), as its header on this peer (or ``client``'s)
        says (cached: a committed block never changes)."""
        with self._lock:
            if number in self._data_hashes:
                return self._data_hashes[number]
        try:
            value: str = bytes(self._block(number, client).header.data_hash).hex()
        except LedgerRefused:
            # Asked right after the block committed there: missing means "not readable now".
            raise LedgerUnavailable(f"Fabric: block {number} cannot be read yet") from None
        with self._lock:
            self._data_hashes[number] = value
            while len(self._data_hashes) > _BLOCK_CACHE:
                self._data_hashes.popitem(last=False)
        return value

    def _remember(self, tx_id: str, block: int) -> None:
        with self._lock:
            self._blocks[tx_id] = block
            while len(self._blocks) > _BLOCK_CACHE:
                self._blocks.popitem(last=False)

    # --- writes -----------------------------------------------------------------------

    def anchor(self, agency: str, entries: Sequence[AnchorEntry]) -> list[AnchorReceipt]:
        batch = list(entries)
        client = self._client(agency)  # committed on its peer when submit returns
        committed = self._submit(
            agency, "anchor_batch", [e.to_dict() for e in batch], idempotent=True
        )
        self._remember(committed.tx_id, committed.block_number)
        try:
            outcomes = json.loads(committed.result)
        except ValueError:
            raise LedgerCorrupt("anchor_batch returned a result that is not JSON") from None
        receipts = []
        for entry, (cert_id, status, anchored_tx) in zip(batch, outcomes, strict=True):
            if status == "anchored":
                state = CertificateState.anchored(
                    agency, entry, committed.tx_id, committed.timestamp
                )
                block = committed.block_number
            else:
                current = self._state(cert_id)
                if current is None:
                    raise LedgerCorrupt(f"{cert_id}: reported already anchored but not found")
                state = current
                block = self.block_of(anchored_tx)
            receipts.append(
                _receipt(cert_id, status, anchored_tx, block, state, self.data_hash(block, client))
            )
        return receipts

    def _change(self, agency: str, function: str, cert_id: str, reason: str) -> TxReceipt:
        c = self._submit(agency, function, {"cert_id": cert_id, "reason": reason}, idempotent=False)
        self._remember(c.tx_id, c.block_number)
        return TxReceipt(c.tx_id, c.block_number, c.timestamp)

    def revoke(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "revoke", cert_id, reason)

    def suspend(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "suspend", cert_id, reason)

    def reinstate(self, agency: str, cert_id: str, reason: str) -> TxReceipt:
        return self._change(agency, "reinstate", cert_id, reason)

    # --- reads ------------------------------------------------------------------------

    def _state(self, cert_id: str) -> CertificateState | None:
        raw = self._evaluate("get_certificate", {"cert_id": cert_id})
        if raw in (b"", b"null"):
            return None
        return _parsed(lambda: CertificateState.from_bytes(raw))

    def get(self, cert_id: str) -> LedgerRecord | None:
        if not is_cert_id(cert_id):
            return None
        state = self._state(cert_id)
        if state is None:
            return None
        return LedgerRecord(
            cert_id=state.cert_id,
            agency=state.agency,
            cert_type=state.cert_type,
            digest=state.digest,
            holder_digest=state.holder_digest,
            valid_from=state.valid_from,
            valid_until=state.valid_until,
            status=state.status,
            reason=state.reason,
            anchored_tx=state.anchored_tx,
            anchored_block=self.block_of(state.anchored_tx),
            anchored_at=state.anchored_at,
            updated_at=state.updated_at,
        )

    def history(self, cert_id: str) -> list[HistoryEntry]:
        if not is_cert_id(cert_id):
            return []
        rows = _parsed(lambda: json.loads(self._evaluate("get_history", {"cert_id": cert_id})))
        return [
            HistoryEntry(
                tx_id=tx,
                block_number=self.block_of(tx),
                timestamp=parse_timestamp("timestamp", ts),
                version=int(version),
                status=CertStatus(status),
                reason=reason,
            )
            for tx, ts, version, status, reason in rows
        ]

    def registry(self) -> list[AgencyRecord]:
        raw = self._evaluate("get_registry", {})
        return _parsed(lambda: [AgencyRecord.from_dict(a) for a in json.loads(raw)])

    # --- sharing agreements and audit heads (chaincode.sharing) ---------------------------

    def create_agreement(self, agency: str, terms: AgreementTerms) -> Agreement:
        c = self._submit(agency, "create_agreement", {"terms": terms.to_dict()}, idempotent=False)
        return _parsed(lambda: Agreement.from_dict(json.loads(c.result)))

    def revoke_agreement(self, agency: str, agreement_id: str, reason: str) -> Agreement:
        c = self._submit(
            agency,
            "revoke_agreement",
            {"agreement_id": agreement_id, "reason": reason},
            idempotent=False,
        )
        return _parsed(lambda: Agreement.from_dict(json.loads(c.result)))

    def agreements(self) -> list[Agreement]:
        raw = self._evaluate("list_agreements", {})
        return _parsed(lambda: [Agreement.from_dict(a) for a in json.loads(raw)])

    def anchor_audit_head(self, agency: str, log_id: str, seq: int, head: str) -> AuditAnchor:
        # Idempotent in the contract: re-anchoring the same head returns the anchored one.
        c = self._submit(
            agency,
            "anchor_audit_head",
            {"log_id": log_id, "seq": seq, "head": head},
            idempotent=True,
        )
        return _parsed(lambda: AuditAnchor.from_bytes(c.result))

    def audit_head(self, agency: str, log_id: str) -> AuditAnchor | None:
        raw = self._evaluate("get_audit_head", {"agency": agency, "log_id": log_id})
        if raw in (b"", b"null"):
            return None
        return _parsed(lambda: AuditAnchor.from_bytes(raw))

    # --- registry governance (chaincode.governance) ---------------------------------------

    def propose_registry_change(
        self, agency: str, change: RegistryChange, valid_days: int
    ) -> Proposal:
        """Propose with ``agency``'s own MSP identity (the only one its peer will credit)."""
        c = self._submit(
            agency,
            "propose_registry_change",
            {"change": change.to_dict(), "valid_days": valid_days},
            idempotent=False,
        )
        return _parsed(lambda: Proposal.from_dict(c.result))

    def approve_registry_change(self, agency: str, proposal_id: str) -> Proposal:
        # Not retried past endorsement: a repeat after a lost commit status is refused as
        # ALREADY_APPROVED, which tells the caller the first one counted.
        c = self._submit(
            agency, "approve_registry_change", {"proposal_id": proposal_id}, idempotent=False
        )
        return _parsed(lambda: Proposal.from_dict(c.result))

    def registry_proposals(self) -> list[Proposal]:
        raw = self._evaluate("list_proposals", {})
        return _parsed(lambda: [Proposal.from_dict(p) for p in json.loads(raw)])

    def proposal_history(self, proposal_id: str) -> list[ProposalVersion]:
        raw = self._evaluate("proposal_history", {"proposal_id": proposal_id})
        return _parsed(
            lambda: [
                ProposalVersion(
                    tx, parse_timestamp("timestamp", ts), int(v), ProposalStatus(st), tuple(ap)
                )
                for tx, ts, v, st, ap in json.loads(raw)
            ]
        )

    def height(self) -> int:
        """How many blocks this peer has committed (qscc ``GetChainInfo``)."""
        try:
            raw = self._reader.evaluate(
                [b"GetChainInfo", self._reader.channel.encode()], chaincode="qscc"
            )
        except GatewayError as exc:
            raise LedgerUnavailable(f"Fabric: {exc}") from None
        return int(_parsed(lambda: ledger_pb2.BlockchainInfo.FromString(raw)).height)

    def verify_chain(self) -> ChainReport:
        """Re-check this peer's chain: every block's data hash and its link to the previous
        header. (Orderer signatures were checked by the peer as it received each block.)"""
        try:
            info = ledger_pb2.BlockchainInfo.FromString(
                self._reader.evaluate(
                    [b"GetChainInfo", self._reader.channel.encode()], chaincode="qscc"
                )
            )
        except GatewayError as exc:
            raise LedgerUnavailable(f"Fabric: {exc}") from None
        previous: bytes | None = None
        for number in range(int(info.height)):
            try:
                raw = self._reader.evaluate(
                    [b"GetBlockByNumber", self._reader.channel.encode(), str(number).encode()],
                    chaincode="qscc",
                )
            except GatewayError as exc:
                raise LedgerUnavailable(f"Fabric: {exc}") from None
            block = common_pb2.Block.FromString(raw)
            h = block.header
            if h.number != number:
                return ChainReport(False, number, number, f"block {number} says it is {h.number}")
            if hashlib.sha256(b"".join(block.data.data)).digest() != h.data_hash:
                return ChainReport(False, number, number, "data hash does not match its header")
            if previous is not None and h.previous_hash != previous:
                return ChainReport(False, number, number, "previous-hash link is broken")
            previous = header_hash(h.number, h.previous_hash, h.data_hash)
        return ChainReport(True, int(info.height), None, "every block links to the one before")

    def event_stream(self, after: EventCheckpoint | None) -> FabricEventStream:
        """The contract's events strictly after ``after``, from this agency's peer
        (:class:`ledger.interface.EventSource`)."""
        return FabricEventStream(self._reader, after)

    def check_receipt(self, tx_id: str, block_number: int, data_hash: str | None) -> ReceiptCheck:
        """Is ``tx_id`` a valid transaction of block ``block_number`` on this agency's own
        peer, and is that block's data hash the receipt's?

        The data hash is recomputed from the block's transactions (SHA-256 of the envelopes
        concatenated in order, Fabric's definition) and must equal the header's, so neither
        the header nor the transaction list can have been swapped on the way; the block's
        place in the chain is what :meth:`verify_chain` checks. (:class:`ReceiptChecker`)
        """
        key = (tx_id, block_number, data_hash)
        with self._lock:
            known = self._receipts.get(key)
        if known is not None:
            return known
        answer = self._check_receipt(tx_id, block_number, data_hash)
        if answer.ok:  # a committed block never changes: a confirmation holds for good
            with self._lock:
                self._receipts[key] = answer
                while len(self._receipts) > _RECEIPT_CACHE:
                    self._receipts.popitem(last=False)
        return answer

    def _check_receipt(self, tx_id: str, block_number: int, data_hash: str | None) -> ReceiptCheck:
        try:
            block = self._block(block_number)
        except LedgerRefused:
            return ReceiptCheck(False, f"this peer has no block {block_number}", "")
        header = block.header
        computed = hashlib.sha256(b"".join(block.data.data)).digest()
        if header.number != block_number or computed != header.data_hash:
            return ReceiptCheck(False, "the block's contents do not match its header", "")
        if data_hash is not None and data_hash.lower() != computed.hex():
            return ReceiptCheck(False, "the receipt's data hash is not the block's", computed.hex())
        index = _tx_index(block, tx_id)
        if index is None:
            return ReceiptCheck(
                False, f"the transaction is not in block {block_number}", computed.hex()
            )
        flags = _tx_filter(block)
        if index >= len(flags) or flags[index] != transaction_pb2.VALID:
            return ReceiptCheck(
                False, "the transaction is in the block but marked invalid", computed.hex()
            )
        return ReceiptCheck(True, "the transaction is valid in that block", computed.hex())

    def events(
        self, *, start_block: int = 0, timeout: float | None = None
    ) -> Iterator[LedgerEvent]:
        """The contract's events from ``start_block`` on, read from this agency's peer:
        what a service follows to keep its local store in step with the ledger (for
        example, certificates another instance anchored, or revocations)."""
        try:
            for ev in self._reader.events(start_block=start_block, timeout=timeout):
                self._remember(ev.tx_id, ev.block_number)
                body = _parsed(lambda ev=ev: json.loads(ev.payload))  # type: ignore[misc]
                yield LedgerEvent(ev.block_number, ev.tx_id, ev.name, body)
        except GatewayError as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> FabricLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FabricLedger(agencies={sorted(self._clients)}, peer={self._reader.address!r})"


def _parsed(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (ContractError, ValueError, TypeError, KeyError) as exc:
        raise LedgerCorrupt(f"the peer returned data that does not parse: {exc}") from None


def _tx_index(block: common_pb2.Block, tx_id: str) -> int | None:
    """Position of ``tx_id`` among the block's envelopes (``None``: not there)."""
    for i, raw in enumerate(block.data.data):
        try:
            payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(raw).payload)
            header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        except Exception:  # noqa: S112 (an envelope that does not parse is not ours)
            continue
        if header.tx_id == tx_id:
            return i
    return None


def _tx_filter(block: common_pb2.Block) -> bytes:
    """The committing peer's validation code per transaction (TRANSACTIONS_FILTER)."""
    index = common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER
    metadata = block.metadata.metadata
    return bytes(metadata[index]) if len(metadata) > index else b""


def _receipt(
    cert_id: str,
    status: Any,
    anchored_tx: str,
    block: int,
    state: CertificateState,
    data_hash: str,
) -> AnchorReceipt:
    leaf = encode_write_leaf(state.anchored_tx, cert_key(cert_id), state.to_bytes())
    digest = leaf_hash(leaf).hex()
    proof = InclusionProof(
        leaf_hash=digest,
        leaf_index=0,
        tree_size=1,
        siblings=(),
        merkle_root=digest,
        block_number=block,
        block_hash="",
        data_hash=data_hash,
    )
    return AnchorReceipt(
        cert_id=cert_id,
        tx_id=anchored_tx,
        block_number=block,
        anchored_at=state.anchored_at,
        status=status,
        proof=proof,
        leaf=leaf,
    )


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def header_hash(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """Fabric's block header hash: SHA-256 of DER SEQUENCE{INTEGER, OCTET STRING, OCTET STRING}."""
    num = number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=False)
    body = _der(0x02, num) + _der(0x04, previous_hash) + _der(0x04, data_hash)
    return hashlib.sha256(_der(0x30, body)).digest()
