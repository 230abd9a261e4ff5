"""The PostgreSQL store's copy: ``pg_dump`` out, ``psql`` in, both as subprocesses.

The connection's every part (host, port, user, password, database) goes to them in the libpq
environment variables of the subprocess, never on its command line (which any user of the
machine can read in the process list), and never in a message: a failure names the database by
:attr:`Database.label`, and the tools' own messages are scrubbed of the password.

``pg_dump`` reads one snapshot (a repeatable-read transaction), so the dump is consistent while
the service keeps writing. It is a plain SQL script: ``psql --single-transaction`` replays it
from its standard input (a dump inside a .tar needs no temporary file), all or nothing.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from certificates.backup.errors import BackupError
from certificates.store.engine import Database

__all__ = ["PostgresTools"]

# libpq's environment names for the URL's query options that matter to a connection.
_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
# Everything of its own in a database: tables, sequences, views (what an empty one lacks).
_COUNT_OWN = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)
_LIST_OWN = (
    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'm', 'S', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)


def _find(program: str, search_path: str | None) -> Path:
    """The newest installed server's program (Debian keeps them out of PATH), else PATH's."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1])
    on_path = shutil.which(program, path=search_path)
    if on_path is None:
        raise BackupError(
            "refused",
            f"找不到 PostgreSQL 客户端程序 {program}："
            "请安装 PostgreSQL 客户端（Debian：postgresql-client）",
            f"the PostgreSQL client program {program} is not installed: install the PostgreSQL "
            "client programs (Debian: postgresql-client)",
        )
    return Path(on_path)


@dataclass(frozen=True, repr=False)
class PostgresTools:
    """``pg_dump`` and ``psql`` for one database URL (which holds a password: never shown)."""

    url: str = field(repr=False)
    search_path: str | None = None

    def __repr__(self) -> str:
        return f"PostgresTools({self.database.label})"

    @property
    def database(self) -> Database:
        return Database.postgres(self.url)

    @property
    def label(self) -> str:
        return self.database.label

    def _env(self) -> dict[str, str]:
        u = make_url(self.url)
        env = {"PGAPPNAME": "certledger-backup", "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"}
        for name, value in (
            ("PGHOST", u.host),
            ("PGPORT", str(u.port) if u.port else None),
            ("PGUSER", u.username),
            ("PGPASSWORD", u.password),
            ("PGDATABASE", u.database),
        ):
            if value:
                env[name] = str(value)
        for option, name in _QUERY_ENV.items():
            given = u.query.get(option)
            last = given[-1] if isinstance(given, tuple) and given else given
            if isinstance(last, str) and last:
                env[name] = last
        return env

    def _scrub(self, message: str) -> str:
        password = make_url(self.url).password
        tail = message.strip().splitlines()[-1] if message.strip() else "no message"
        return tail.replace(str(password), "****") if password else tail

    def dump(self, out: Path) -> None:
        """A consistent dump of the whole database into ``out`` (made owner-only first)."""
        program = _find("pg_dump", self.search_path)
        with out.open("xb") as fh, tempfile.TemporaryFile() as errors:
            out.chmod(0o600)
            proc = subprocess.run(  # noqa: S603 (fixed program and arguments, no shell)
                [
                    str(program),
                    "--format=plain",
                    "--no-owner",
                    "--no-privileges",
                    # Console sessions (where a version keeps them in the store): ephemeral.
                    "--exclude-table-data=console_sessions",
                ],
                env=self._env(),
                stdout=fh,
                stderr=errors,
                check=False,
            )
            if proc.returncode != 0:
                errors.seek(0)
                said = self._scrub(errors.read().decode("utf-8", "replace"))
                raise BackupError(
                    "failed",
                    f"pg_dump 未能导出数据库 {self.label}（{said}）；请检查数据库是否可达、"
                    "CERTLEDGER_DATABASE_URL 是否正确，以及 pg_dump 版本不低于服务器版本",
                    f"pg_dump could not dump the database {self.label} ({said}); check that "
                    "the database is reachable, CERTLEDGER_DATABASE_URL is right, and pg_dump "
                    "is not older than the server",
                )

    def require_empty(self) -> None:
        """Refuse a database that holds anything of its own (tables, sequences, views): a
        restore never mixes with another store, nor overwrites one."""
        try:
            engine = self.database.engine(pool_size=1)
            try:
                with engine.connect() as conn:
                    n = conn.execute(text(_COUNT_OWN)).scalar_one()
            finally:
                engine.dispose()
        except SQLAlchemyError as exc:
            raise self._unreachable(exc) from None
        if n:
            raise BackupError(
                "refused",
                f"目标数据库 {self.label} 不是空的（已有 {n} 个表、序列或视图）；"
                "恢复只写入空数据库：请新建一个空数据库并让 CERTLEDGER_DATABASE_URL 指向它",
                f"the target database {self.label} is not empty ({n} tables, sequences or "
                "views); a restore writes only into an empty database: create an empty one and "
                "point CERTLEDGER_DATABASE_URL at it",
            )

    def load(self, dump: IO[bytes]) -> None:
        """Replay a dump in one transaction: on any error nothing of it stays."""
        program = _find("psql", self.search_path)
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(  # noqa: S603 (fixed program and arguments, no shell)
                [
                    str(program),
                    "-X",
                    "-q",
                    "--single-transaction",
                    "-v",
                    "ON_ERROR_STOP=1",
                ],
                env=self._env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            assert proc.stdin is not None
            try:
                with proc.stdin:
                    shutil.copyfileobj(dump, proc.stdin, 1 << 20)
            except BrokenPipeError:
                pass  # psql stopped at an error: its exit status and message say which
            code = proc.wait()
            if code != 0:
                errors.seek(0)
                said = self._scrub(errors.read().decode("utf-8", "replace"))
                raise BackupError(
                    "failed",
                    f"psql 未能把存储写入数据库 {self.label}（{said}）；数据库未被改动",
                    f"psql could not load the store into the database {self.label} ({said}); "
                    "the database was left unchanged",
                )

    def drop_everything(self) -> None:
        """Undo a load whose restore failed afterwards: the database was empty before (see
        :meth:`require_empty`), so everything in its own schemas is the restore's."""
        engine = self.database.engine(pool_size=1)
        try:
            with engine.begin() as conn:
                rows = conn.execute(text(_LIST_OWN)).all()
                kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
                for schema, name, kind in rows:
                    what = kinds.get(kind, "SEQUENCE")
                    drop = f'DROP {what} IF EXISTS "{schema}"."{name}" CASCADE'
                    conn.execute(text(drop))
        finally:
            engine.dispose()

    def _unreachable(self, exc: BaseException) -> BackupError:
        orig = getattr(exc, "orig", None) or exc
        said = self._scrub(str(orig))
        return BackupError(
            "failed",
            f"无法连接数据库 {self.label}（{said}）；请检查 CERTLEDGER_DATABASE_URL 与数据库服务",
            f"cannot reach the database {self.label} ({said}); check CERTLEDGER_DATABASE_URL "
            "and the database server",
        )
