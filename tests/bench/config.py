"""How much work each measurement does, for a full run and for a `--quick` smoke run."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

__all__ = ["BenchConfig", "full_config", "quick_config"]


@dataclass(frozen=True)
class BenchConfig:
    repeats: int
    issue_count: int  # certificates per timed issue_batch run (pool and in-process)
    cli_count: int  # CSV rows per timed `certledger issue-batch` run; 0 skips it
    component_count: int  # documents per timed render / seal / bare-sign run
    upload_count: int  # distinct PDFs posted per timed upload-verification run
    concurrencies: tuple[int, ...]
    status_ids: int  # distinct certificate ids the wrk scripts spread over
    wrk_threads: int
    wrk_connections: int
    wrk_seconds: int
    wrk_warmup_seconds: int
    pool_workers: int
    quick: bool = False

    def with_repeats(self, repeats: int | None) -> BenchConfig:
        return self if repeats is None else replace(self, repeats=max(1, repeats))


def _cores() -> int:
    return os.cpu_count() or 1


def full_config() -> BenchConfig:
    return BenchConfig(
        repeats=3,
        issue_count=300,
        cli_count=150,
        component_count=60,
        upload_count=200,
        concurrencies=(4, 8),
        status_ids=1000,
        wrk_threads=2,
        wrk_connections=64,
        wrk_seconds=10,
        wrk_warmup_seconds=2,
        pool_workers=_cores(),
    )


def quick_config() -> BenchConfig:
    return BenchConfig(
        repeats=3,
        issue_count=12,
        cli_count=8,
        component_count=5,
        upload_count=12,
        concurrencies=(4, 8),
        status_ids=60,
        wrk_threads=2,
        wrk_connections=64,
        wrk_seconds=3,
        wrk_warmup_seconds=1,
        pool_workers=_cores(),
        quick=True,
    )
