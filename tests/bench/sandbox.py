"""Upload verification through the sandbox against a baseline revision, side by side in one run:
`python -m tests.bench.sandbox --baseline-tree DIR` (DIR: a checkout of the baseline, e.g. made
with `git worktree add`). Not a test: nothing is asserted.

One deployment, made by this tree's `certledger init`; the same issued PDFs are POSTed to
`/api/v1/verify` by a pool of threads, alternately to this tree's server and to the baseline's
(the same console script with the baseline checkout first on PYTHONPATH, so the baseline's own
packages serve), round after round, so both see the same machine. The figure is the ratio of
the medians; the target is at most 20 % slower (ratio >= 0.8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .deployment import IssuedPool, create_deployment
from .issuance import top_up
from .machine import CpuWindow
from .procs import free_port, start_server
from .stats import percentile
from .upload import _ClientPool, _post


def _round(
    env: dict[str, str], port: int, workers: int, pdfs: list[bytes], concurrency: int, log: Path
) -> tuple[float, float, float, float, Counter[str]]:
    """(req/s, p50 ms, p99 ms, server CPU ms per request, outcomes) for one server start."""
    server = start_server(env, port, workers, log)
    executor = ThreadPoolExecutor(max_workers=concurrency)
    clients = _ClientPool(server.url)
    try:
        # Warm-up: connections opened, code loaded, the sandbox's workers started.
        list(executor.map(lambda pdf: _post(clients, pdf), pdfs[: 4 * concurrency]))
        w = CpuWindow(server.proc.pid)
        done = list(executor.map(lambda pdf: _post(clients, pdf), pdfs))
        w.stop()
        latencies = [1000.0 * s for s, _ in done]
        return (
            len(done) / w.wall,
            percentile(latencies, 50),
            percentile(latencies, 99),
            1000.0 * w.cpu_seconds(server.proc.pid) / len(done),
            Counter(o for _, o in done),
        )
    finally:
        executor.shutdown(wait=True)
        clients.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.sandbox", description=__doc__)
    p.add_argument("--baseline-tree", type=Path, required=True)
    p.add_argument("--requests", type=int, default=240)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--server-workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="certledger-bench-sandbox-") as tmp:
        work = Path(tmp)
        port = free_port()
        dep = create_deployment(work, port)
        pool = IssuedPool(keep_pdfs=args.requests)
        top_up(dep, pool, args.requests, lambda m: print(m, file=sys.stderr))
        sides = {
            "this tree": dict(dep.env),
            "baseline": dict(dep.env, PYTHONPATH=str(args.baseline_tree.resolve())),
        }
        figures: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in sides}
        outcomes: dict[str, Counter[str]] = {k: Counter() for k in sides}
        for i in range(args.repeats):
            for name, env in sides.items():
                rate, p50, p99, cpu, seen = _round(
                    env, port, args.server_workers, pool.pdfs, args.concurrency, work / "srv.log"
                )
                figures[name].append((rate, p50, p99, cpu))
                outcomes[name].update(seen)
                print(
                    f"run {i + 1}/{args.repeats} {name}: {rate:.1f} req/s, p50 {p50:.0f} ms, "
                    f"p99 {p99:.0f} ms, server CPU {cpu:.1f} ms/request",
                    file=sys.stderr,
                )
                time.sleep(1.0)

    def med(name: str, i: int) -> float:
        return statistics.median(f[i] for f in figures[name])

    print(
        f"\nPOST /api/v1/verify, {args.requests} distinct PDFs, concurrency {args.concurrency}, "
        f"`serve --workers {args.server_workers}`, medians of {args.repeats}"
    )
    print(f"{'':24s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU ms/req':>11s}")
    for name in figures:
        print(
            f"{name:24s} {med(name, 0):8.1f} {med(name, 1):8.0f} {med(name, 2):8.0f} "
            f"{med(name, 3):11.1f}   answers {dict(outcomes[name])}"
        )
    ours, base = (med(n, 0) for n in figures)
    ours_cpu, base_cpu = (med(n, 3) for n in figures)
    # CPU per request is the steadier figure on a shared machine; throughput moves with load.
    print(f"ratio this tree / baseline: {ours / base:.2f} req/s, {ours_cpu / base_cpu:.2f} CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
