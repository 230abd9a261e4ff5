"""`certledger backup` and `certledger restore`: a consistent copy of a deployment that keeps
serving, and bringing it up again in an empty data directory.

What is copied: the embedded ledger and a SQLite store, each with SQLite's online backup (one
read transaction: a consistent snapshot while the service writes on), or the PostgreSQL store
with ``pg_dump``; then every other file of the data directory: settings, the PKI (its keys are
encrypted under the deployment's passphrase), the wrapped holder and data keys, trust roots.
What is not: the browser consoles' sessions (``console-sessions.sqlite``, or their table in the
store, emptied on restore: ephemeral, a restored deployment asks its users to sign in again),
the offline root CA directory beside the data directory (``<home>.root-ca``: it belongs on
offline media, kept apart from the online data on purpose), and a Fabric network directory (its
peers' ledgers are not copied by this version).

The order, and why the restored pair of ledger and store is consistent
------------------------------------------------------------------------
Two writers order their writes between the two databases in opposite ways:

* a certificate is stored first (``pending``) and anchored on the ledger afterwards, then
  marked ``anchored`` in the store: the store runs *ahead* of the ledger;
* the audit log's head is anchored on the ledger only after its entries are in the store:
  ``audit verify`` then needs every entry up to the anchored one in the store, and refuses a
  ledger that anchored more entries than the store holds.

Copying the store first would give a ledger copy that may anchor an audit head the store copy
does not reach yet (the server anchors it every minute): ``audit verify`` would fail for ever,
and the ledger cannot be edited (its blocks are signed and chained). So the **ledger is copied
first**, then the store. The store copy is then a superset: every audit entry the ledger copy
anchors is in it (the log is append-only), and every certificate on the ledger copy is in it.
What the store copy has *beyond* the ledger copy is settled on restore, in the store (plain rows
that may be changed):

* a row marked ``anchored`` whose certificate is not on the restored ledger (anchored between
  the two copies) is set back to ``pending``: `certledger anchor` or the server's anchoring
  loop anchors it again, once (same entry, new block);
* a row still ``pending`` in the copy whose certificate the ledger copy already holds (the
  service died, or was copied, between the ledger's commit and the store's update) stays
  pending: anchoring an identical entry again is idempotent on the contract, it returns the
  existing record's receipt and writes nothing, so there is no double;
* a status the store mirrors (revoked, suspended) is set to the ledger's, the authority.

Files come last: a rotated holder key file keeps the retired keys until `holder-key rekey`, so
a newer key file still matches the older store.

A restore checks every file against the manifest's SHA-256 before writing anything, refuses a
data directory that is not empty (and a PostgreSQL database that is not), builds the new data
directory in a temporary sibling and renames it into place last: a failed restore leaves no
half-restored directory (and drops what it loaded into the empty database).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from certificates.backup.errors import BackupError
from certificates.backup.manifest import (
    HOME_PREFIX,
    MANIFEST,
    PG_DUMP,
    BackupSource,
    FileEntry,
    Manifest,
    open_source,
    sha256_of,
)
from certificates.backup.postgres import PostgresTools
from certificates.errors import ConfigurationError
from certificates.home import Home, Settings
from certificates.store.database import ANCHORED, PENDING, Store
from certificates.store.engine import Database
from ledger import EmbeddedLedger, LedgerError
from signing import load_certificate

__all__ = ["BackupResult", "RestoreResult", "create_backup", "restore_backup"]

# Files of the data directory's top level that are not copied as files: the two databases are
# copied through SQLite's online backup, the console sessions not at all (ephemeral).
_DATABASES = ("ledger.db", "certificates.db")
_NOT_COPIED = (*_DATABASES, "console-sessions.sqlite")
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")
# Top-level directories not copied: a Fabric test network's peers, orderers and their ledgers.
_NOT_COPIED_DIRS = ("fabric-network",)
_EXCLUDED_NOTE = (
    "console-sessions.sqlite: browser console sessions (ephemeral; users log in again)",
    "<home>.root-ca: the offline root CA key, kept on offline media and backed up apart",
    "fabric-network/: a Fabric network's peers and ledgers",
)
_UPDATE_CHUNK = 500
_SESSIONS_TABLE = "console_sessions"


@dataclass(frozen=True)
class BackupResult:
    where: Path
    manifest: Manifest

    def to_json(self) -> dict[str, Any]:
        return {
            "backup": str(self.where),
            "created_at": self.manifest.created_at,
            "store": self.manifest.store,
            "ledger": self.manifest.ledger,
            "deployment": self.manifest.deployment,
            "files": len(self.manifest.files),
            "bytes": sum(f.size for f in self.manifest.files),
            "excluded": list(self.manifest.excluded),
        }


@dataclass(frozen=True)
class RestoreResult:
    home: Path
    manifest: Manifest
    certificates: int  # rows in the restored store
    pending: int  # of them waiting to be anchored (`certledger anchor`, or the server)
    set_pending: int  # anchored in the store copy but not on the ledger copy: set pending
    statuses: int  # mirrored statuses set to the ledger's

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "backup_created_at": self.manifest.created_at,
            "store": self.manifest.engine,
            "certificates": self.certificates,
            "pending": self.pending,
            "set_pending": self.set_pending,
            "statuses_from_ledger": self.statuses,
        }


# -- backup ------------------------------------------------------------------------------------


def create_backup(
    home: Home,
    dest: Path,
    *,
    database_url: str | None = None,
    ledger_backend: str | None = None,
    agency: str | None = None,
    search_path: str | None = None,
) -> BackupResult:
    """Copy the deployment at ``home`` into ``dest`` (a new directory, or a ``.tar`` file),
    while it keeps serving. ``database_url``: the PostgreSQL store, when it is there;
    ``ledger_backend``: the process's override of settings.json; ``search_path``: where to
    look for pg_dump besides the PostgreSQL installation (the edge's PATH)."""
    settings = _settings(home, ledger_backend)
    if settings.ledger_backend != "embedded":
        raise BackupError(
            "refused",
            f"账本后端为 {settings.ledger_backend}：本版本尚不能备份 Fabric 节点账本（需要节点"
            "快照），未写入任何内容；请按 Fabric 的运维方式为各节点做快照，并单独备份数据库",
            f"the ledger backend is {settings.ledger_backend}: backing up a Fabric peer's "
            "ledger (a peer snapshot) is not implemented yet, and nothing was written; "
            "snapshot the peers the Fabric way and back up the database on its own",
        )
    dest = dest.expanduser().absolute()
    tar = dest.suffix == ".tar"
    _refuse_dest(home, dest, tar=tar)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        staging.chmod(0o700)
        manifest = _write_backup(
            home, staging, settings.base_url, database_url, agency, search_path
        )
        if tar:
            _tar_into(staging, dest)
            shutil.rmtree(staging)
        else:
            os.rename(staging, dest)  # an empty directory at dest is replaced
            _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BackupResult(dest, manifest)


def _settings(home: Home, ledger_backend: str | None) -> Settings:
    if not home.exists():
        raise BackupError(
            "refused",
            f"{home.root} 中没有 certledger 部署："
            "请用 --home 或 CERTLEDGER_HOME 指向要备份的数据目录",
            f"there is no certledger deployment at {home.root}: point --home or "
            "CERTLEDGER_HOME at the data directory to back up",
        )
    try:
        return home.settings(ledger_backend=ledger_backend)
    except ConfigurationError as exc:
        raise BackupError(
            "refused",
            f"无法读取 {home.settings_file}（{exc}）；请修复该部署的设置后再备份",
            f"cannot read {home.settings_file} ({exc}); repair the deployment's settings, "
            "then back up",
        ) from None


def _refuse_dest(home: Home, dest: Path, *, tar: bool) -> None:
    if dest.resolve().is_relative_to(home.root.resolve()):
        raise BackupError(
            "refused",
            f"备份位置 {dest} 位于数据目录 {home.root} 之内；请选择数据目录之外的位置",
            f"the backup location {dest} is inside the data directory {home.root}; choose a "
            "place outside it",
        )
    taken = dest.exists() and (tar or not dest.is_dir() or any(dest.iterdir()))
    if taken:
        raise BackupError(
            "refused",
            f"{dest} 已存在且不为空；备份不会覆盖任何内容：请给出新的目录或文件名",
            f"{dest} already exists and is not empty; a backup overwrites nothing: give a new "
            "directory or file name",
        )


def _write_backup(
    home: Home,
    staging: Path,
    base_url: str,
    database_url: str | None,
    agency: str | None,
    search_path: str | None,
) -> Manifest:
    out = staging / HOME_PREFIX.rstrip("/")
    out.mkdir(mode=0o700)
    entries: list[FileEntry] = []
    # 1. The ledger, first (see the module's docstring for why this order).
    _copy_sqlite(home.ledger, out / "ledger.db", "ledger")
    entries.append(_entry(staging, out / "ledger.db", 0o600))
    with contextlib.closing(sqlite3.connect(out / "ledger.db")) as conn:
        head = conn.execute("SELECT max(number) FROM blocks").fetchone()[0]
    # 2. Then the store: a later snapshot than the ledger's.
    database = Database.choose(home.database, database_url)
    if database.is_postgres:
        assert database_url is not None
        PostgresTools(database_url, search_path).dump(staging / PG_DUMP)
        entries.append(_entry(staging, staging / PG_DUMP, 0o600))
    else:
        _copy_sqlite(home.database, out / "certificates.db", "store")
        _drop_sessions(out / "certificates.db")
        entries.append(_entry(staging, out / "certificates.db", 0o600))
    # 3. Then every other file of the data directory.
    skipped = _copy_files(home.root, out, staging, entries)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        deployment={
            "root_ca_sha256": _root_fingerprint(home),
            "agency": agency,
            "base_url": base_url,
        },
        store={
            "engine": "postgresql" if database.is_postgres else "sqlite",
            "from": database.label,
        },
        ledger={"backend": "embedded", "head_block": head},
        files=tuple(entries),
        excluded=(*_EXCLUDED_NOTE, *skipped),
    )
    _write_private(staging / MANIFEST, json.dumps(manifest.to_json(), indent=2).encode())
    _private_dirs(staging)
    _fsync_dir(staging)
    return manifest


