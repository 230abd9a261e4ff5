"""The contract's rules on a real Fabric network, each agency with its real MSP identity."""

from __future__ import annotations

import concurrent.futures
import json
import time

import pytest

from ledger import AgencyRecord, AnchorEntry, CertStatus, LedgerRefused, verify_inclusion
from ledger.fabric import GatewayError

from .conftest import FabricNet


def entry(cert_id: str, cert_type: str = "business-licence", digest: str = "1" * 64) -> AnchorEntry:
    return AnchorEntry(cert_id, digest, "2" * 64, cert_type, "2026-01-01", "2031-12-31")


def test_registry_on_the_ledger_is_the_deployments(
    fabric_net: FabricNet, registry: list[AgencyRecord]
) -> None:
    with fabric_net.ledger("transport") as ledger:
        assert ledger.registry() == registry


def test_anchor_get_history_and_idempotent_retry(fabric_net: FabricNet) -> None:
    cid = f"BL-FAB-{time.time_ns()}"
    with fabric_net.ledger("market-regulation") as ledger:
        [receipt] = ledger.anchor("market-regulation", [entry(cid)])
        assert receipt.status == "anchored"
        assert verify_inclusion(receipt.proof, receipt.leaf)
        [again] = ledger.anchor("market-regulation", [entry(cid)])
        assert again.status == "already-anchored"
        assert (again.tx_id, again.block_number) == (receipt.tx_id, receipt.block_number)
        record = ledger.get(cid)
        assert record is not None
        assert record.agency == "market-regulation"
        assert record.anchored_block == receipt.block_number
        assert [h.version for h in ledger.history(cid)] == [1]
    # Another agency reads the same record through its own peer.
    with fabric_net.ledger("transport") as other:
        seen = other.get(cid)
        assert seen is not None and seen.digest == "1" * 64


def test_ids_are_write_once(fabric_net: FabricNet) -> None:
    cid = f"BL-FAB-{time.time_ns()}"
    with fabric_net.ledger("market-regulation") as ledger:
        ledger.anchor("market-regulation", [entry(cid)])
        with pytest.raises(LedgerRefused) as exc:
            ledger.anchor("market-regulation", [entry(cid, digest="3" * 64)])
        assert exc.value.code == "DIGEST_CONFLICT"


def test_agency_cannot_anchor_a_type_it_is_not_registered_for(fabric_net: FabricNet) -> None:
    with fabric_net.ledger("transport") as ledger, pytest.raises(LedgerRefused) as exc:
        ledger.anchor("transport", [entry(f"BL-FAB-{time.time_ns()}")])
    assert exc.value.code == "TYPE_NOT_ALLOWED"


def test_only_the_issuer_revokes_or_suspends(fabric_net: FabricNet) -> None:
    cid = f"BL-FAB-{time.time_ns()}"
    with fabric_net.ledger() as ledger:
        ledger.anchor("market-regulation", [entry(cid)])
        for action in (ledger.revoke, ledger.suspend):
            with pytest.raises(LedgerRefused) as exc:
                action("transport", cid, "not mine")
            assert exc.value.code == "NOT_ISSUER"
        ledger.suspend("market-regulation", cid, "under review")
        ledger.reinstate("market-regulation", cid, "review closed")
        ledger.revoke("market-regulation", cid, "licence withdrawn")
        with pytest.raises(LedgerRefused) as exc:
            ledger.reinstate("market-regulation", cid, "again")
        assert exc.value.code == "ALREADY_REVOKED"
        history = ledger.history(cid)
    assert [h.status for h in history] == [
        CertStatus.ACTIVE,
        CertStatus.SUSPENDED,
        CertStatus.ACTIVE,
        CertStatus.REVOKED,
    ]
    assert [h.version for h in history] == [1, 2, 3, 4]
    assert history[-1].reason == "licence withdrawn"
    assert history[0].block_number < history[-1].block_number


