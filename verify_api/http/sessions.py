"""Browser sessions of the consoles (the counter desk): server-side, in one SQLite file in the
data directory, so that every worker of a server sees the same sessions.

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

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IDLE_TIMEOUT", "LIFETIME", "Session", "SessionStore", "same_secret"]

IDLE_TIMEOUT = 15 * 60.0  # seconds: a desk left alone signs itself out
LIFETIME = 10 * 3600.0  # seconds: one working day at most, then sign in again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_session (
    id_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    agency TEXT NOT NULL,
    roles TEXT NOT NULL,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    fingerprint TEXT,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
)
"""


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
        path: Path,
        *,
        idle: float = IDLE_TIMEOUT,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self.idle = idle
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._ready = False

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        try:
            if not self._ready:
                with self._lock:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(_SCHEMA)
                    # Only the service's user reads the sessions (digests, CSRF tokens).
                    with contextlib.suppress(OSError):
                        os.chmod(self._path, 0o600)
                    self._ready = True
            yield conn
        finally:
            conn.close()

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
        with self._db() as db:
            db.execute(
                "DELETE FROM console_session WHERE last_seen < ? OR created < ?",
                (now - self.idle, now - self.lifetime),
            )
            db.execute(
                "INSERT INTO console_session VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _digest(raw),
                    client_id,
                    agency,
                    ",".join(sorted(roles)),
                    name,
                    credential,
                    fingerprint,
                    session.csrf,
                    now,
                    now,
                ),
            )
        return raw, session

    def get(self, raw: str | None) -> Session | None:
        """The live session with id ``raw`` (its idle time restarts), or ``None``."""
        if not raw or len(raw) > 128:
            return None
        key = _digest(raw)
        now = self._clock()
        with self._db() as db:
            row = db.execute(
                "SELECT client_id, agency, roles, name, credential, fingerprint, csrf, created, "
                "last_seen FROM console_session WHERE id_digest = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            if row[8] < now - self.idle or row[7] < now - self.lifetime:
                db.execute("DELETE FROM console_session WHERE id_digest = ?", (key,))
                return None
            db.execute("UPDATE console_session SET last_seen = ? WHERE id_digest = ?", (now, key))
        return Session(
            client_id=row[0],
            agency=row[1],
            roles=frozenset(r for r in str(row[2]).split(",") if r),
            name=row[3],
            credential=row[4],
            fingerprint=row[5],
            csrf=row[6],
            created=row[7],
            last_seen=now,
        )

    def end(self, raw: str | None) -> None:
        if raw:
            with self._db() as db:
                db.execute("DELETE FROM console_session WHERE id_digest = ?", (_digest(raw),))

    def end_client(self, client_id: str) -> None:
        """Every session of ``client_id`` (its client was revoked or lost the role)."""
        with self._db() as db:
            db.execute("DELETE FROM console_session WHERE client_id = ?", (client_id,))