def _copy_sqlite(src: Path, dst: Path, what: str) -> None:
    """A consistent copy of a live SQLite database, through SQLite's online backup: one step,
    so one read transaction (in WAL mode writers go on meanwhile). The copy is one file
    (rollback journal mode), owner-only, checked with ``quick_check``."""
    if not src.is_file():
        raise BackupError(
            "refused",
            f"找不到{'账本' if what == 'ledger' else '证照存储'}文件 {src}；该数据目录不完整",
            f"the {what} file {src} is missing; the data directory is incomplete",
        )
    _write_private(dst, b"")
    try:
        # mode=rw: never creates a database where there was none.
        with (
            contextlib.closing(
                sqlite3.connect(f"{src.resolve().as_uri()}?mode=rw", uri=True, timeout=60)
            ) as source,
            contextlib.closing(sqlite3.connect(dst)) as target,
        ):
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
            check = target.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(
            "failed",
            f"无法复制 {src}（{exc}）；请稍后重试",
            f"cannot copy {src} ({exc}); try again later",
        ) from None
    if check != "ok":
        raise BackupError(
            "failed",
            f"{src} 的副本未通过完整性检查（{check}）；原文件可能已损坏，请检查后重试",
            f"the copy of {src} fails SQLite's integrity check ({check}); the database may be "
            "damaged: check it, then try again",
        )
    _fsync(dst)


