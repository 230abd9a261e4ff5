"""`certledger network status|down|up` on the session's network (runs last: it restarts it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import network

from .conftest import FabricNet, eventually, probe_entry, wait_until_anchoring_works


def _status(net: FabricNet) -> tuple[int, list[dict[str, Any]]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "verify_api.cli.network",
            "status",
            "--dir",
            str(net.root),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout)


def _all_healthy_same_height(net: FabricNet) -> list[dict[str, Any]]:
    code, nodes = _status(net)
    assert code == 0, nodes
    heights = {n["height"] for n in nodes if n["kind"] in ("peer", "orderer")}
    assert len(heights) == 1 and None not in heights, nodes
    return nodes


def test_status_shows_every_node_healthy_with_its_height(fabric_net: FabricNet) -> None:
    nodes = eventually(lambda: _all_healthy_same_height(fabric_net), timeout=60)
    kinds = sorted(n["kind"] for n in nodes)
    assert kinds == ["chaincode"] * 3 + ["orderer"] * 3 + ["peer"] * 3
    assert all(n["address"].startswith("127.0.0.1:") for n in nodes)


def test_down_then_up_keeps_the_ledger(fabric_net: FabricNet) -> None:
    with fabric_net.ledger("market-regulation") as ledger:
        [receipt] = ledger.anchor("market-regulation", [probe_entry()])
    stopped = network.down(fabric_net.root)
    assert len(stopped) == 9
    code, nodes = _status(fabric_net)
    assert code == 1 and not any(n["healthy"] for n in nodes)
    started = time.monotonic()
    network.up(fabric_net.root)
    warm = time.monotonic() - started
    assert warm < 60, f"warm start took {warm:.1f} s"
    wait_until_anchoring_works(fabric_net)
    with fabric_net.ledger("transport") as ledger:
        record = ledger.get(receipt.cert_id)
    assert record is not None and record.anchored_tx == receipt.tx_id
