"""Behaviour under faults, on the real network: peers and the Raft leader go down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from ledger.fabric import FabricLedger
from tests.e2e.conftest import Deployment, Server, example

from .conftest import FabricNet, eventually, probe_entry, wait_until_anchoring_works


def _issue(server: Server, catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=server.deployment.auth("market-regulation"),
            json={"type": "business-licence", "data": example(catalogue, "business-licence")},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        body["pdf"] = c.get(
            body["pdf_url"], headers=server.deployment.auth("market-regulation")
        ).content
    return body


def _status(server: Server, cid: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/v1/certificates/{cid}", timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_one_peer_down_anchoring_still_succeeds(fabric_net: FabricNet) -> None:
    fabric_net.stop(fabric_net.peer("transport"))
    try:
        with fabric_net.ledger("market-regulation") as ledger:
            [receipt] = ledger.anchor("market-regulation", [probe_entry()])
        assert receipt.status == "anchored"
    finally:
        fabric_net.start(fabric_net.peer("transport"))
        wait_until_anchoring_works(fabric_net)


def test_two_peers_down_stay_pending_then_anchor_exactly_once(
    fabric_net: FabricNet, fabric_server: Server, catalogue: list[dict[str, Any]]
) -> None:
    down = [fabric_net.peer("human-resources"), fabric_net.peer("transport")]
    for node in down:
        fabric_net.stop(node)
    try:
        issued = _issue(fabric_server, catalogue)
        cid = issued["id"]
        # No majority can endorse: the certificate is kept, sealed, and pending.
        assert issued["status"] == "pending", issued
        assert _status(fabric_server, cid)["status"] == "pending"
    finally:
        for node in down:
            fabric_net.start(node)
    # The server re-sends pending certificates every few seconds; once the peers are back
    # (and gossip has reconnected) the certificate is anchored.
    eventually(
        lambda: _assert_active(fabric_server, cid), timeout=120, what="anchoring after recovery"
    )
    # Anchored once, not twice: one version, on every peer (the restarted ones catch up).
    for agency in ("market-regulation", "human-resources", "transport"):
        with fabric_net.ledger(agency) as ledger:
            eventually(
                lambda ledger=ledger: _assert_anchored_once(ledger, cid),
                timeout=60,
                what=f"{agency}'s peer catching up",
            )


def _assert_anchored_once(ledger: FabricLedger, cid: str) -> None:
    history = ledger.history(cid)
    record = ledger.get(cid)
    assert len(history) == 1, history
    assert record is not None and record.anchored_tx == history[0].tx_id


def _assert_active(server: Server, cid: str) -> None:
    assert _status(server, cid)["status"] == "active"


def test_raft_leader_killed_service_continues(fabric_net: FabricNet) -> None:
    leader = fabric_net.raft_leader()
    fabric_net.stop(leader, hard=True)
    try:
        started = time.monotonic()
        with fabric_net.ledger("market-regulation", attempts=1) as ledger:
            receipt = eventually(
                lambda: ledger.anchor("market-regulation", [probe_entry()])[0],
                timeout=60,
                what="anchoring without the old Raft leader",
            )
        assert receipt.status == "anchored"
        assert time.monotonic() - started < 60
        assert fabric_net.raft_leader() != leader
    finally:
        fabric_net.start(leader)


def test_agency_b_verifies_agency_a_certificate_through_its_own_peer_only(
    fabric_net: FabricNet,
    fabric_server: Server,
    fabric_deployment: Deployment,
    catalogue: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    issued = _issue(fabric_server, catalogue)
    assert issued["status"] == "active", issued
    pdf = tmp_path / "from-market-regulation.pdf"
    pdf.write_bytes(issued["pdf"])
    # Agency A's peer is down: agency B's verifier must not need it.
    fabric_net.stop(fabric_net.peer("market-regulation"))
    try:
        proc = fabric_deployment.cli(
            "verify", str(pdf), "--json", extra_env=fabric_net.env("transport")
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        import json

        report = json.loads(proc.stdout)
        assert report["verdict"] == "VALID"
        assert report["ledger"]["backend"] == "fabric"
        assert report["certificate"]["issuer"] == "market-regulation"
    finally:
        fabric_net.start(fabric_net.peer("market-regulation"))
        wait_until_anchoring_works(fabric_net)
