"""Benchmark (not a timed test): issuance at PAdES B-T, B-LT and B-LTA in one run, and offline
verification of B-LTA certificates.

    python -m tests.bench.ltv [--count N] [--workers W] [--json FILE]

Issuance goes through the real pipeline (validate, render, seal, store, anchor on the
embedded ledger) with ``open_runtime(workers=W)``; the seal level is switched with
CERTLEDGER_SEAL_LEVEL. Verification is ``signing.check_seal`` with embedded data only (no
ledger, no network), in one process and in W processes.

The library baseline runs in the same run (``tests.bench.ltv_baseline``): plain pyHanko B-LTA
signing in one process against the project's TSA and OCSP responder over HTTP, served by a real
``certledger serve`` on a free port.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from certificates.home import Home
from certificates.types import CERTIFICATE_TYPES
from signing import Secret, check_seal, load_trust_roots
from tests.bench.deployment import SEAL_LEVEL_ENV
from tests.distinct import distinct
from verify_api.bootstrap import init_home
from verify_api.runtime import open_runtime
from verify_api.settings import ServiceSettings

from .ltv_baseline import naive_blta_rate, unsigned_documents
from .procs import free_port, start_server

PASSPHRASE = "bench-passphrase-not-for-production"
TYPE_CODE = "business-licence"
LEVELS = ("B-T", "B-LT", "B-LTA")
_serial = itertools.count(1)


def _rows(count: int) -> list[dict[str, Any]]:
    ctype = CERTIFICATE_TYPES[TYPE_CODE]
    rows = []
    for _ in range(count):
        row = distinct(ctype.code, ctype.example)
        row[ctype.holder_name_field] = f"北京长期验证科技第{next(_serial):06d}号有限公司"
        rows.append(row)
    return rows


def _issue(home: Home, level: str, count: int, workers: int) -> tuple[float, float, list[bytes]]:
    """Wall-clock certificates/s, and (in-process only, else NaN) CPU ms per certificate."""
    os.environ[SEAL_LEVEL_ENV] = level
    rt = open_runtime(
        home,
        passphrase=Secret(PASSPHRASE),
        workers=workers,
        config=ServiceSettings.from_env(),  # the level just set, as an edge reads it
    )
    try:
        issuance = rt.issuance
        assert issuance is not None
        agency = CERTIFICATE_TYPES[TYPE_CODE].agency
        issuance.issue_batch(agency, TYPE_CODE, _rows(4 * workers))  # warm the workers
        t0, c0 = time.perf_counter(), time.process_time()
        issued = issuance.issue_batch(agency, TYPE_CODE, _rows(count))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert all(i.anchored for i in issued), "some certificates were left pending"
        cpu_ms = 1000 * cpu / len(issued) if workers == 1 else float("nan")
        return len(issued) / seconds, cpu_ms, [i.pdf for i in issued]
    finally:
        rt.close()
        os.environ.pop(SEAL_LEVEL_ENV, None)


_ROOTS: Any = None


def _init_worker(roots_path: str) -> None:
    global _ROOTS
    _ROOTS = load_trust_roots(Path(roots_path))


def _verify(pdf: bytes) -> bool:
    report = check_seal(pdf, _ROOTS)
    return report.long_term_passed


def _verify_rate(roots_path: Path, pdfs: list[bytes], workers: int) -> float:
    if workers <= 1:
        _init_worker(str(roots_path))
        t0, c0 = time.perf_counter(), time.process_time()
        ok = [_verify(p) for p in pdfs]
        seconds = time.perf_counter() - t0
        cpu_ms = 1000 * (time.process_time() - c0) / len(pdfs)
        print(f"B-LTA offline verification: {cpu_ms:.1f} CPU ms/certificate", flush=True)
    else:
        with ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=(str(roots_path),)
        ) as pool:
            list(pool.map(_verify, pdfs[: 2 * workers]))  # warm up
            t0 = time.perf_counter()
            ok = list(pool.map(_verify, pdfs, chunksize=8))
            seconds = time.perf_counter() - t0
    assert all(ok), "a B-LTA certificate did not verify offline"
    return len(pdfs) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="certificates per level")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--baseline-count", type=int, default=40, help="documents for the pyHanko baseline"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"workers": args.workers, "count": args.count, "issuance": {}}
    with tempfile.TemporaryDirectory(prefix="certledger-bench-ltv-") as tmp:
        home = Home(Path(tmp) / "home")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        # The certificates' OCSP and CRL URLs point at this server (the baseline fetches them).
        init_home(home, Secret(PASSPHRASE), base_url=base_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTLEDGER_")}
        env.update(CERTLEDGER_HOME=str(home.root), CERTLEDGER_PASSPHRASE=PASSPHRASE)
        server = start_server(env, port, 1, Path(tmp) / "server.log")
        try:
            docs = unsigned_documents(args.baseline_count + 1)
            agency = CERTIFICATE_TYPES[TYPE_CODE].agency
            base_rates, base_cpu = [], []
            for repeat in range(args.repeats):
                rate, cpu_ms = naive_blta_rate(home, base_url, PASSPHRASE, agency, docs)
                base_rates.append(rate)
                base_cpu.append(cpu_ms)
                print(
                    f"run {repeat + 1}: pyHanko B-LTA over HTTP {rate:6.1f} documents/s "
                    f"(1 process); {cpu_ms:5.1f} CPU ms/document in this process",
                    flush=True,
                )
        finally:
            server.stop()
        results["baseline_pyhanko_blta_http"] = {
            "median": statistics.median(base_rates),
            "runs": base_rates,
            "cpu_ms_per_doc": statistics.median(base_cpu),
        }
        blta: list[bytes] = []
        # Levels interleaved per repeat, so drifting machine load hits all of them alike.
        rates: dict[str, list[float]] = {level: [] for level in LEVELS}
        cpu: dict[str, list[float]] = {level: [] for level in LEVELS}
        for repeat in range(args.repeats):
            for level in LEVELS:
                rate, _, pdfs = _issue(home, level, args.count, args.workers)
                rates[level].append(rate)
                # In-process, the CPU time per certificate (render, seal, store, anchor) is
                # what the machine's other load cannot inflate.
                _, cpu_ms, _ = _issue(home, level, max(20, args.count // 4), 1)
                cpu[level].append(cpu_ms)
                print(
                    f"run {repeat + 1}: {level:6s} {rate:7.1f} certificates/s wall "
                    f"({args.workers} workers); {cpu_ms:5.1f} CPU ms/certificate in-process",
                    flush=True,
                )
                if level == "B-LTA":
                    blta = pdfs
        for level in LEVELS:
            results["issuance"][level] = {
                "median": statistics.median(rates[level]),
                "runs": rates[level],
                "cpu_ms_per_cert": statistics.median(cpu[level]),
            }
        roots = home.trust_roots
        one = _verify_rate(roots, blta, 1)
        many = _verify_rate(roots, blta, args.workers)
        results["verify_blta_offline"] = {"1 process": one, f"{args.workers} processes": many}
    print()
    print(
        f"| level | issuance, certificates/s wall ({args.workers} workers, median of "
        f"{args.repeats}) | CPU ms/certificate in-process "
        f"| projected on {args.workers} free cores |"
    )
    print("|---|---|---|---|")
    for level in LEVELS:
        r = results["issuance"][level]
        projected = args.workers * 1000 / r["cpu_ms_per_cert"]
        print(f"| {level} | {r['median']:.1f} | {r['cpu_ms_per_cert']:.1f} | {projected:.0f} |")
    base = results["baseline_pyhanko_blta_http"]
    blta_median = results["issuance"]["B-LTA"]["median"]
    print(
        f"| pyHanko B-LTA over HTTP (library baseline, 1 process, signing only) "
        f"| {base['median']:.1f} | {base['cpu_ms_per_doc']:.1f} (client side only) | - |"
    )
    print()
    print(f"B-LTA issuance / pyHanko baseline: {blta_median / base['median']:.1f}x")
    print(
        f"B-LTA offline verification: {one:.1f}/s in 1 process, {many:.1f}/s in "
        f"{args.workers} processes"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), "utf-8")


if __name__ == "__main__":
    main()
