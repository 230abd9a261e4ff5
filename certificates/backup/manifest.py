"""What a backup holds, and reading one back (a directory, or the same as a .tar).

A backup is a directory with ``manifest.json`` and the files it lists: ``home/...`` mirrors the
data directory (the ledger and a SQLite store as consistent copies), ``store.sql`` is the
PostgreSQL store's dump when the store is there. The manifest gives each file's SHA-256, size and
mode; a restore reads every file against it before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from certificates.backup.errors import BackupError

__all__ = [
    "FORMAT",
    "HOME_PREFIX",
    "MANIFEST",
    "PG_DUMP",
    "VERSION",
    "BackupSource",
    "FileEntry",
    "Manifest",
    "open_source",
]

FORMAT = "certledger-backup"
VERSION = 1
MANIFEST = "manifest.json"
HOME_PREFIX = "home/"
PG_DUMP = "store.sql"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the backup's root, POSIX separators
    sha256: str
    size: int
    mode: int  # permission bits the file had in the data directory

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "mode": oct(self.mode)}


@dataclass(frozen=True)
class Manifest:
    created_at: str
    deployment: dict[str, Any]  # root CA fingerprint, agency, base URL
    store: dict[str, Any]  # engine, label (never a password), schema revision
    ledger: dict[str, Any]  # backend, head block of the copy
    files: tuple[FileEntry, ...]
    excluded: tuple[str, ...]

    @property
    def engine(self) -> str:
        return str(self.store["engine"])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "created_at": self.created_at,
            "deployment": self.deployment,
            "store": self.store,
            "ledger": self.ledger,
            "order": [
                "ledger (SQLite online backup)",
                "store (SQLite online backup, or pg_dump)",
                "files",
            ],
            "files": [f.to_json() for f in self.files],
            "excluded": list(self.excluded),
        }

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
            if body.get("format") != FORMAT:
                raise ValueError("not a certledger backup manifest")
            if body.get("version") != VERSION:
                raise BackupError(
                    "refused",
                    f"该备份的格式版本为 {body.get('version')!r}，本版本只能恢复版本 {VERSION}；"
                    "请使用创建该备份的 certledger 版本恢复",
                    f"the backup has format version {body.get('version')!r}; this version "
                    f"restores version {VERSION}: restore it with the certledger that made it",
                )
            files = tuple(
                FileEntry(
                    path=_safe_path(str(f["path"])),
                    sha256=str(f["sha256"]),
                    size=int(f["size"]),
                    mode=int(str(f["mode"]), 8) & 0o777,
                )
                for f in body["files"]
            )
            return cls(
                created_at=str(body["created_at"]),
                deployment=dict(body["deployment"]),
                store=dict(body["store"]),
                ledger=dict(body["ledger"]),
                files=files,
                excluded=tuple(str(x) for x in body.get("excluded", ())),
            )
        except BackupError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(
                "tampered",
                f"备份清单 {MANIFEST} 无法读取（{exc}）；该目录不是完整的 certledger 备份",
                f"the backup's {MANIFEST} is unreadable ({exc}); this is not a whole "
                "certledger backup",
            ) from None


def _safe_path(raw: str) -> str:
    """A listed path stays inside the backup: relative, no ``..``, under home/ or the dump."""
    p = PurePosixPath(raw)
    if (
        p.is_absolute()
        or ".." in p.parts
        or not p.parts
        or not (raw.startswith(HOME_PREFIX) or raw == PG_DUMP)
    ):
        raise ValueError(f"the listed path {raw!r} is not a backup file")
    return str(p)


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class BackupSource:
    """A backup to read: its files by listed path, from a directory or a .tar."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def names(self) -> set[str]:
        raise NotImplementedError

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        raise NotImplementedError
        yield  # pragma: no cover

    def close(self) -> None:
        pass

    def manifest(self) -> Manifest:
        if MANIFEST not in self.names():
            raise BackupError(
                "unreadable",
                f"{self.where} 中没有 {MANIFEST}：它不是 certledger 备份",
                f"{self.where} holds no {MANIFEST}: it is not a certledger backup",
            )
        with self.open(MANIFEST) as fh:
            return Manifest.from_bytes(fh.read())

    def check(self, manifest: Manifest) -> None:
        """Every listed file is there with its digest, and nothing else is: before anything
        is written, so a tampered or incomplete backup restores nothing."""
        listed = {f.path for f in manifest.files}
        extra = sorted(self.names() - listed - {MANIFEST})
        if extra:
            shown = ", ".join(extra[:5])
            raise _tampered(self.where, f"清单之外的文件：{shown}", f"files not listed: {shown}")
        for entry in manifest.files:
            if entry.path not in self.names():
                raise _tampered(self.where, f"缺少 {entry.path}", f"{entry.path} is missing")
            with self.open(entry.path) as fh:
                digest, size = sha256_of(fh)
            if (digest, size) != (entry.sha256, entry.size):
                raise _tampered(
                    self.where,
                    f"{entry.path} 的 SHA-256 与清单不符",
                    f"{entry.path} does not match its SHA-256",
                )


def _tampered(where: Path, zh: str, detail: str) -> BackupError:
    return BackupError(
        "tampered",
        f"备份 {where} 与其清单不符（{zh}）：它已被改动或不完整，未恢复任何内容；请使用另一份备份",
        f"the backup {where} does not match its manifest ({detail}): it was altered or is "
        "incomplete, and nothing was restored; use another backup",
    )


class _DirSource(BackupSource):
    def names(self) -> set[str]:
        out = set()
        for p in self.where.rglob("*"):
            if p.is_symlink() or not p.is_dir():
                out.add(p.relative_to(self.where).as_posix())
        return out

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        path = self.where / name
        if path.is_symlink():
            raise _tampered(self.where, f"{name} 是符号链接", f"{name} is a symbolic link")
        with path.open("rb") as fh:
            yield fh


class _TarSource(BackupSource):
    def __init__(self, where: Path) -> None:
        super().__init__(where)
        self._tar = tarfile.open(where, "r:")  # noqa: SIM115 (closed by close())
        self._members = {
            m.name.removeprefix("./"): m for m in self._tar.getmembers() if not m.isdir()
        }

    def names(self) -> set[str]:
        return set(self._members)

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        member = self._members[name]
        fh = self._tar.extractfile(member) if member.isfile() else None
        if fh is None:
            raise _tampered(self.where, f"{name} 不是普通文件", f"{name} is not a regular file")
        with fh:
            yield fh

    def close(self) -> None:
        self._tar.close()


def open_source(where: Path) -> BackupSource:
    """The backup at ``where``: a directory, or a .tar file."""
    try:
        if where.is_dir():
            return _DirSource(where)
        if where.is_file():
            return _TarSource(where)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(
            "unreadable",
            f"无法读取备份 {where}（{exc}）：它既不是备份目录也不是备份 .tar 文件",
            f"cannot read the backup {where} ({exc}): it is neither a backup directory nor "
            "a backup .tar",
        ) from None
    raise BackupError(
        "unreadable",
        f"找不到备份 {where}：请给出 `certledger backup` 写出的目录或 .tar 文件",
        f"there is no backup at {where}: give the directory or .tar that `certledger backup` wrote",
    )
