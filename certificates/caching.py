"""The caches for the answers every process repeats, on a clock the caller may inject (tests
advance it instead of sleeping). Two policies, each where it is measured to fit:

* :class:`TTLCache`: a thread-safe LRU of values put by the caller (the public status path,
  whose answers are built and put in one place).
* :class:`LoadingCache`: get-or-load with invalidation (the lookup paths): reads take no lock
  (a dict read is atomic, entries are replaced whole; the lock on every read cost more than
  the lookup's cache hit itself), and a load that was under way when its key was forgotten is
  not kept, since it may predate the change.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Clock", "LoadingCache", "TTLCache"]

Clock = Callable[[], float]  # seconds, monotonic
_K = TypeVar("_K")
_V = TypeVar("_V")
_A = TypeVar("_A")


class TTLCache(Generic[_V]):
    """At most ``size`` values by string key, each kept for ``ttl`` seconds (jittered to
    80-120 %, so entries filled together do not all expire together and come back as a burst
    of misses; the jitter is not security relevant). ``drop`` forgets a key at once."""

    def __init__(self, size: int, ttl: float, *, clock: Clock = time.monotonic) -> None:
        self._size, self._ttl, self._clock = size, ttl, clock
        self._data: OrderedDict[str, tuple[float, _V]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def ttl(self) -> float:
        return self._ttl

    def get(self, key: str) -> _V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: str, value: _V) -> None:
        ttl = self._ttl * (0.8 + 0.4 * random.random())  # noqa: S311
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


class LoadingCache(Generic[_K, _V]):
    """Values kept for at most ``ttl`` seconds (jittered down to 50-100 %, so entries filled
    together do not all expire together; never longer than ``ttl``: it is a stated bound), at
    most ``size`` of them (all dropped when full: cheaper than LRU bookkeeping on the hot path).

    ``forget`` drops a key (or all) at once, and a load under way meanwhile is not kept.
    ``lock`` may be shared with the caller's other state changes."""

    def __init__(
        self,
        size: int,
        ttl: float,
        *,
        lock: threading.Lock | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._size, self._ttl, self._clock = size, ttl, clock
        self._lock = lock or threading.Lock()
        self._generation = 0
        self._data: dict[_K, tuple[float, _V]] = {}

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: _K, load: Callable[[_A], tuple[_V, bool]], arg: _A) -> _V:
        """The kept value, else ``load(arg)``: a value and whether it may be kept. The loader
        and its argument come apart, so a hit (nearly every call) builds no closure."""
        started = self._clock()
        hit = self._data.get(key)
        if hit is not None and hit[0] > started:
            return hit[1]
        generation = self._generation
        value, keep = load(arg)
        if keep:
            # Expiry counted from before the load, so the bound holds for what was read.
            expires = started + self._ttl * (0.5 + 0.5 * random.random())  # noqa: S311
            with self._lock:
                if self._generation == generation:  # nothing forgotten meanwhile
                    if len(self._data) >= self._size:
                        self._data.clear()
                    self._data[key] = (expires, value)
        return value

    def forget(self, key: _K | None = None) -> None:
        """Drop ``key``, or everything; loads under way now are not kept."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)
