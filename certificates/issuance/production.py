"""Render and seal: the CPU-heavy middle of issuance, runnable in-process or in a worker pool.

Rendering and sealing are pure functions of their inputs (a job in, sealed bytes out), so they
parallelise across processes cleanly; the store and the ledger stay in the parent, which keeps
id allocation, persistence and anchoring single-sourced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

__all__ = [
    "LocalProducer",
    "PoolProducer",
    "ProduceJob",
    "Produced",
    "Producer",
    "RendererLike",
    "SealerLike",
]


@dataclass(frozen=True)
class ProduceJob:
    cert_id: str
    cert_type: str
    agency: str
    values: Mapping[str, Any]  # validated, normalised field values
    verify_url: str
    issuer_name_zh: str
    issuer_name_en: str
    issued_at: date

    def __repr__(self) -> str:
        # values hold personal data: keep them out of reprs and logs.
        return f"ProduceJob(cert_id={self.cert_id!r}, type={self.cert_type!r})"


@dataclass(frozen=True)
class Produced:
    cert_id: str
    pdf: bytes
    sealed_digest: str
    signed_at: datetime

    def __repr__(self) -> str:
        return f"Produced(cert_id={self.cert_id!r}, bytes={len(self.pdf)})"


class SealedLike(Protocol):
    @property
    def pdf(self) -> bytes: ...
    @property
    def sealed_digest(self) -> str: ...
    @property
    def signed_at(self) -> datetime: ...


class SealerLike(Protocol):
    def seal(
        self,
        pdf: bytes,
        *,
        page: int,
        box: tuple[float, float, float, float],
        reason: str,
        location: str,
    ) -> SealedLike: ...


class RenderedLike(Protocol):
    @property
    def pdf(self) -> bytes: ...
    @property
    def seal_page(self) -> int: ...
    @property
    def seal_box(self) -> tuple[float, float, float, float]: ...


class RendererLike(Protocol):
    def render_job(self, job: ProduceJob) -> RenderedLike: ...


class Producer(Protocol):
    def produce(self, jobs: Sequence[ProduceJob]) -> Iterator[Produced]: ...

    def close(self) -> None: ...


class LocalProducer:
    """Renders and seals in the calling process, with objects built once and reused."""

    def __init__(self, renderer: RendererLike, sealers: Mapping[str, SealerLike]) -> None:
        self._renderer = renderer
        self._sealers = dict(sealers)

    def produce_one(self, job: ProduceJob) -> Produced:
        sealer = self._sealers.get(job.agency)
        if sealer is None:
            from certificates.errors import ConfigurationError

            raise ConfigurationError(f"no seal key is configured for agency {job.agency!r}")
        rendered = self._renderer.render_job(job)
        sealed = sealer.seal(
            rendered.pdf,
            page=rendered.seal_page,
            box=rendered.seal_box,
            reason=f"{job.issuer_name_zh} 电子证照签章 / electronic certificate seal",
            location=job.issuer_name_en,
        )
        return Produced(job.cert_id, sealed.pdf, sealed.sealed_digest, sealed.signed_at)

    def produce(self, jobs: Sequence[ProduceJob]) -> Iterator[Produced]:
        for job in jobs:
            yield self.produce_one(job)

    def close(self) -> None:
        return None


# -- worker pool ---------------------------------------------------------------------------------

_worker: LocalProducer | None = None


def _init_worker(factory: Callable[[], LocalProducer]) -> None:
    global _worker
    _worker = factory()


def _work(job: ProduceJob) -> Produced:
    if _worker is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return _worker.produce_one(job)


class PoolProducer:
    """Spreads rendering and sealing over worker processes (one per core by default).

    `factory` must be picklable (a module-level function or a functools.partial of one); each
    worker calls it once to load fonts, keys and the timestamper, then reuses them.
    """

    def __init__(self, factory: Callable[[], LocalProducer], workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._pool: Executor = ProcessPoolExecutor(
            max_workers=self._workers, initializer=_init_worker, initargs=(factory,)
        )

    def produce(self, jobs: Sequence[ProduceJob]) -> Iterator[Produced]:
        chunk = max(1, min(16, len(jobs) // (self._workers * 4) or 1))
        yield from self._pool.map(_work, jobs, chunksize=chunk)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
