"""Which database engine holds the shared state, and how a connection to it is set up.

SQLite (a file in the data directory) is the default: one API host, nothing to run. An agency
that needs several API hosts points all of them at one PostgreSQL database with
``CERTLEDGER_DATABASE_URL=postgresql://...``: certificates, clients, the audit chain, batches
and rate-limit buckets then live there, and every host sees the same.

The URL may carry a password, so it is a secret: it is never put into an error message, a log
line or a repr; :attr:`Database.label` names the host and database only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import create_engine

from certificates.errors import ConfigurationError

__all__ = ["DATABASE_URL_ENV", "UNAVAILABLE_ERRORS", "Database"]

DATABASE_URL_ENV = "CERTLEDGER_DATABASE_URL"

# A request waits this long for a connection or a lock before it is refused as unavailable
# (503), instead of queueing without bound behind a database that has stopped answering.
_WAIT_SECONDS = 30


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
"""What a store call raises when the database cannot answer now (the server restarting or
gone, a connection cut, a lock or pool wait over the limit): the edges answer 503 and ask for
a retry. The transaction in flight is rolled back by the database, so nothing is half-written."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # Full fsync: a certificate reported issued survives a power cut.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={_WAIT_SECONDS * 1000}")
    cur.close()


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    # Times are stored in UTC whatever the server's zone, as they are on SQLite; a statement
    # or lock that hangs longer than a request may wait is cut off (the caller answers 503).
    with dbapi_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(f"SET lock_timeout = '{_WAIT_SECONDS}s'")
        cur.execute(f"SET statement_timeout = '{_WAIT_SECONDS * 4}s'")
    dbapi_conn.commit()


@dataclass(frozen=True, repr=False)
class Database:
    """Where the store is: a SQLite file, or a PostgreSQL database named by URL."""

    sqlite_path: Path | None = None
    _postgres_url: URL | None = None

    def __repr__(self) -> str:
        return f"Database({self.label})"

    @property
    def label(self) -> str:
        """The location in a form fit for messages: the file name, or host, port and name of a
        database server (never its user or password)."""
        url = self._postgres_url
        if url is None:
            assert self.sqlite_path is not None
            return self.sqlite_path.name
        return f"postgresql://{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls(sqlite_path=path)

    @classmethod
    def postgres(cls, url: str) -> Database:
        """A PostgreSQL database by URL (``postgresql://user:password@host:port/name``).

        :raises ConfigurationError: not a PostgreSQL URL (the message never repeats it, since
            it may hold a password).
        """
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigurationError(
                f"{DATABASE_URL_ENV} is not a database URL; give "
                "postgresql://user:password@host:port/database"
            ) from None
        if parsed.get_backend_name() != "postgresql":
            raise ConfigurationError(
                f"{DATABASE_URL_ENV} names a {parsed.get_backend_name()!r} database; only "
                "postgresql://... is supported (without it the store is a SQLite file)"
            )
        # psycopg 3 is the driver, whatever the URL asked for.
        return cls(_postgres_url=parsed.set(drivername="postgresql+psycopg"))

    @classmethod
    def choose(cls, sqlite_path: Path, url: str | None) -> Database:
        """PostgreSQL when a URL is given, else the data directory's SQLite file."""
        return cls.postgres(url) if url else cls.sqlite(sqlite_path)

    @property
    def is_postgres(self) -> bool:
        return self._postgres_url is not None

    def exists(self) -> bool:
        """Whether there is a store to open (a server database always is: it is created by
        its operator, and the schema inside it by :func:`migrate`)."""
        return self.sqlite_path is None or self.sqlite_path.is_file()

    def prepare(self) -> None:
        """Before the first open of a new SQLite store: create the file, owner only, before
        SQLite creates it with the umask's mode (it holds personal data, and SQLite gives its
        -wal and -shm files the database file's permissions)."""
        path = self.sqlite_path
        if path is not None and not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def engine(self, *, pool_size: int = 5) -> Engine:
        if self._postgres_url is not None:
            pg = create_engine(
                self._postgres_url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=_WAIT_SECONDS,
                # A connection the server dropped (a restart) is noticed before use and
                # replaced, so the service recovers by itself.
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "application_name": "certledger"},
            )
            event.listen(pg, "connect", _postgres_session)
            return pg
        assert self.sqlite_path is not None
        lite = create_engine(
            f"sqlite:///{self.sqlite_path}",
            connect_args={"check_same_thread": False, "timeout": _WAIT_SECONDS},
        )
        event.listen(lite, "connect", _sqlite_pragmas)
        return lite
