"""Browser sessions of the consoles (the counter desk, the agency console): server-side, in the
store (``certificates.store.console_sessions``), so that every worker and every host of an
agency sees the same sessions.

Security decisions, stated once:

* **A session starts only from a checked credential.** The edge creates one after
  :class:`~verify_api.http.auth.ClientAuth` accepted the clerk's token or client certificate
  (the API's own check, rate limits and audit); the credential itself is never stored.
* **The session id is a 256-bit random secret, stored only as its SHA-256 digest**: a copy
  of the database (a backup, a leaked file) holds no usable cookie.
* **Idle timeout and absolute lifetime.** A session unused for ``idle`` seconds, or older
  than ``lifetime``, is gone (deleted when next seen, and swept at each sign-in).
* **A CSRF token per session**, random, compared in constant time on every POST; the sign-in
  form, before any session, uses a random pre-session token bound to a cookie.
* **No secrets in reprs or logs**: :class:`Session` hides its CSRF token from ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from certificates.store.console_sessions import ConsoleSessionRow, ConsoleSessions
from certificates.store.database import Store

__all__ = ["IDLE_TIMEOUT", "LIFETIME", "Session", "SessionStore", "same_secret"]

IDLE_TIMEOUT = 15 * 60.0  # seconds: a desk left alone signs itself out
LIFETIME = 10 * 3600.0  # seconds: one working day at most, then sign in again


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def same_secret(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets; a missing one never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Session:
    client_id: str
    agency: str
    roles: frozenset[str]
    name: str  # the client's registered name: the clerk on receipts
    credential: str  # token | certificate
    # The client certificate's fingerprint when signed in with one: the session then holds
    # only over a TLS connection presenting that same certificate.
    fingerprint: str | None
    csrf: str = field(repr=False)
    created: float
    last_seen: float


class SessionStore:
    def __init__(
        self,
        store: Store,
        *,
        idle: float = IDLE_TIMEOUT,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rows = ConsoleSessions(store)
        self.idle = idle
        self.lifetime = lifetime
        self._clock = clock

    def create(
        self,
        *,
        client_id: str,
        agency: str,
        roles: frozenset[str],
        name: str,
        credential: str,
        fingerprint: str | None = None,
    ) -> tuple[str, Session]:
        """A new session; returns its id (for the cookie, shown once) and the session."""
        raw = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(
            client_id=client_id,
            agency=agency,
            roles=roles,
            name=name,
            credential=credential,
            fingerprint=fingerprint,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )
        self._rows.add(
            ConsoleSessionRow(
                id_digest=_digest(raw),
                client_id=client_id,
                agency=agency,
                roles=",".join(sorted(roles)),
                name=name,
                credential=credential,
                fingerprint=fingerprint,
                csrf=session.csrf,
                created=now,
                last_seen=now,
            ),
            sweep_before=(now - self.idle, now - self.lifetime),
        )
        return raw, session

    def get(self, raw: str | None) -> Session | None:
        """The live session with id ``raw`` (its idle time restarts), or ``None``."""
        if not raw or len(raw) > 128:
            return None
        key = _digest(raw)
        now = self._clock()
        row = self._rows.touch(key, now)
        if row is None:
            return None
        if row.last_seen < now - self.idle or row.created < now - self.lifetime:
            self._rows.remove(key)
            return None
        return Session(
            client_id=row.client_id,
            agency=row.agency,
            roles=frozenset(r for r in row.roles.split(",") if r),
            name=row.name,
            credential=row.credential,
            fingerprint=row.fingerprint,
            csrf=row.csrf,
            created=row.created,
            last_seen=now,
        )

    def end(self, raw: str | None) -> None:
        if raw:
            self._rows.remove(_digest(raw))

    def end_client(self, client_id: str) -> None:
        """Every session of ``client_id`` (its client was revoked or lost the role)."""
        self._rows.remove_client(client_id)
