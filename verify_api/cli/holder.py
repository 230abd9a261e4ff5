"""`certledger holder-key rotate|rekey`: rotating the key of the holders' keyed digests."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from certificates import ConfigurationError, HolderKey, rekey_store, rotate_holder_key
from verify_api.cli import common

__all__ = ["holder_app"]

holder_app = typer.Typer(
    help="The holder key: the key of the holders' keyed digests (rotation, re-key)."
)

_ACTOR = "cli:operator"


@holder_app.command("rotate")
def rotate(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A new holder key for new certificates; the old one stays for matching until `rekey`.

    新证照使用新的持有人密钥；旧密钥在 `rekey` 之前仍用于匹配。
    """
    secret = common.require_passphrase()
    rt = common.runtime(keys=False)
    try:
        key = rotate_holder_key(rt.home.holder_key, secret, audit=rt.audit, actor=_ACTOR)
    except ConfigurationError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps({"retired_keys": key.retired_count}))
    else:
        typer.echo(
            f"new holder key in use; {key.retired_count} retired key(s) still matched. "
            "Restart the servers, then run `certledger holder-key rekey`."
        )


@holder_app.command("rekey")
def rekey(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute the stored digests under the current key, then delete the retired keys.

    按当前密钥重算本地存储中的持有人摘要，然后删除已停用的密钥。
    """
    rt = common.runtime(keys=True)
    try:
        key = HolderKey.load(rt.home.holder_key, common.require_passphrase())
        result = rekey_store(rt.store, key, rt.home.holder_key, audit=rt.audit, actor=_ACTOR)
    except ConfigurationError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
    finally:
        rt.close()
    if as_json:
        typer.echo(
            json.dumps(
                {"rows": result.rows, "rekeyed": result.rekeyed, "forgotten": result.forgotten}
            )
        )
    else:
        typer.echo(
            f"{result.rekeyed} of {result.rows} stored digests recomputed; "
            f"{result.forgotten} retired key(s) deleted"
        )
