"""Client authentication and roles at the HTTP edge.

Bearer tokens are looked up by their SHA-256 digest (only digests are stored); a positive answer
is cached for at most ``ttl`` seconds, which bounds how long a revoked client keeps working in a
server process that did not revoke it itself. Each authenticated client is rate limited; each
failed attempt counts against the caller's IP, so tokens cannot be guessed at speed.

Mutual TLS (``certledger serve --tls``): a request without an ``Authorization`` header that
arrived with a verified client certificate is authenticated by the certificate's SHA-256
fingerprint, which the registry binds to one client; a revoked client's certificate is refused
(401 ``BAD_CERTIFICATE``, audited like a bad token). A request that carries an
``Authorization`` header is decided by it alone, certificate or not: one credential per
request, so a principal's roles never come from two clients, and token clients behave the
same whether or not their TLS stack happens to present a certificate (browsers and OS key
stores may send one unasked).
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request

from certificates import AuditEvent, AuditLog, ClientRegistry, Principal
from certificates.ids import token_digest
from verify_api.http.ratelimit import (
    IP_CHARGED,
    RATE_LIMITED_DETAIL,
    RateLimiter,
    is_loopback,
    retry_after,
)

__all__ = ["ClientAuth", "peer_certificate_fingerprint"]

# Scope key for the principal the rate-limit middleware already checked and charged, with the
# credential it was checked from. Only server code writes the scope: a client cannot set it.
_CHECKED = "certledger.checked_principal"


def peer_certificate_fingerprint(scope: Mapping[str, Any]) -> str | None:
    """SHA-256 (hex) of the client certificate of the request's TLS connection, or ``None``.

    Read from the ASGI TLS extension (``scope["extensions"]["tls"]``), which only the server
    fills in (``verify_api.http.tls``): a client cannot forge it. The server asks for client
    certificates with ``CERT_OPTIONAL`` and trusts only the issuing CA for them, so a
    certificate that reaches this point was verified during the handshake; one reported with a
    ``client_cert_error`` is ignored all the same.
    """
    extensions = scope.get("extensions")
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    if not isinstance(tls, Mapping) or tls.get("client_cert_error") is not None:
        return None
    chain = tls.get("client_cert_chain")
    if not chain or not isinstance(chain[0], str):
        return None
    try:
        der = ssl.PEM_cert_to_DER_cert(chain[0])
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


def _host(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


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
        return self._cached(token_digest(token), self._clients.by_token, token)

    def _lookup_certificate(self, fingerprint: str) -> Principal | None:
        # "cert:" keeps fingerprints and token digests (both SHA-256 hex) apart in the cache.
        return self._cached(f"cert:{fingerprint}", self._clients.by_certificate, fingerprint)

    def _cached(
        self, key: str, load: Callable[[str], Principal | None], credential: str
    ) -> Principal | None:
        # The loader and its argument are passed apart, so a hit (every request but the first
        # in a second) builds no closure.
        now = time.monotonic()
        # Read without the lock: a dict read is atomic, and entries are replaced whole.
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = load(credential)
        if principal is not None:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now + self._ttl, principal)
        return principal

    def _too_many(self, wait: float) -> HTTPException:
        return HTTPException(429, detail=RATE_LIMITED_DETAIL, headers=retry_after(wait))

    def identify(self, scope: MutableMapping[str, Any]) -> float | None:
        """For the rate-limit middleware: ``None`` unless the request carries exactly one
        valid credential (a bearer token, or with no ``Authorization`` header a registered
        client certificate); then its client is charged and the seconds to wait returned.

        Runs before routing, on the event loop: a known credential is a cache hit, an unknown
        one an indexed read (as in :meth:`authenticate`). Nothing is audited here; a request
        that fails goes on to its route, which decides and audits as before.
        """
        authorization: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                if authorization is not None:
                    return None  # two credentials: decided by the route, charged to the IP
                authorization = value.decode("latin-1")
        if authorization is None:
            fingerprint = peer_certificate_fingerprint(scope)
            principal = self._lookup_certificate(fingerprint) if fingerprint else None
        elif authorization[:7].lower() == "bearer " and authorization[7:].strip():
            principal = self._lookup(authorization[7:].strip())
        else:
            principal = None
        if principal is None:
            return None
        wait = self._charge(principal)
        if wait == 0.0:
            scope[_CHECKED] = (authorization, principal)
        return wait

    def _checked(self, request: Request, authorization: str | None) -> Principal | None:
        checked = request.scope.get(_CHECKED)
        if checked is not None and checked[0] == authorization:
            return checked[1]  # type: ignore[no-any-return]
        return None

    def _charge(self, principal: Principal) -> float:
        if self._client_limiter is not None and self._client_limiter.enabled:
            return self._client_limiter.hit(principal.client_id)
        return 0.0

    def _count_failure(self, request: Request) -> None:
        if request.scope.get(IP_CHARGED):
            return  # the middleware has charged this request to its IP already
        host = _host(request)
        if self._ip_limiter and (self._limit_loopback or not is_loopback(host)):
            wait = self._ip_limiter.hit(host)
            if wait > 0:
                raise self._too_many(wait)

    async def authenticate(self, request: Request, authorization: str | None) -> Principal:
        """Runs on the event loop: a cached token costs no thread hop and no I/O; a miss is one
        indexed read, cheaper than the hop (the same trade as the public status route)."""
        checked = self._checked(request, authorization)
        if checked is not None:
            return checked  # checked and charged by the rate-limit middleware
        if authorization is None:
            fingerprint = peer_certificate_fingerprint(request.scope)
            if fingerprint is not None:
                return await self._authenticate_certificate(request, fingerprint)
        if not authorization or authorization[:7].lower() != "bearer ":
            # A malformed credential counts against the IP like a wrong token.
            if authorization:
                self._count_failure(request)
            if self._audit is not None:
                # A denial like any other: who tried (nobody known), what (method and path).
                await self._audit.write_async(
                    [
                        AuditEvent(
                            "authenticate",
                            "denied",
                            "unknown",
                            reason=f"MISSING_TOKEN {request.method} {request.url.path}"[:300],
                        )
                    ]
                )
            raise _unauthorised(
                "MISSING_TOKEN",
                "需要客户端令牌（Authorization: Bearer ...）。",
                "A client token is required (Authorization: Bearer ...).",
            )
        token = authorization[7:].strip()
        principal = self._lookup(token) if token else None
        if principal is None:
            self._count_failure(request)
            if self._audit is not None:
                await self._audit.write_async(
                    [AuditEvent("authenticate", "denied", "unknown", reason="BAD_TOKEN")]
                )
            raise _unauthorised(
                "BAD_TOKEN", "客户端令牌无效或已吊销。", "The client token is not valid or revoked."
            )
        return self._admit(principal)

    async def _authenticate_certificate(self, request: Request, fingerprint: str) -> Principal:
        principal = self._lookup_certificate(fingerprint)
        if principal is None:
            # Verified by the issuing CA but bound to no active client: revoked, or never
            # registered. Counted and audited like a wrong token.
            self._count_failure(request)
            if self._audit is not None:
                await self._audit.write_async(
                    [AuditEvent("authenticate", "denied", "unknown", reason="BAD_CERTIFICATE")]
                )
            raise _unauthorised(
                "BAD_CERTIFICATE",
                "客户端证书未登记或已吊销。",
                "The client certificate is not registered or its client is revoked.",
            )
        return self._admit(principal)

    def _admit(self, principal: Principal) -> Principal:
        wait = self._charge(principal)
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
            if wanted.isdisjoint(principal.roles):
                if self._audit is not None:
                    await self._audit.write_async(
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
