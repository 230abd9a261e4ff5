"""One small cache for the answers every process repeats: a thread-safe LRU whose entries
expire, on a clock the caller may inject (tests advance it instead of sleeping)."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Clock", "TTLCache"]

Clock = Callable[[], float]  # seconds, monotonic
_V = TypeVar("_V")


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
