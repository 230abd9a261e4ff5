"""The consoles' browser sessions, as rows of the store, so every host of an agency (and every
worker of a server) sees the same sessions: a browser that a load balancer sends to another
host stays signed in, and a sign-out or a revoked client ends the session on all of them.

Rows only: what a session means (digests, timeouts, CSRF) is decided by the web edge
(``verify_api.http.sessions``), which is the only caller.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel, col, delete, or_

from certificates.store.database import Store

__all__ = ["ConsoleSessionRow", "ConsoleSessions"]


class ConsoleSessionRow(SQLModel, table=True):
    __tablename__ = "console_sessions"

    id_digest: str = Field(primary_key=True)  # SHA-256 of the cookie's id, never the id
    client_id: str = Field(index=True)
    agency: str
    roles: str  # comma-separated
    name: str
    credential: str  # token | certificate (which kind was checked, never the credential)
    fingerprint: str | None = None
    csrf: str
    created: float  # UNIX time
    last_seen: float = Field(index=True)

    def __repr__(self) -> str:  # the CSRF token stays out of logs and tracebacks
        return f"ConsoleSessionRow(client_id={self.client_id!r}, agency={self.agency!r})"


class ConsoleSessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, row: ConsoleSessionRow, *, sweep_before: tuple[float, float]) -> None:
        """Store a new session, first deleting those idle since, or created before,
        ``sweep_before`` (so the table holds live sessions only)."""
        idle_since, created_before = sweep_before
        with self._store.session() as s:
            s.exec(
                delete(ConsoleSessionRow).where(
                    or_(
                        col(ConsoleSessionRow.last_seen) < idle_since,
                        col(ConsoleSessionRow.created) < created_before,
                    )
                )
            )
            s.add(row)
            s.commit()

    def touch(self, id_digest: str, now: float) -> ConsoleSessionRow | None:
        """The session's row with its ``last_seen`` moved to ``now``, or None."""
        with self._store.session() as s:
            row = s.get(ConsoleSessionRow, id_digest)
            if row is None:
                return None
            previous = ConsoleSessionRow.model_validate(row.model_dump())
            row.last_seen = now
            s.add(row)
            s.commit()
        return previous

    def remove(self, id_digest: str) -> None:
        with self._store.session() as s:
            s.exec(delete(ConsoleSessionRow).where(col(ConsoleSessionRow.id_digest) == id_digest))
            s.commit()

    def remove_client(self, client_id: str) -> None:
        with self._store.session() as s:
            s.exec(delete(ConsoleSessionRow).where(col(ConsoleSessionRow.client_id) == client_id))
            s.commit()
