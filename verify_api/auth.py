"""Client authentication and roles at the HTTP edge.

Bearer tokens are looked up by their SHA-256 digest (only digests are stored); a positive answer
is cached for at most ``ttl`` seconds, which bounds how long a revoked client keeps working in a
server process that did not revoke it itself. Each authenticated client is rate limited; each
failed attempt counts against the caller's IP, so tokens cannot be guessed at speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request

from certificates.audit import AuditEvent, AuditLog
from certificates.clients import ClientRegistry, Principal
from certificates.ids import token_digest

from .ratelimit import RateLimiter, is_loopback

__all__ = ["ClientAuth"]


def _unauthorised(code: str, zh: str, en: str) -> HTTPException:
    return HTTPException(
        401,
        detail={"code": code, "message": {"zh": zh, "en": en}},
        headers={"WWW-Authenticate": "Bearer"},
    )


class ClientAuth:
    """FastAPI dependencies: ``auth.any`` (any client) and ``auth.require(role, ...)``."""

    def __init__(
        self,
        clients: ClientRegistry,
        *,
        audit: AuditLog | None = None,
        client_limiter: RateLimiter | None = None,
        ip_limiter: RateLimiter | None = None,
        limit_loopback: bool = False,
        ttl: float = 1.0,
    ) -> None:
        self._clients = clients
        self._audit = audit
        self._client_limiter = client_limiter
        self._ip_limiter = ip_limiter
        self._limit_loopback = limit_loopback
        self._ttl = ttl
        # digest -> (expiry, principal); keyed by digest so no token sits in memory longer
        # than the request that carried it.
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop cached principals (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()

    def _lookup(self, token: str) -> Principal | None:
        digest = token_digest(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit and hit[0] > now:
                return hit[1]
        principal = self._clients.by_token(token)
        if principal is not None:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now + self._ttl, principal)
        return principal

    def _too_many(self, wait: float) -> HTTPException:
        return HTTPException(
            429,
            detail={
                "code": "RATE_LIMITED",
                "message": {
                    "zh": "请求过于频繁，请稍后重试。",
                    "en": "Too many requests; try again later.",
                },
            },
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )

    def _count_failure(self, host: str) -> None:
        if self._ip_limiter and (self._limit_loopback or not is_loopback(host)):
            wait = self._ip_limiter.hit(host)
            if wait > 0:
                raise self._too_many(wait)

    async def authenticate(self, request: Request, authorization: str | None) -> Principal:
        """Runs on the event loop: a cached token costs no thread hop and no I/O; a miss is one
        indexed read, cheaper than the hop (the same trade as the public status route)."""
        host = request.client.host if request.client else "unknown"
        if not authorization or not authorization.lower().startswith("bearer "):
            # A malformed credential header skips the public per-IP limit (it is not a public
            # call), so it counts against the IP here like a wrong token.
            if authorization:
                self._count_failure(host)
            raise _unauthorised(
                "MISSING_TOKEN",
                "需要客户端令牌（Authorization: Bearer ...）。",
                "A client token is required (Authorization: Bearer ...).",
            )
        token = authorization[7:].strip()
        principal = self._lookup(token) if token else None
        if principal is None:
            self._count_failure(host)
            if self._audit is not None:
                await self._audit.record_async(
                    [AuditEvent("authenticate", "denied", "unknown", reason="BAD_TOKEN")]
                )
            raise _unauthorised(
                "BAD_TOKEN", "客户端令牌无效或已吊销。", "The client token is not valid or revoked."
            )
        if self._client_limiter is not None:
            wait = self._client_limiter.hit(principal.client_id)
            if wait > 0:
                raise self._too_many(wait)
        return principal

    def require(self, *roles: str) -> Callable[..., Any]:
        """A dependency that returns the caller when it holds one of ``roles``, else 403."""
        wanted = frozenset(roles)

        async def dependency(
            request: Request, authorization: Annotated[str | None, Header()] = None
        ) -> Principal:
            principal = await self.authenticate(request, authorization)
            if not (principal.roles & wanted):
                if self._audit is not None:
                    await self._audit.record_async(
                        [
                            AuditEvent(
                                "authorise",
                                "denied",
                                principal.client_id,
                                principal.agency,
                                reason=f"ROLE_REQUIRED {request.method} {request.url.path}"[:300],
                            )
                        ]
                    )
                need = " / ".join(sorted(wanted))
                raise HTTPException(
                    403,
                    detail={
                        "code": "ROLE_REQUIRED",
                        "message": {
                            "zh": f"该操作需要以下角色之一：{need}。",
                            "en": f"This needs one of the roles: {need}.",
                        },
                    },
                )
            return principal

        return dependency
