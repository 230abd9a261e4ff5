"""The store's schema, in Alembic migrations, for SQLite and PostgreSQL alike.

``migrate`` brings a store to the newest revision when it is opened. Opening an up-to-date
store (every start of a command or server) costs one indexed read and imports nothing of
Alembic; only a store behind the code runs the migrations, under a lock, so two hosts (or two
workers) starting together do not both apply them.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD", "migrate"]

# The newest revision in versions/ (a test checks the two agree).
HEAD = "0004"

_HERE = Path(__file__).parent
# Any fixed number: the PostgreSQL advisory lock that serialises migrations between hosts.
_PG_LOCK = 0x6365_7274_6C65_6467  # "certledg"


def current(conn: Connection) -> str | None:
    """The store's revision, or None for a store made before migrations (or a new one)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def migrate(engine: Engine, lock_file: Path | None = None) -> None:
    """Bring the store at ``engine`` to :data:`HEAD`. ``lock_file``: a SQLite store's file,
    locked while migrating (PostgreSQL takes an advisory lock instead)."""
    with engine.connect() as conn:
        if current(conn) == HEAD:
            return
    with _sqlite_lock(lock_file), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        # The lock is held: someone else may have finished meanwhile.
        if current(conn) != HEAD:
            _upgrade(conn)


def _upgrade(conn: Connection) -> None:
    # Imported here: Alembic's own import costs more than opening an up-to-date store.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


@contextmanager
def _sqlite_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    # flock is separate from SQLite's own (fcntl byte-range) locks on Linux, so it serialises
    # migrating processes without getting in SQLite's way.
    with path.open("rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