def _drop_sessions(copy: Path) -> None:
    """The console sessions out of the store's copy (where a version keeps them there)."""
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        if conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_SESSIONS_TABLE,)
        ).fetchone():
            conn.execute(f"DELETE FROM {_SESSIONS_TABLE}")  # noqa: S608 (a constant)
            conn.commit()
            conn.execute("VACUUM")  # and their pages too


def _copy_files(root: Path, out: Path, staging: Path, entries: list[FileEntry]) -> list[str]:
    """Every regular file of the data directory but the databases (copied above) and what is
    never copied; returns what was skipped for not being a regular file (a socket, a link)."""
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in _NOT_COPIED_DIRS]
        dirnames.sort()
        for name in sorted(filenames):
            if rel == Path(".") and any(
                name == base + side for base in _NOT_COPIED for side in _SQLITE_SIDE_FILES
            ):
                continue
            src = here / name
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode):
                skipped.append(f"{(rel / name).as_posix()}: not a regular file")
                continue
            dst = out / rel / name
            dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with src.open("rb") as fh:
                _write_private(dst, fh)
            entries.append(_entry(staging, dst, stat.S_IMODE(st.st_mode)))
    return skipped


def _entry(staging: Path, path: Path, mode: int) -> FileEntry:
    with path.open("rb") as fh:
        digest, size = sha256_of(fh)
    return FileEntry(path.relative_to(staging).as_posix(), digest, size, mode)


