"""The store's token buckets: one limit for every host that shares the store, on the
database's clock, with no caller's address at rest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

import certificates.store.rate_buckets as rate_buckets
from certificates.store.database import Store
from certificates.store.rate_buckets import StoreBuckets


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    Store.open(tmp_path / "c.db", create=True, url=url).close()
    return tmp_path / "c.db", url


def _store(request: pytest.FixtureRequest, target: tuple[Path, str | None]) -> Store:
    store = Store.open(target[0], url=target[1])
    request.addfinalizer(store.close)
    return store


def test_a_burst_is_admitted_then_refused_with_the_wait(
    request: pytest.FixtureRequest, target: tuple[Path, str | None]
) -> None:
    buckets = StoreBuckets(_store(request, target))
    rate = 0.01  # one token per 100 s: nothing refills during the test
    assert [buckets.take("ip:203.0.113.9", rate, 5) for _ in range(5)] == [0.0] * 5
    wait = buckets.take("ip:203.0.113.9", rate, 5)
    assert 99.0 < wait <= 100.0
    # Another caller has a bucket of its own.
    assert buckets.take("ip:203.0.113.10", rate, 5) == 0.0


def test_a_bucket_refills_at_the_rate(
    request: pytest.FixtureRequest, target: tuple[Path, str | None]
) -> None:
    buckets = StoreBuckets(_store(request, target))
    assert buckets.take("client:c1", 20.0, 1) == 0.0
    wait = buckets.take("client:c1", 20.0, 1)
    assert 0.0 < wait <= 0.05
    time.sleep(wait + 0.03)
    assert buckets.take("client:c1", 20.0, 1) == 0.0


def test_hosts_sharing_the_store_admit_the_limit_in_total(
    request: pytest.FixtureRequest, target: tuple[Path, str | None]
) -> None:
    # Two stores opened on one database stand in for two hosts; each takes from four threads.
    hosts = [StoreBuckets(_store(request, target)) for _ in range(2)]
    admitted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def caller(buckets: StoreBuckets) -> None:
        start.wait()
        for _ in range(10):
            ok = buckets.take("ip:198.51.100.7", 0.001, 25) == 0.0
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=caller, args=(hosts[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 80
    assert admitted.count(True) == 25


def test_no_address_is_kept_and_refilled_buckets_are_purged(
    request: pytest.FixtureRequest,
    target: tuple[Path, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_buckets, "_PURGE_EVERY", 5)
    store = _store(request, target)
    buckets = StoreBuckets(store)
    assert "salt" not in repr(buckets) and "rate_bucket" not in repr(buckets)
    for i in range(4):
        buckets.take(f"ip:192.0.2.{i}", 1000.0, 2)  # full again after a millisecond
    with store.session() as s:
        keys = [bytes(k) for (k,) in s.connection().execute(text("SELECT key FROM rate_buckets"))]
    assert len(keys) == 4
    assert all(b"192.0.2" not in k and len(k) == 16 for k in keys)
    time.sleep(0.05)
    buckets.take("ip:192.0.2.200", 0.01, 2)  # the fifth take purges the refilled four
    with store.session() as s:
        left = s.connection().execute(text("SELECT count(*) FROM rate_buckets")).scalar_one()
    assert left == 1


def test_a_second_host_uses_the_first_hosts_salt(
    request: pytest.FixtureRequest, target: tuple[Path, str | None]
) -> None:
    first = StoreBuckets(_store(request, target))
    second = StoreBuckets(_store(request, target))
    first.take("ip:203.0.113.1", 0.01, 1)
    assert second.take("ip:203.0.113.1", 0.01, 1) > 0  # the same bucket, not a new one