def test_a_client_cannot_claim_another_agencys_identity(fabric_net: FabricNet) -> None:
    """The chaincode sees the MSP the peer authenticated: a transport client that signs
    with its own key but names MarketRegulationMSP is rejected by the peer."""
    from ledger.fabric import Identity

    with fabric_net.ledger("transport") as ledger:
        client = ledger._clients["transport"]
        forged = Identity("MarketRegulationMSP", client.identity.cert_pem, client.identity.key)
        client.identity = forged
        client._creator = forged.creator()
        with pytest.raises(GatewayError) as exc:
            client.submit(
                [
                    b"anchor_batch",
                    json.dumps([entry(f"BL-FAB-{time.time_ns()}").to_dict()]).encode(),
                ]
            )
    assert exc.value.chaincode_message is None  # refused before the contract ran


def test_registry_cannot_be_rewritten_by_a_client(fabric_net: FabricNet) -> None:
    with fabric_net.ledger("transport") as ledger:
        client = ledger._clients["transport"]
        body = json.dumps({"agencies": []}).encode()
        with pytest.raises(GatewayError):
            client.submit([b"init_registry", body], is_init=True)
        with pytest.raises(GatewayError) as exc:
            client.submit([b"init_registry", body])
        assert "unknown function" in (exc.value.chaincode_message or "")


def test_concurrent_submits_all_commit(fabric_net: FabricNet) -> None:
    """fabric-chaincode-python 2.5.4 aborts concurrent transactions (interleaved stream
    writes); with writes serialised, 24 concurrent batches all commit, well inside the
    peer's 30 s execute timeout that the defect runs into."""
    with fabric_net.ledger("market-regulation", attempts=1) as ledger:
        stamp = time.time_ns()

        def one(i: int) -> str:
            batch = [entry(f"BL-CON-{stamp}-{i}-{j}") for j in range(5)]
            return ledger.anchor("market-regulation", batch)[0].status

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(one, range(24)))
        elapsed = time.monotonic() - started
    assert statuses == ["anchored"] * 24
    assert elapsed < 20, f"24 concurrent submits took {elapsed:.1f} s"


def test_chaincode_events_name_the_anchored_certificates(fabric_net: FabricNet) -> None:
    cid = f"BL-EVT-{time.time_ns()}"
    with fabric_net.ledger("human-resources") as reader, fabric_net.ledger() as writer:
        [receipt] = writer.anchor("market-regulation", [entry(cid)])
        for event in reader.events(start_block=receipt.block_number, timeout=30):
            if event.name == "anchored" and cid in event.payload["cert_ids"]:
                assert event.block_number == receipt.block_number
                assert event.tx_id == receipt.tx_id
                assert event.payload["agency"] == "market-regulation"
                break
        else:
            pytest.fail("the event stream ended without the anchoring event")


def test_each_write_is_endorsed_by_a_majority_of_agencies(fabric_net: FabricNet) -> None:
    """Read the committed transaction back (qscc) and count its endorsing organisations."""
    from fabric_protos.common import common_pb2
    from fabric_protos.msp import identities_pb2
    from fabric_protos.peer import transaction_pb2

    with fabric_net.ledger("market-regulation") as ledger:
        [receipt] = ledger.anchor("market-regulation", [entry(f"BL-END-{time.time_ns()}")])
        reader = ledger._clients["market-regulation"]
        raw = reader.evaluate(
            [b"GetTransactionByID", reader.channel.encode(), receipt.tx_id.encode()],
            chaincode="qscc",
        )
    processed = transaction_pb2.ProcessedTransaction.FromString(raw)
    assert processed.validationCode == transaction_pb2.VALID
    payload = common_pb2.Payload.FromString(processed.transactionEnvelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    msps = {
        identities_pb2.SerializedIdentity.FromString(e.endorser).mspid
        for e in action.action.endorsements
    }
    agencies = {"MarketRegulationMSP", "HumanResourcesMSP", "TransportMSP"}
    assert msps <= agencies
    assert len(msps) >= 2, msps  # two of three: the MAJORITY Endorsement policy