def _root_fingerprint(home: Home) -> str | None:
    try:
        cert = load_certificate(home.pki / "root-ca.pem")
    except (OSError, ValueError):
        return None
    return cert.fingerprint(hashes.SHA256()).hex()


def _tar_into(staging: Path, dest: Path) -> None:
    """The staged backup as one .tar (written beside, then renamed: never half a file)."""
    part = dest.with_name(f".{dest.name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                    info = tar.gettarinfo(path, arcname=path.relative_to(staging).as_posix())
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                    with path.open("rb") as data:
                        tar.addfile(info, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(part, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


# -- restore -----------------------------------------------------------------------------------


def restore_backup(
    source: Path,
    home: Home,
    *,
    database_url: str | None = None,
    search_path: str | None = None,
) -> RestoreResult:
    """Bring the backup at ``source`` up in ``home``, which must be empty or absent;
    ``database_url``: the empty PostgreSQL database for a backup whose store was there."""
    src = open_source(source.expanduser().absolute())
    try:
        manifest = src.manifest()
        src.check(manifest)  # every digest, before anything is written
        tools = _refuse_target(manifest, home, database_url, search_path)
        return _restore(src, manifest, home, database_url, tools)
    finally:
        src.close()


def _refuse_target(
    manifest: Manifest, home: Home, database_url: str | None, search_path: str | None
) -> PostgresTools | None:
    if manifest.ledger.get("backend") != "embedded":
        raise BackupError(
            "refused",
            f"该备份的账本后端为 {manifest.ledger.get('backend')}，本版本不能恢复",
            f"the backup's ledger backend is {manifest.ledger.get('backend')}; this version "
            "cannot restore it",
        )
    root = home.root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BackupError(
            "refused",
            f"目标数据目录 {root} 已存在且不为空；恢复只写入空目录，未写入任何内容："
            "请用 --home 指定一个新的（或空的）目录",
            f"the target data directory {root} exists and is not empty; a restore writes "
            "only into an empty one, and nothing was written: give a new (or empty) "
            "directory with --home",
        )
    if manifest.engine == "postgresql":
        if database_url is None:
            raise BackupError(
                "refused",
                "该备份的证照存储在 PostgreSQL 中："
                "请将 CERTLEDGER_DATABASE_URL 设为一个新建的空数据库",
                "the backup's store is a PostgreSQL database: set CERTLEDGER_DATABASE_URL to a "
                "new, empty database",
            )
        tools = PostgresTools(database_url, search_path)
        tools.require_empty()
        return tools
    if database_url is not None:
        raise BackupError(
            "refused",
            "该备份的证照存储是数据目录中的 SQLite 文件，而 CERTLEDGER_DATABASE_URL 已设置："
            "请取消该变量后再恢复（本版本不在两种数据库之间转换）",
            "the backup's store is a SQLite file in the data directory, but "
            "CERTLEDGER_DATABASE_URL is set: unset it to restore (this version does not convert "
            "between the two engines)",
        )
    return None


def _restore(
    src: BackupSource,
    manifest: Manifest,
    home: Home,
    database_url: str | None,
    tools: PostgresTools | None,
) -> RestoreResult:
    root = home.root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.restoring-", dir=root.parent))
    loaded = False
    try:
        staging.chmod(0o700)
        for entry in manifest.files:
            if entry.path.startswith(HOME_PREFIX):
                _restore_file(src, entry, staging / entry.path.removeprefix(HOME_PREFIX))
        if tools is not None:
            with src.open(PG_DUMP) as dump:
                loaded = True  # from here on, a failure drops what psql loaded
                tools.load(dump)
        staged = Home(staging)
        counts = _reconcile(staged, database_url)
        for db in _DATABASES:
            if (staging / db).exists():
                _use_wal(staging / db)
        _private_dirs(staging)
        os.rename(staging, root)  # replaces an empty directory at root, atomically
        _fsync_dir(root.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if loaded and tools is not None:
            with contextlib.suppress(SQLAlchemyError):
                tools.drop_everything()
        raise
    return RestoreResult(root, manifest, *counts)


def _restore_file(src: BackupSource, entry: FileEntry, dst: Path) -> None:
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Never more than the original had, never group or world writable: keys stay 0600.
    mode = entry.mode & 0o644
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as out, src.open(entry.path) as fh:
        shutil.copyfileobj(fh, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    with dst.open("rb") as fh:  # read again: the backup may have changed since the check
        if sha256_of(fh) != (entry.sha256, entry.size):
            raise BackupError(
                "tampered",
                f"备份文件 {entry.path} 在恢复过程中发生变化；未恢复任何内容",
                f"the backup file {entry.path} changed during the restore; nothing was restored",
            )


def _reconcile(home: Home, database_url: str | None) -> tuple[int, int, int, int]:
    """Settle the store copy against the (earlier) ledger copy; see the module docstring.
    Returns (rows, pending, set pending, statuses from the ledger)."""
    try:
        ledger = EmbeddedLedger.open_readonly(
            home.ledger, load_certificate(home.pki / "ledger-node.pem")
        )
    except (LedgerError, OSError, ValueError) as exc:
        raise BackupError(
            "failed",
            f"无法打开恢复出的账本（{exc}）；未恢复任何内容",
            f"cannot open the restored ledger ({exc}); nothing was restored",
        ) from None
    try:
        store = Store.open(home.database, url=database_url)
    except ConfigurationError as exc:
        ledger.close()
        raise BackupError(
            "failed",
            f"无法打开恢复出的证照存储（{exc}）；未恢复任何内容",
            f"cannot open the restored store ({exc}); nothing was restored",
        ) from None
    try:
        with store.session() as s:
            rows = s.connection().execute(text("SELECT id, state, status FROM certificates")).all()
        set_pending: list[str] = []
        statuses: list[dict[str, Any]] = []
        for cert_id, state, status in rows:
            if state != ANCHORED:
                continue
            record = ledger.get(cert_id)
            if record is None:
                set_pending.append(cert_id)
            elif record.status != status:
                statuses.append({"id": cert_id, "st": record.status, "r": record.reason})
        _update(
            store,
            "UPDATE certificates SET state = :pending, anchored_tx = NULL, "
            "anchored_block = NULL, anchored_at = NULL, proof_json = NULL WHERE id = :id",
            [{"id": c, "pending": PENDING} for c in set_pending],
        )
        _update(
            store,
            "UPDATE certificates SET status = :st, status_reason = :r WHERE id = :id",
            statuses,
        )
        pending = sum(1 for _, state, _ in rows if state != ANCHORED) + len(set_pending)
        _forget_sessions(store)
    except (SQLAlchemyError, LedgerError) as exc:
        raise BackupError(
            "failed",
            f"无法核对恢复出的证照存储与账本（{type(exc).__name__}）；未恢复任何内容",
            f"cannot reconcile the restored store with the ledger ({type(exc).__name__}); "
            "nothing was restored",
        ) from None
    finally:
        store.close()
        ledger.close()
    return len(rows), pending, len(set_pending), len(statuses)


def _forget_sessions(store: Store) -> None:
    """Console sessions kept in the store (where a version keeps them there) are not restored:
    they are ephemeral, and a restored deployment has everyone sign in again."""
    with store.session() as s:
        conn = s.connection()
        if inspect(conn).has_table(_SESSIONS_TABLE):
            conn.execute(text(f"DELETE FROM {_SESSIONS_TABLE}"))  # noqa: S608 (a constant)
        s.commit()


def _update(store: Store, statement: str, params: Sequence[dict[str, Any]]) -> None:
    if not params:
        return
    with store.session() as s:
        conn = s.connection()
        for start in range(0, len(params), _UPDATE_CHUNK):
            conn.execute(text(statement), list(params[start : start + _UPDATE_CHUNK]))
        s.commit()


def _use_wal(path: Path) -> None:
    """Back to WAL, as the service runs its databases (readers beside a writer)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


# -- files -------------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes | Any) -> None:
    """A new owner-only file (the mode set regardless of the umask), flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


def _private_dirs(root: Path) -> None:
    """Every directory owner-only (``mkdir(parents=True)`` gives the parents it makes the
    umask's mode), and on disk."""
    for dirpath, _, _ in os.walk(root, topdown=False):
        os.chmod(dirpath, 0o700)
        _fsync_dir(Path(dirpath))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(path)
