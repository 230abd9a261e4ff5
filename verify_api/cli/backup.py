"""`certledger backup` and `certledger restore` (certificates.backup): parse, call, print."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from certificates.backup import BackupError, create_backup, restore_backup
from verify_api.cli import common

__all__ = ["register"]

_EXIT = {
    "unreadable": common.EXIT_UNREADABLE,
    "tampered": common.EXIT_BAD_INPUT,
    "refused": common.EXIT_CONFIG,
    "failed": common.EXIT_CONFIG,
}


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def _fail(exc: BackupError) -> NoReturn:
    common.fail(f"{exc.en}\n       {exc.zh}", _EXIT[exc.kind])


def _database_url() -> str | None:
    url = common.settings().database_url
    return url.reveal() if url is not None else None


def backup(
    dest: Annotated[
        Path, typer.Argument(help="a new directory for the backup, or a file name ending in .tar")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Copy the deployment consistently while it keeps serving: the ledger, the store (SQLite
    online backup, or pg_dump with CERTLEDGER_DATABASE_URL), keys, PKI and settings. Not the
    offline root CA directory, nor the consoles' sessions.

    在服务继续签发的同时做一份一致的部署备份：账本、证照存储、密钥、PKI 与设置；
    不含离线根 CA 目录与控制台会话。
    """
    config = common.settings()
    try:
        result = create_backup(
            common.home(),
            dest,
            database_url=_database_url(),
            ledger_backend=config.ledger_backend,
            agency=config.agency,
            search_path=os.environ.get("PATH"),
        )
    except BackupError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    body = result.to_json()
    typer.echo(
        f"backup written to {body['backup']}: {body['files']} files, {body['bytes']} bytes "
        f"(store: {body['store']['engine']}, ledger up to block {body['ledger']['head_block']})"
    )
    typer.echo("not in it: the offline root CA directory (keep it on its offline media)")


def restore(
    source: Annotated[Path, typer.Argument(help="the backup directory or .tar")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Bring a backup up in an empty data directory (--home), and with a PostgreSQL store in
    the empty database of CERTLEDGER_DATABASE_URL. Every file is checked first.

    将备份恢复到空的数据目录（--home）；PostgreSQL 存储恢复到 CERTLEDGER_DATABASE_URL
    指向的空数据库。写入之前先核对每个文件的摘要。
    """
    home = common.home()
    try:
        result = restore_backup(
            source, home, database_url=_database_url(), search_path=os.environ.get("PATH")
        )
    except BackupError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"restored {result.certificates} certificate(s) into {result.home} "
        f"(backup of {result.manifest.created_at})"
    )
    if result.pending:
        typer.echo(
            f"{result.pending} certificate(s) wait to be anchored: run `certledger anchor` "
            "(or start the server, which anchors them)"
        )
