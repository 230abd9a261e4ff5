"""Abuse limits: token buckets per client (authenticated calls) and per IP (public calls).

In one process the buckets live in memory; a server with several workers shares them through
``verify_api.http.shared_limits`` so the rate holds for the whole server, not per worker, and
hosts sharing a PostgreSQL store share the store's buckets
(``certificates.store.rate_buckets``) so it holds for every host of the agency. Over the limit
the answer is 429 with ``Retry-After``.

Loopback peers are exempt from the per-IP limit by default: behind a local reverse proxy every
request comes from 127.0.0.1, so a per-IP limit there would throttle everyone as one caller;
such a proxy must limit per client address itself (or set ``CERTLEDGER_RATE_LOOPBACK=1``).

A request leaves the per-IP limit only once its credential has been *checked*: carrying an
``Authorization`` header proves nothing (any header used to skip the limit, on routes that
never look at it). The middleware checks the credential itself (one cached digest lookup),
charges a valid one to its client's bucket and hands the principal on, so the route's own
authentication neither looks it up nor charges it a second time.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from verify_api.http.asgi import send_json

__all__ = [
    "IP_CHARGED",
    "Buckets",
    "PublicRateLimitMiddleware",
    "RateLimiter",
    "RateLimits",
    "is_loopback",
    "too_many",
]

IP_CHARGED = "certledger.ip_charged"
"""Scope key: this request was already charged to its IP (so a failed authentication later
does not charge it twice)."""

_MAX_KEYS = 100_000


@dataclass(frozen=True)
class RateLimits:
    public_rate: float = 20.0  # requests per second per IP, sustained
    public_burst: float = 40.0
    client_rate: float = 100.0  # requests per second per authenticated client
    client_burst: float = 200.0
    limit_loopback: bool = False


class Buckets(Protocol):
    """Token buckets several processes take from: the server's memory-mapped table, or the
    store's table that several hosts share."""

    @property
    def blocking(self) -> bool:
        """Whether a take waits on I/O (a database round trip), so is kept off the event loop."""
        ...

    def take(self, key: str, rate: float, burst: float) -> float:
        """One token from ``key``'s bucket: 0.0 when allowed, else seconds until one is."""
        ...


class RateLimiter:
    """Token buckets by key, bounded in memory (least recently used keys are dropped), or
    taken from ``shared`` (the server's or the hosts' buckets, under ``namespace``) when
    given."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        shared: Buckets | None = None,
        namespace: str = "",
    ) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._shared = shared
        self._namespace = namespace

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    @property
    def blocking(self) -> bool:
        return self._shared is not None and self._shared.blocking

    def hit(self, key: str) -> float:
        """Take one token; 0.0 when allowed, else seconds until a token is available."""
        if self._rate <= 0:
            return 0.0  # a rate of 0 switches the limit off
        if self._shared is not None:
            return self._shared.take(self._namespace + key, self._rate, self._burst)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
            while len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
        return wait


# The one RATE_LIMITED answer, whether the middleware sends it raw or a route raises it.
RATE_LIMITED_DETAIL: dict[str, Any] = {
    "code": "RATE_LIMITED",
    "message": {
        "zh": "请求过于频繁，请稍后重试。",
        "en": "Too many requests; try again later.",
    },
}

_TOO_MANY = json.dumps(
    {"detail": RATE_LIMITED_DETAIL}, ensure_ascii=False, separators=(",", ":")
).encode()


def retry_after(wait: float) -> dict[str, str]:
    """The ``Retry-After`` header for ``wait`` seconds: whole seconds, at least one."""
    return {"Retry-After": str(max(1, math.ceil(wait)))}


def too_many(wait: float) -> tuple[bytes, dict[str, str]]:
    return _TOO_MANY, retry_after(wait)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Identify = Callable[[MutableMapping[str, Any]], float | None]
"""Checks a request's credential (``scope`` in): ``None`` when it has no valid one, else the
seconds to wait under its client's limit (0.0: admitted)."""


class PublicRateLimitMiddleware:
    """Per-IP limit on every request without a checked credential (the public endpoints, and
    any request whose credential is absent, malformed or wrong).

    ``identify`` checks a credential and charges its client (see :data:`Identify`); without
    it every non-exempt request counts against its IP.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        limit_loopback: bool,
        identify: Identify | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.limit_loopback = limit_loopback
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else "unknown"
        if not self.limit_loopback and is_loopback(host):
            await self.app(scope, receive, send)
            return
        if self.limiter.blocking:
            # The hosts' buckets are a database round trip: off the loop, so a slow or
            # restarting database holds up this request only (its errors become 503 outside).
            wait = await run_in_threadpool(self._charge, scope, host)
        else:
            wait = self._charge(scope, host)
        if wait > 0:
            body, headers = too_many(wait)
            await send_json(send, 429, body, headers)
            return
        await self.app(scope, receive, send)

    def _charge(self, scope: Scope, host: str) -> float:
        wait = self.identify(scope) if self.identify is not None else None
        if wait is None:
            wait = self.limiter.hit(host)
            scope[IP_CHARGED] = True
        return wait
