"""Fabric benchmark (not a timed test): ``python -m tests.bench.fabric`` / ``make bench-fabric``.

Brings up a fresh network in a temporary directory (cold start), restarts it (warm start),
then measures, from one client on the same machine:

- anchoring throughput with batching (many certificates per transaction, a few submitters)
  against one certificate per transaction (sequential and concurrent);
- submit latency (one-certificate transactions, sequential) and Evaluate latency, p50/p99;
- resident memory of every node afterwards;
- how long a revocation made at one agency takes to reach another agency's instance: the
  moment that instance's event follower (``certificates.status.sync``, on its own peer)
  drops the certificate from its caches, after which its status answer and QR page read
  the revoked record.

Prints a table and writes JSON next to it (``--out``). Every process is stopped by PID.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import network
from certificates.agencies import AGENCIES
from certificates.status.sync import LedgerSync
from certificates.store.database import Store
from certificates.store.ledger_sync import save_checkpoint
from certificates.types import CERTIFICATE_TYPES
from chaincode import AgencyRecord, AnchorEntry
from ledger.fabric import FabricLedger
from ledger.interface import EventCheckpoint

_RUN = f"{os.getpid()}-{time.time_ns()}"


def _registry() -> list[AgencyRecord]:
    return [
        AgencyRecord(
            code=a.code,
            msp_id=a.msp_id,
            name_zh=a.name_zh,
            name_en=a.name_en,
            allowed_types=tuple(
                sorted(t.code for t in CERTIFICATE_TYPES.values() if t.agency == a.code)
            ),
            seal_fingerprints=(f"{i + 1:064x}",),
        )
        for i, a in enumerate(AGENCIES.values())
    ]


def _entries(prefix: str, n: int) -> list[AnchorEntry]:
    return [
        AnchorEntry(
            f"BENCH-{_RUN}-{prefix}-{i}",
            f"{i:064x}",
            "ab" * 32,
            "business-licence",
            "2026-01-01",
            None,
        )
        for i in range(n)
    ]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _throughput(ledger: FabricLedger, *, batch: int, batches: int, workers: int) -> float:
    work = [_entries(f"b{batch}w{workers}-{k}", batch) for k in range(batches)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda es: ledger.anchor("market-regulation", es), work))
    return batch * batches / (time.monotonic() - started)


def _first_anchor(profile: Path, tag: str) -> None:
    with FabricLedger.from_profile(
        profile, "market-regulation", attempts=300, backoff=0.1
    ) as ledger:
        ledger.anchor("market-regulation", _entries(f"first-{tag}", 1))


def _revocation_elsewhere(profile: Path, store_path: Path, n: int) -> dict[str, float]:
    """Revoke ``n`` certificates at market-regulation; seconds until transport's follower
    has dropped each one (median and max, from the revocation's submission)."""
    seen: dict[str, float] = {}
    cond = threading.Condition()

    def dropped(cert_id: str) -> None:
        with cond:
            seen.setdefault(cert_id, time.monotonic())
            cond.notify_all()

    issuer = FabricLedger.from_profile(profile, "market-regulation", attempts=20)
    other = FabricLedger.from_profile(profile, "transport", attempts=20)
    store = Store.open(store_path, create=True)
    sync = LedgerSync(store=store, ledger=other, source=other, name="bench", listeners=[dropped])
    try:
        ids = [r.cert_id for r in issuer.anchor("market-regulation", _entries("revoke", n))]
        # Follow from the current end of the chain: the figure is about new events only.
        height = other.height()
        save_checkpoint(store, "bench", EventCheckpoint(height, -1))
        sync.start()
        total, after_commit = [], []
        for cid in ids:
            started = time.monotonic()
            issuer.revoke("market-regulation", cid, "bench")
            committed = time.monotonic()
            with cond:
                assert cond.wait_for(lambda cid=cid: cid in seen, 30), cid  # type: ignore[misc]
            total.append(seen[cid] - started)
            after_commit.append(seen[cid] - committed)
    finally:
        sync.stop()
        store.close()
        other.close()
        issuer.close()
    return {
        "median_s": round(statistics.median(total), 3),
        "max_s": round(max(total), 3),
        "median_after_commit_s": round(statistics.median(after_commit), 3),
    }


def run(root: Path, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    t = time.monotonic()
    network.ensure_fabric()
    out["fabric_binaries_s"] = round(time.monotonic() - t, 2)

    # Start times run until the first certificate is anchored (a majority must be able to
    # endorse, which waits for gossip), not merely until the processes answer.
    t = time.monotonic()
    profile = network.up(root, _registry())
    _first_anchor(profile, "cold")
    out["cold_start_s"] = round(time.monotonic() - t, 2)
    network.down(root)
    t = time.monotonic()
    network.up(root)
    _first_anchor(profile, "warm")
    out["warm_start_s"] = round(time.monotonic() - t, 2)

    ledger = FabricLedger.from_profile(profile, "market-regulation", attempts=20, backoff=0.5)
    try:
        scale = 1 if quick else 4
        out["batched"] = {}
        for batch, batches, workers in (
            (1000, 4 * scale, 2),
            (2000, 2 * scale, 2),
            (5000, scale, 2),
        ):
            rate = _throughput(ledger, batch=batch, batches=batches, workers=workers)
            out["batched"][f"{batch}x{batches} on {workers} submitters"] = round(rate)
        # What naming the block's data hash in each receipt costs: one read of the whole
        # block from the own peer after the commit (here a 5,000-certificate block).
        s = time.monotonic()
        receipts = ledger.anchor("market-regulation", _entries("datahash", 5000))
        anchor_s = time.monotonic() - s
        with FabricLedger.from_profile(profile, "market-regulation") as fresh:  # empty cache
            s = time.monotonic()
            fresh.data_hash(receipts[0].block_number)
            out["receipt_data_hash_5000_ms"] = {
                "read_block": round((time.monotonic() - s) * 1000, 1),
                "whole_anchor_call": round(anchor_s * 1000, 1),
            }
        n = 50 if quick else 200
        lat = []
        for e in _entries("seq", n):
            s = time.monotonic()
            ledger.anchor("market-regulation", [e])
            lat.append((time.monotonic() - s) * 1000)
        out["one_per_tx_sequential_per_s"] = round(n / (sum(lat) / 1000), 1)
        out["submit_ms"] = {"p50": round(_pct(lat, 50), 1), "p99": round(_pct(lat, 99), 1)}
        out["one_per_tx_32_concurrent_per_s"] = round(
            _throughput(ledger, batch=1, batches=4 * n // 2, workers=32), 1
        )
        ids = [e.cert_id for e in _entries("seq", min(n, 100))]
        ev = []
        for cid in ids * 3:
            s = time.monotonic()
            assert ledger.get(cid) is not None
            ev.append((time.monotonic() - s) * 1000)
        out["evaluate_ms"] = {"p50": round(_pct(ev, 50), 2), "p99": round(_pct(ev, 99), 2)}
        out["evaluate_mean_ms"] = round(statistics.mean(ev), 2)
    finally:
        ledger.close()
    out["revocation_to_other_agency"] = _revocation_elsewhere(
        profile, root.parent / "follower.db", 5 if quick else 20
    )
    layout = network.Layout(root)
    topo = layout.load()
    nodes = [
        *topo.orderers,
        *(o.peer for o in topo.agencies),
        *(f"cc.{o.code}" for o in topo.agencies),
    ]
    out["rss_mb"] = {n: _rss_mb(network._procs.pid_of(layout, n)) for n in nodes}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer transactions")
    parser.add_argument("--out", type=Path, default=Path("build/fabric-bench.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certledger-fabric-bench-") as tmp:
        root = Path(tmp) / "net"
        try:
            result = run(root, args.quick)
        except network.NetworkError as exc:
            sys.exit(f"benchmark failed: {exc}")
        finally:
            network.down(root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
