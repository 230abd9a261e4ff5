"""The whole run, in an order that keeps measurements from disturbing each other:

  deployment (`certledger init`) -> in-process issuance (pool, then in-process) -> single-process
  components and in-process verification -> `certledger issue-batch` -> server start ->
  upload verification -> wrk (status, /healthz, QR page) -> server stop -> table, JSON.

CPU-bound in-process measurements run while no server is up. Everything started is stopped by
PID in `finally` blocks, and the temporary directory is removed unless `--keep` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from .components import bench_components, bench_inprocess_verify
from .config import BenchConfig, full_config, quick_config
from .deployment import (
    SEAL_LEVEL_ENV,
    Deployment,
    IssuedPool,
    clean_environment,
    create_deployment,
)
from .issuance import bench_cli_issue_batch, bench_issuance, top_up
from .procs import BenchProcessError, ServerProcess, free_port, start_server
from .report import format_table, write_json
from .stats import Results
from .upload import bench_upload
from .wrk import bench_wrk, wrk_version

__all__ = ["main"]

SECTIONS = ("issuance", "components", "cli", "upload", "wrk")


class _Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def log(self, message: str) -> None:
        print(f"[bench {self.elapsed():6.1f}s] {message}", file=sys.stderr, flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="certledger benchmarks: issuance, signing baseline, upload verification, "
        "status lookups. Prints a table of medians; targets are printed, never asserted.",
    )
    p.add_argument("--quick", action="store_true", help="short smoke run (small counts, 3 s wrk)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--repeats", type=int, help="runs per measurement (default 3)")
    p.add_argument(
        "--server-workers", type=int, default=2, help="`certledger serve --workers` (default 2)"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SECTIONS,
        help="leave a group of measurements out (repeatable)",
    )
    p.add_argument(
        "--seal-level",
        default="B-T",
        choices=("B-T", "B-LT", "B-LTA"),
        help="PAdES level of the issued certificates (default B-T)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary deployment directory")
    return p.parse_args(argv)


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("certledger", "pyhanko", "cryptography", "reportlab", "fastapi", "uvicorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def _git_state() -> dict[str, Any] | None:
    """Which code was measured: HEAD and how many files differ from it (others may be editing)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return {"head": head.stdout.strip(), "changed_files": len(status.stdout.splitlines())}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _start_server_with_retry(
    dep: Deployment, workers: int, work: Path, clock: _Clock
) -> ServerProcess:
    port = dep.port
    for attempt in range(3):
        try:
            clock.log(f"starting certledger serve --workers {workers} on 127.0.0.1:{port}")
            return start_server(dep.env, port, workers, work / f"server-{port}.log")
        except BenchProcessError as exc:
            if "already in use" not in str(exc) or attempt == 2:
                raise
            port = free_port()  # someone took the port since init; any port will do
    raise AssertionError("unreachable")


def _pick(pool: IssuedPool, count: int) -> tuple[list[str], list[str]]:
    """`count` random issued certificates (fixed seed): their ids and their QR paths."""
    safe = set(pool.safe_qr_paths())
    indices = [i for i in range(len(pool)) if pool.qr_paths[i] in safe]
    chosen = random.Random(20260101).sample(indices, min(count, len(indices)))
    return [pool.ids[i] for i in chosen], [pool.qr_paths[i] for i in chosen]


