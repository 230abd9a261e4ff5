"""Benchmark: several API hosts of one agency on one PostgreSQL, against one host on SQLite,
side by side in one run (issue 14's figures).

    python -m tests.bench.scaleout [--runs 3] [--seconds 8] [--certificates 120]

1. Issuance over HTTP (``POST /api/v1/certificates``, 8 clients): two `certledger serve` on
   one PostgreSQL, the clients alternating between them, against one on SQLite.
2. Cross-agency lookups (``/details``: authorisation, agreement, audited) with the audit log
   on PostgreSQL against SQLite (``tests.bench.lookup`` on either store).
3. The QR page and the status endpoint with two hosts on PostgreSQL (one wrk each, at once)
   against one host on SQLite (one wrk with the same connections in all).

Each figure is the median of ``--runs`` runs, the configurations alternating within each run.
Not a timed test: it prints rates and their ratios. Rate limits are off (they would measure the
limiter). Loopback only; every process it starts it stops by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from certificates.types import CERTIFICATE_TYPES
from tests.bench import lookup
from tests.distinct import distinct
from tests.postgres import PostgresServer

PASSPHRASE = lookup.PASSPHRASE
CLIENTS = 8


def _env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTLEDGER_")}
    env.update(
        CERTLEDGER_HOME=str(home),
        CERTLEDGER_PASSPHRASE=PASSPHRASE,
        CERTLEDGER_RATE_CLIENT="0",
        CERTLEDGER_RATE_PUBLIC="0",
    )
    if database_url is not None:
        env["CERTLEDGER_DATABASE_URL"] = database_url
    return env


@contextmanager
def _servers(env: dict[str, str], ports: list[int], log_dir: Path) -> Iterator[list[str]]:
    procs = []
    try:
        for port in ports:
            log = (log_dir / f"server-{port}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "verify_api", "serve", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        deadline = time.monotonic() + 120
        for base, proc in zip(bases, procs, strict=True):
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a server did not start; see {log_dir}")
                time.sleep(0.2)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _deployment(root: Path, database_url: str | None) -> tuple[dict[str, str], str]:
    """A new deployment (its store on ``database_url`` if given): environment, issuer token."""
    env = _env(root / "home", database_url)
    out = lookup._cli(env, "init", "--json", "--base-url", "http://127.0.0.1:9")
    return env, json.loads(out)["tokens"]["market-regulation"]


def _issue(bases: list[str], token: str, count: int) -> tuple[float, list[dict[str, Any]]]:
    """``count`` business licences from CLIENTS threads, round robin over ``bases``:
    certificates/s and the answers."""
    example = CERTIFICATE_TYPES["business-licence"].example
    bodies = [
        {"type": "business-licence", "data": distinct("business-licence", example)}
        for _ in range(count)
    ]
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)

    def client(k: int) -> None:
        with httpx.Client(base_url=bases[k % len(bases)], timeout=300) as c:
            start.wait()
            for body in bodies[k::CLIENTS]:
                r = c.post(
                    "/api/v1/certificates",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
                with lock:
                    answers.append(r.json())

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if len(answers) != count:
        raise SystemExit(f"issued {len(answers)} of {count}")
    return count / elapsed, answers


def _wrk_many(
    bases: list[str], paths: list[str], seconds: int, work: Path, connections: int
) -> float:
    """wrk against every base at once, ``connections`` shared out: requests/s in all."""
    results: list[dict[str, float]] = []
    share = max(1, connections // len(bases))

    def one(base: str) -> None:
        results.append(lookup._wrk(base, paths, "", seconds, work, share))

    threads = [threading.Thread(target=one, args=(b,)) for b in bases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(r["non_2xx"] for r in results):
        raise SystemExit(f"non-2xx answers under load: {results}")
    return sum(r["rps"] for r in results)


def run(runs: int, seconds: int, certificates: int, connections: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make install`")
    work = Path(tempfile.mkdtemp(prefix="certledger-bench-scaleout-"))
    pg = PostgresServer.start()
    figures: dict[str, list[float]] = {
        k: []
        for k in (
            "issue_sqlite_1",
            "issue_pg_2",
            "details_sqlite",
            "details_pg",
            "status_sqlite_1",
            "status_pg_2",
            "qr_sqlite_1",
            "qr_pg_2",
        )
    }
    try:
        for n in range(runs):
            for kind in ("sqlite", "pg"):
                root = work / f"{kind}-{n}"
                root.mkdir()
                url = pg.create_database(f"bench_{n}") if kind == "pg" else None
                env, token = _deployment(root, url)
                ports = [lookup._free_port() for _ in range(1 if kind == "sqlite" else 2)]
                with _servers(env, ports, root) as bases:
                    _issue(bases, token, 8)  # warm-up: fonts, pools, connections
                    rate, answers = _issue(bases, token, certificates)
                    figures[f"issue_{kind}_{len(bases)}"].append(rate)
                    time.sleep(3)  # the background anchoring pass takes the rest
                    status = [f"/api/v1/certificates/{a['id']}" for a in answers]
                    qr = [a["verify_url"].removeprefix("http://127.0.0.1:9") for a in answers]
                    for paths in (status, qr):  # warm every path on every host
                        for base in bases:
                            with httpx.Client(base_url=base, timeout=60) as c:
                                for p in paths:
                                    c.get(p).raise_for_status()
                    figures[f"status_{kind}_{len(bases)}"].append(
                        _wrk_many(bases, status, seconds, root, connections)
                    )
                    figures[f"qr_{kind}_{len(bases)}"].append(
                        _wrk_many(bases, qr, seconds, root, connections)
                    )
                # A deployment of its own (init refuses a database that holds one).
                own = pg.create_database(f"bench_lookup_{n}") if kind == "pg" else None
                details = lookup.run(seconds, 1, 20, (16,), database_url=own)
                figures[f"details_{kind}"].append(details["levels"][0]["details"]["rps"])
    finally:
        pg.remove()
        shutil.rmtree(work, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in figures.items()}
    return {
        "runs": runs,
        "seconds": seconds,
        "certificates": certificates,
        "connections": connections,
        "all": figures,
        "median": medians,
        "ratio": {
            "issue_pg_2_over_sqlite_1": medians["issue_pg_2"] / medians["issue_sqlite_1"],
            "details_pg_over_sqlite": medians["details_pg"] / medians["details_sqlite"],
            "status_pg_2_over_sqlite_1": medians["status_pg_2"] / medians["status_sqlite_1"],
            "qr_pg_2_over_sqlite_1": medians["qr_pg_2"] / medians["qr_sqlite_1"],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--certificates", type=int, default=120)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.runs, args.seconds, args.certificates, args.connections)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m, r = result["median"], result["ratio"]
    print(f"scale-out benchmark: medians of {args.runs} runs, {os.cpu_count()} cores")
    print(f"  issuance, 1 host on SQLite       {m['issue_sqlite_1']:8.1f} certificates/s")
    print(
        f"  issuance, 2 hosts on PostgreSQL  {m['issue_pg_2']:8.1f} certificates/s"
        f"   ({r['issue_pg_2_over_sqlite_1']:.2f} x)"
    )
    print(f"  details lookups, SQLite audit    {m['details_sqlite']:8.0f} req/s")
    print(
        f"  details lookups, PostgreSQL      {m['details_pg']:8.0f} req/s"
        f"   ({r['details_pg_over_sqlite']:.2f} x)"
    )
    print(f"  status, 1 host on SQLite         {m['status_sqlite_1']:8.0f} req/s")
    print(
        f"  status, 2 hosts on PostgreSQL    {m['status_pg_2']:8.0f} req/s"
        f"   ({r['status_pg_2_over_sqlite_1']:.2f} x)"
    )
    print(f"  QR page, 1 host on SQLite        {m['qr_sqlite_1']:8.0f} req/s")
    print(
        f"  QR page, 2 hosts on PostgreSQL   {m['qr_pg_2']:8.0f} req/s"
        f"   ({r['qr_pg_2_over_sqlite_1']:.2f} x)"
    )


if __name__ == "__main__":
    main()
