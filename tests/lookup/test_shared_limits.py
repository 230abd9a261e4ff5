"""The rate-limit table the workers of one server share (verify_api.http.shared_limits)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from verify_api.http.ratelimit import RateLimiter
from verify_api.http.shared_limits import SharedBuckets


def test_a_new_table_is_private_and_its_salt_stays_inside(tmp_path: Path) -> None:
    table = SharedBuckets.create(tmp_path / "buckets", slots=64)
    try:
        assert stat.S_IMODE((tmp_path / "buckets").stat().st_mode) == 0o600
        assert "salt" not in repr(table) and "slots=64" in repr(table)
    finally:
        table.close()
    with pytest.raises(FileExistsError):  # never reuses, never overwrites
        SharedBuckets.create(tmp_path / "buckets", slots=64)


@pytest.mark.parametrize("content", [b"", b"short", b"x" * 64, b"CLRATE01" + b"\0" * 2000])
def test_what_is_not_a_table_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "other").write_bytes(content)
    with pytest.raises(ValueError, match="rate-limit table"):
        SharedBuckets(tmp_path / "other")


def test_buckets_by_key_and_namespace(tmp_path: Path) -> None:
    table = SharedBuckets.create(tmp_path / "buckets", slots=1024)
    try:
        ip = RateLimiter(1.0, 2.0, shared=table, namespace="ip:")
        client = RateLimiter(1.0, 2.0, shared=table, namespace="client:")
        assert ip.hit("a") == 0 and ip.hit("a") == 0
        assert 0 < ip.hit("a") <= 1.0
        assert ip.hit("b") == 0  # another key
        assert client.hit("a") == 0  # the same key under another limiter
    finally:
        table.close()


def _take_all(path: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    table = SharedBuckets(Path(path))
    allowed = sum(1 for _ in range(n) if table.take("client:one", 0.001, 12) == 0)
    table.close()
    out.put(allowed)


def test_processes_take_from_one_bucket(tmp_path: Path) -> None:
    """Three processes, 10 tries each, one bucket of 12: 12 allowed in all, not 12 each."""
    SharedBuckets.create(tmp_path / "buckets", slots=256).close()
    ctx = multiprocessing.get_context("spawn")  # as uvicorn starts its workers
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_take_all, args=(str(tmp_path / "buckets"), 10, out)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    counts = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(counts) == 12, counts


def test_a_colliding_key_starts_full_and_the_first_key_too(tmp_path: Path) -> None:
    """One slot for everything: each key arriving in it starts with a full bucket, so a
    collision can only forgive, never make a caller pay for someone else."""
    table = SharedBuckets.create(tmp_path / "buckets", slots=1)
    try:
        assert [table.take("a", 0.001, 2) for _ in range(2)] == [0.0, 0.0]
        assert table.take("a", 0.001, 2) > 0  # a's bucket is empty
        assert table.take("b", 0.001, 2) == 0.0  # b takes the slot, full
        assert table.take("a", 0.001, 2) == 0.0  # and a's state went with it
    finally:
        table.close()
