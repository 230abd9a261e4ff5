"""3. Upload verification over HTTP: POST /api/v1/verify (multipart field `file`) with distinct
issued PDFs, from a thread pool in which every thread keeps its own httpx client.

Concurrency levels are interleaved round by round (c=4, c=8, c=4, c=8, ...)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from .config import BenchConfig
from .machine import CpuWindow
from .stats import Results, Target, percentile

__all__ = ["bench_upload"]

SECTION = "3. Upload verification"
UPLOAD_TARGET = Target(">=", 25.0)

Log = Callable[[str], None]


class _ClientPool:
    """One httpx.Client per worker thread; all closed at the end."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        c: httpx.Client | None = getattr(self._local, "client", None)
        if c is None:
            c = httpx.Client(base_url=self._base_url, timeout=120.0)
            self._local.client = c
            with self._lock:
                self._clients.append(c)
        return c

    def close(self) -> None:
        with self._lock:
            for c in self._clients:
                c.close()
            self._clients.clear()


def _post(clients: _ClientPool, pdf: bytes) -> tuple[float, str]:
    """Returns (seconds, outcome): the verdict for a 200, else the status code or error type."""
    start = time.perf_counter()
    try:
        r = clients.client().post(
            "/api/v1/verify", files={"file": ("certificate.pdf", pdf, "application/pdf")}
        )
        if r.status_code == 200:
            outcome = str(r.json().get("verdict", "?"))
        else:
            outcome = f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return time.perf_counter() - start, outcome


def bench_upload(
    base_url: str,
    server_pid: int,
    cfg: BenchConfig,
    results: Results,
    pdfs: list[bytes],
    log: Log,
) -> None:
    """`cpu_ms` of the rate figures is the server's CPU (all its processes) per request."""
    pdfs = pdfs[: cfg.upload_count]
    outcomes: Counter[str] = Counter()
    pools: dict[int, tuple[ThreadPoolExecutor, _ClientPool]] = {}
    try:
        for c in cfg.concurrencies:
            executor = ThreadPoolExecutor(max_workers=c, thread_name_prefix=f"upload-c{c}")
            clients = _ClientPool(base_url)
            pools[c] = (executor, clients)
            # Warm-up: every thread opens its connection; the server's workers load their code.
            list(executor.map(lambda pdf, cl=clients: _post(cl, pdf), pdfs[: 2 * c]))
            results.metric(
                f"upload.c{c}.rate",
                SECTION,
                f"POST /api/v1/verify, concurrency {c}, {len(pdfs)} distinct PDFs",
                "req/s",
                target=UPLOAD_TARGET,
            )
            results.metric(f"upload.c{c}.p50", SECTION, f"  p50 latency, concurrency {c}", "ms")
            results.metric(f"upload.c{c}.p99", SECTION, f"  p99 latency, concurrency {c}", "ms")
        for i in range(cfg.repeats):
            for c, (executor, clients) in pools.items():
                w = CpuWindow(server_pid)
                done = list(executor.map(lambda pdf, cl=clients: _post(cl, pdf), pdfs))
                w.stop()
                wall = w.wall
                latencies = [1000.0 * seconds for seconds, _ in done]
                outcomes.update(outcome for _, outcome in done)
                results.add(
                    f"upload.c{c}.rate",
                    len(done) / wall,
                    other_cores=w.other_cores,
                    cpu_ms=1000.0 * w.cpu_seconds(server_pid) / len(done),
                )
                results.add(f"upload.c{c}.p50", percentile(latencies, 50))
                results.add(f"upload.c{c}.p99", percentile(latencies, 99))
                log(
                    f"upload verify c={c}: run {i + 1}/{cfg.repeats}: "
                    f"{len(done) / wall:.1f} req/s, p50 {percentile(latencies, 50):.0f} ms, "
                    f"p99 {percentile(latencies, 99):.0f} ms"
                )
    finally:
        for executor, clients in pools.values():
            executor.shutdown(wait=True, cancel_futures=True)
            clients.close()
    results.facts["upload_outcomes"] = dict(outcomes)
    bad = {k: v for k, v in outcomes.items() if k != "VALID"}
    if bad:
        results.note(f"upload verification: answers other than VALID: {bad}")
    results.ratio(
        "upload.best_vs_inproc",
        SECTION,
        f"  HTTP rate at c={max(cfg.concurrencies)} / in-process 1-process rate",
        f"upload.c{max(cfg.concurrencies)}.rate",
        "verify.inproc.rate",
        paired=False,
    )
