"""1. Issuance end to end: validate, render, seal (PAdES B-T, in-process TSA), store, anchor.

Through the domain service (`IssuanceService.issue_batch` from `open_runtime`), with a worker
pool of one process per core and in-process, and through `certledger issue-batch` on a CSV.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certificates.types import CERTIFICATE_TYPES
from tests.distinct import distinct
from verify_api.runtime import open_runtime
from verify_api.settings import ServiceSettings

from .config import BenchConfig
from .deployment import Deployment, IssuedPool
from .machine import CpuWindow
from .procs import run_cli
from .stats import Results, Target

__all__ = ["TYPE_CODE", "bench_cli_issue_batch", "bench_issuance", "example_rows", "top_up"]

TYPE_CODE = "business-licence"
SECTION = "1. Issuance, end to end (validate+render+seal+store+anchor)"
ISSUANCE_TARGET = Target(">=", 50.0)

_serial = itertools.count(1)

Log = Callable[[str], None]


def example_rows(count: int) -> list[dict[str, str]]:
    """The type's example with the holder name varied, so no two documents are alike."""
    ctype = CERTIFICATE_TYPES[TYPE_CODE]
    rows = []
    for _ in range(count):
        row = distinct(ctype.code, ctype.example)
        row[ctype.holder_name_field] = f"北京示例科技第{next(_serial):06d}号有限公司"
        rows.append(row)
    return rows


def _agency() -> str:
    return CERTIFICATE_TYPES[TYPE_CODE].agency


def bench_issuance(
    dep: Deployment, cfg: BenchConfig, results: Results, pool: IssuedPool, log: Log
) -> None:
    modes: list[tuple[str, int]] = [("pool", cfg.pool_workers)]
    if cfg.pool_workers > 1:
        modes.append(("inproc", 1))
    for mode, workers in modes:
        what = f"{workers} worker processes" if workers > 1 else "in-process (workers=1)"
        rate = results.metric(
            f"issuance.{mode}.rate",
            SECTION,
            f"issue_batch, {what}, {cfg.issue_count} certs",
            "cert/s",
            target=ISSUANCE_TARGET if mode == "pool" else None,
        )
        cold = results.metric(
            f"issuance.{mode}.cold_start",
            SECTION,
            f"  cold start: open_runtime + first {2 * workers} certs, once",
            "s",
            note="includes starting the worker pool: fonts and keys are loaded per worker",
        )
        t0 = time.perf_counter()
        rt = open_runtime(
            dep.home, passphrase=dep.secret, workers=workers, config=ServiceSettings.from_env()
        )
        try:
            issuance = rt.issuance
            assert issuance is not None
            pool.add(issuance.issue_batch(_agency(), TYPE_CODE, example_rows(2 * workers)))
            cold.runs.append(time.perf_counter() - t0)
            for i in range(cfg.repeats):
                rows = example_rows(cfg.issue_count)
                w = CpuWindow()
                issued = issuance.issue_batch(_agency(), TYPE_CODE, rows)
                w.stop()
                seconds = w.wall
                rate.add(
                    len(issued) / seconds,
                    other_cores=w.other_cores,
                    cpu_ms=1000.0 * w.ours_cpu / len(issued),
                )
                pool.add(issued)
                log(
                    f"issue_batch {what}: run {i + 1}/{cfg.repeats}: {len(issued)} certs "
                    f"in {seconds:.2f} s = {len(issued) / seconds:.1f}/s"
                )
        finally:
            rt.close()
    results.ratio(
        "issuance.pool_speedup",
        SECTION,
        f"  speed-up of the {cfg.pool_workers}-process pool over in-process",
        "issuance.pool.rate",
        "issuance.inproc.rate",
        paired=False,
    )
    if pool.pending:
        results.note(f"{pool.pending} certificate(s) were left pending (not anchored) on issuing")


def top_up(dep: Deployment, pool: IssuedPool, wanted: int, log: Log) -> None:
    """Issue (untimed) until the pool holds `wanted` certificates for the HTTP benchmarks."""
    missing = wanted - len(pool)
    if missing <= 0:
        return
    log(f"issuing {missing} more certificates (untimed) for the HTTP benchmarks")
    rt = open_runtime(dep.home, passphrase=dep.secret, workers=1, config=ServiceSettings.from_env())
    try:
        assert rt.issuance is not None
        pool.add(rt.issuance.issue_batch(_agency(), TYPE_CODE, example_rows(missing)))
    finally:
        rt.close()


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    names = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def _cli_batch(dep: Deployment, work: Path, count: int, workers: int) -> tuple[CpuWindow, int, int]:
    csv_path = work / "batch.csv"
    out_dir = work / "cli-out"
    _write_csv(csv_path, example_rows(count))
    w = CpuWindow()
    try:
        res = run_cli(
            [
                "issue-batch",
                "--agency",
                _agency(),
                "--type",
                TYPE_CODE,
                "--csv",
                str(csv_path),
                "--out-dir",
                str(out_dir),
                "--workers",
                str(workers),
                "--json",
            ],
            dep.env,
            timeout=600,
        )
        w.stop()
        body: list[dict[str, Any]] = json.loads(res.stdout)
        pending = sum(1 for item in body if item.get("status") != "active")
        return w, len(body), pending
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        csv_path.unlink(missing_ok=True)


def bench_cli_issue_batch(
    dep: Deployment, cfg: BenchConfig, results: Results, work: Path, log: Log
) -> None:
    if cfg.cli_count <= 0:
        return
    workers = cfg.pool_workers
    rate = results.metric(
        "issuance.cli.rate",
        SECTION,
        f"certledger issue-batch --workers {workers}, {cfg.cli_count}-row CSV",
        "cert/s",
        note="whole command: interpreter start, imports, runtime, pool, PDFs written",
    )
    fixed = results.metric(
        "issuance.cli.fixed",
        SECTION,
        f"  certledger issue-batch --workers {workers}, 1-row CSV (fixed cost)",
        "s",
    )
    pending = 0
    for i in range(cfg.repeats):
        w, n, p = _cli_batch(dep, work, cfg.cli_count, workers)
        pending += p
        rate.add(n / w.wall, other_cores=w.other_cores, cpu_ms=1000.0 * w.ours_cpu / n)
        w1, _, p1 = _cli_batch(dep, work, 1, workers)
        pending += p1
        fixed.add(w1.wall, other_cores=w1.other_cores, cpu_ms=1000.0 * w1.ours_cpu)
        log(
            f"certledger issue-batch: run {i + 1}/{cfg.repeats}: {n} certs in {w.wall:.2f} s "
            f"= {n / w.wall:.1f}/s; 1 row in {w1.wall:.2f} s"
        )
    results.ratio(
        "issuance.cli_vs_pool",
        SECTION,
        "  CLI issue-batch rate / domain issue_batch (pool) rate",
        "issuance.cli.rate",
        "issuance.pool.rate",
        paired=False,
    )
    if pending:
        results.note(f"certledger issue-batch left {pending} certificate(s) pending")
