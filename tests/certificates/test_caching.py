"""The two caches of certificates.caching on an injected clock: stated bounds hold exactly
(no sleeping), and a load that raced an invalidation is not kept."""

from __future__ import annotations

import random

import pytest

from certificates.caching import LoadingCache, TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(7)  # the jitter; the bounds below hold for any draw


def test_loading_cache_keeps_a_value_no_longer_than_its_ttl() -> None:
    clock = Clock()
    cache: LoadingCache[str, int] = LoadingCache(10, 2.0, clock=clock)
    loads: list[str] = []

    def load(key: str) -> tuple[int, bool]:
        loads.append(key)
        return len(loads), True

    assert cache.get("a", load, "a") == 1
    clock.now += 0.99  # within the jittered lifetime (at least half the ttl)
    assert cache.get("a", load, "a") == 1
    clock.now += 1.02  # past the ttl whatever the jitter: read again
    assert cache.get("a", load, "a") == 2
    assert loads == ["a", "a"]


def test_loading_cache_does_not_keep_what_it_may_not() -> None:
    clock = Clock()
    cache: LoadingCache[str, str] = LoadingCache(10, 60.0, clock=clock)
    calls = []

    def failed_read(key: str) -> tuple[str, bool]:
        calls.append(key)
        return "unavailable", False

    cache.get("x", failed_read, "x")
    cache.get("x", failed_read, "x")
    assert calls == ["x", "x"] and len(cache) == 0


def test_a_load_racing_a_forget_is_not_kept() -> None:
    clock = Clock()
    cache: LoadingCache[str, str] = LoadingCache(10, 60.0, clock=clock)

    def load_while_revoked(key: str) -> tuple[str, bool]:
        cache.forget(key)  # a revocation lands while the old state is being read
        return "active", True

    assert cache.get("c", load_while_revoked, "c") == "active"
    assert len(cache) == 0  # the possibly stale answer was not kept
    assert cache.get("c", lambda k: ("revoked", True), "c") == "revoked"
    assert cache.get("c", lambda k: ("never read", True), "c") == "revoked"
    cache.forget()
    assert len(cache) == 0


def test_loading_cache_is_bounded() -> None:
    cache: LoadingCache[int, int] = LoadingCache(3, 60.0, clock=Clock())
    for i in range(10):
        cache.get(i, lambda k: (k, True), i)
        assert len(cache) <= 3


def test_ttl_cache_expires_on_the_injected_clock_and_drops() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(2, 10.0, clock=clock)
    cache.put("a", "A")
    clock.now += 7.9  # under the jittered lifetime (at least 80 % of the ttl)
    assert cache.get("a") == "A"
    clock.now += 4.2  # past 120 % of it
    assert cache.get("a") is None
    cache.put("a", "A")
    cache.put("b", "B")
    cache.put("c", "C")  # least recently used goes
    assert cache.get("a") is None and cache.get("c") == "C"
    cache.drop("c")
    assert cache.get("c") is None