def _run(
    cfg: BenchConfig,
    args: argparse.Namespace,
    results: Results,
    work: Path,
    clock: _Clock,
    failures: list[str],
) -> None:
    skip = set(args.skip)

    def section(name: str, fn: Callable[[], None]) -> None:
        clock.log(f"== {name}")
        try:
            fn()
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
            results.note(f"{name} failed: {type(exc).__name__}: {str(exc)[:300]}")

    clock.log(f"creating a deployment with `certledger init` in {work}")
    dep = create_deployment(work, free_port())
    pool = IssuedPool(keep_pdfs=cfg.upload_count)
    log = clock.log
    if "issuance" not in skip:
        section("issuance (domain service)", lambda: bench_issuance(dep, cfg, results, pool, log))
    top_up(dep, pool, max(cfg.status_ids, cfg.upload_count), log)
    if "components" not in skip:
        section("components (single process)", lambda: bench_components(dep, cfg, results, log))
    if "upload" not in skip:
        section(
            "verification (in-process)",
            lambda: bench_inprocess_verify(dep, cfg, results, pool, log),
        )
    if "cli" not in skip:
        section("issuance (CLI)", lambda: bench_cli_issue_batch(dep, cfg, results, work, log))
    if {"upload", "wrk"} <= skip:
        return
    server = _start_server_with_retry(dep, args.server_workers, work, clock)
    try:
        results.facts["server_workers"] = args.server_workers
        results.facts["server_pids"] = [server.proc.pid, *server.worker_pids()]
        if "upload" not in skip:
            section(
                "upload verification (HTTP)",
                lambda: bench_upload(server.url, server.proc.pid, cfg, results, pool.pdfs, log),
            )
        if "wrk" not in skip:
            ids, qr_paths = _pick(pool, cfg.status_ids)
            section(
                "read paths (wrk)",
                lambda: bench_wrk(
                    server.url, server.proc.pid, cfg, results, work, ids, qr_paths, log
                ),
            )
        if server.proc.poll() is not None:
            results.note(f"the server exited early:\n{server.log_tail()}")
    finally:
        clock.log("stopping the server")
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    cfg = (quick_config() if args.quick else full_config()).with_repeats(args.repeats)
    clock = _Clock()
    # Settings from the caller's environment (another home, a base URL or ledger override, the
    # crash-test hook) must not leak into this process or into the processes it starts.
    for key in set(os.environ) - set(clean_environment(os.environ)):
        del os.environ[key]
    os.environ[SEAL_LEVEL_ENV] = args.seal_level
    results = Results()
    results.facts.update(
        {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "versions": _versions(),
            "wrk": wrk_version(),
            "git": _git_state(),
            "seal_level": args.seal_level,
            "loadavg_start": _loadavg(),
        }
    )
    failures: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="certledger-bench-"))
    interrupted = False
    try:
        _run(cfg, args, results, work, clock, failures)
    except KeyboardInterrupt:
        interrupted = True
        results.note("interrupted")
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        results.note(f"the run stopped early: {type(exc).__name__}: {str(exc)[:500]}")
    finally:
        if args.keep:
            clock.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results.facts["loadavg_end"] = _loadavg()
    results.facts["total_seconds"] = round(clock.elapsed(), 1)
    _print(cfg, results)
    if args.json:
        extra: dict[str, Any] = {"config": cfg.__dict__, "failures": failures}
        write_json(args.json, results, extra)
        clock.log(f"wrote {args.json}")
    if interrupted:
        return 130
    return 1 if failures else 0


def _print(cfg: BenchConfig, results: Results) -> None:
    f = results.facts
    mode = "quick smoke run" if cfg.quick else "full run"
    print()
    print(
        f"certledger benchmarks ({mode}, {cfg.repeats} run(s) per figure, "
        f"issuing at PAdES {f.get('seal_level')}) - "
        f"{f.get('cpu_count')} CPU(s), Python {f.get('python')}, "
        f"pyHanko {f.get('versions', {}).get('pyhanko')}, {f.get('wrk') or 'no wrk'}"
    )
    git = f.get("git") or {}
    print(
        f"code: git {git.get('head', '?')} with {git.get('changed_files', '?')} changed file(s); "
        f"load average at start {f.get('loadavg_start')}, at end {f.get('loadavg_end')}; "
        f"total {f.get('total_seconds')} s"
    )
    if "document_bytes" in f:
        print(f"document sizes (bytes): {f['document_bytes']}")
    print(format_table(results))
