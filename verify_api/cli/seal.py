"""`certledger seal …` and `certledger ltv …`: the seal-key and time-stamp life cycle.

Each command parses its options, calls one method of :class:`certificates.seals.SealKeyService`
(which audits the change) and prints the result. ``seal revoke --since T`` is the
key-compromise procedure: the seal certificate is revoked from T, and every certificate that
key sealed from T on is revoked on the ledger in one transaction, each audited and notified.

``seal arl`` is the one offline step: it signs with the root CA key, which `certledger init`
wrote to a separate offline directory, and takes that directory explicitly (``--offline-dir``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from certificates import KEY_COMPROMISE, Principal, SealKeyError, SealLedgerError, SealRotation
from verify_api.cli import common
from verify_api.runtime import Runtime

__all__ = ["ltv_app", "seal_app"]

seal_app = typer.Typer(
    help="Seal keys: revoke (with a key-compromise window), publish CRLs; `seal arl` is the "
    "offline step that needs the root CA key."
)
ltv_app = typer.Typer(help="Long-term validation of stored certificates.")

OPERATOR = "cli:operator"  # the audit's client id for changes that belong to no one agency
# `seal crl` warns this long before the root's ARL (valid a year) expires.
ARL_WARNING = timedelta(days=30)


def _parse_time(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        common.fail(f"--since {raw!r} is not an ISO 8601 time (e.g. 2026-03-01T08:00:00+08:00)")
    if value.tzinfo is None:
        common.fail("--since needs a time zone (e.g. +08:00 or Z); a bare local time is ambiguous")
    return value.astimezone(UTC)


def _fail(exc: SealKeyError) -> None:
    common.fail(
        exc.en, common.EXIT_LEDGER if isinstance(exc, SealLedgerError) else common.EXIT_CONFIG
    )


def _open() -> Runtime:
    return common.runtime(keys=True)


@seal_app.command("revoke")
def revoke(
    agency: Annotated[str, typer.Option(help="agency whose seal certificate to revoke")],
    reason: Annotated[
        str, typer.Option(help="RFC 5280 reason: keyCompromise, superseded, …")
    ] = KEY_COMPROMISE,
    since: Annotated[
        str | None,
        typer.Option(
            help="ISO 8601 time the key is known compromised from (key-compromise window)"
        ),
    ] = None,
    seal_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="SHA-256 fingerprint of a retired seal certificate to revoke instead of the "
            "current one (as `seal rotate` lists them)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revoke an agency's seal certificate (the current one, or a retired one by
    --fingerprint); with --since also revoke on the ledger every certificate it sealed from
    then on."""
    start = _parse_time(since) if since is not None else None
    rt = _open()
    try:
        done = rt.seal_keys().revoke_seal(
            Principal.operator(agency),
            reason=reason,
            since=start,
            seal_fingerprint=seal_fingerprint,
        )
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    result: dict[str, Any] = {
        "agency": done.agency,
        "seal_fingerprint": done.seal_fingerprint,
        "serial": done.serial,
        "revoked_at": done.revoked_at.isoformat(),
        "reason": done.reason,
        "certificates_revoked": list(done.certificates_revoked),
    }
    if done.receipt is not None:
        result["ledger"] = {"tx_id": done.receipt.tx_id, "block": done.receipt.block_number}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"revoked the seal certificate of {agency} (serial {done.serial}) from "
        f"{result['revoked_at']}, reason {done.reason}"
    )
    if start is not None:
        ids = done.certificates_revoked
        typer.echo(f"{len(ids)} certificate(s) sealed with it since {start.isoformat()}:")
        for cert_id in ids:
            typer.echo(f"  {cert_id}")


@seal_app.command("crl")
def crl() -> None:
    """Re-publish the issuing CA's CRL (run daily, e.g. from cron) and report when the root's
    ARL expires. The ARL itself is re-signed offline, yearly: `seal arl --offline-dir DIR`."""
    rt = _open()
    try:
        service = rt.seal_keys()
        paths = service.publish_crls()
        arl_until = service.arl_next_update()
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    for path in paths:
        typer.echo(f"published {path}")
    if arl_until is None:
        return
    left = arl_until - datetime.now(UTC)
    if left > ARL_WARNING:
        typer.echo(f"root ARL valid until {arl_until.isoformat()} (re-signed offline: `seal arl`)")
        return
    state, state_zh = ("expired on", "已于") if left <= timedelta(0) else ("expires on", "将于")
    typer.secho(
        f"warning: the root CA's ARL {state} {arl_until.isoformat()}; re-sign it with the "
        "offline root key: `certledger seal arl --offline-dir DIR`\n"
        f"警告：根 CA 的吊销列表{state_zh} {arl_until.isoformat()} 过期；请用离线根密钥重新签发："
        "`certledger seal arl --offline-dir DIR`",
        err=True,
        fg=typer.colors.YELLOW,
    )


def offline_step_refusal(command: str, option: str = "--offline-dir") -> str:
    """The message of a root-key operation run without the offline root key (en and zh)."""
    return (
        f"`certledger {command}` is an offline step: it signs with the root CA key, which is "
        f"not kept in the data directory. Mount the offline media and pass {option} DIR (the "
        "directory `certledger init` wrote root-ca.key.pem to)\n"
        f"`certledger {command}` 是离线操作，需要根 CA 私钥（不在数据目录中）。请挂载离线介质，"
        f"并用 {option} DIR 指定 `certledger init` 写入 root-ca.key.pem 的目录"
    )


@seal_app.command("arl")
def arl(
    offline_dir: Annotated[
        Path | None,
        typer.Option(
            "--offline-dir",
            help="the offline directory holding root-ca.key.pem (or the key file itself)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """OFFLINE STEP: re-sign the root's ARL (crl/root-ca.crl, valid a year) with the root CA
    key. Run it yearly, before `seal crl` reports the ARL expiring, and after the root revokes
    a CA certificate."""
    if offline_dir is None:
        common.fail(offline_step_refusal("seal arl"), common.EXIT_CONFIG)
    rt = _open()
    try:
        path, until = rt.seal_keys().publish_arl(OPERATOR, offline_dir)
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    shown = until.isoformat() if until else None
    if as_json:
        typer.echo(json.dumps({"published": str(path), "valid_until": shown}, indent=2))
        return
    typer.echo(f"published {path}, valid until {shown}")
    typer.echo("move the root CA key back to offline storage / 请将根 CA 私钥放回离线存储")


def _rotation_json(done: SealRotation) -> dict[str, Any]:
    return {
        "agency": done.agency,
        "old": done.old.to_dict(),
        "new": done.new.to_dict(),
        "ledger": {"tx_id": done.receipt.tx_id, "block": done.receipt.block_number},
    }


@seal_app.command("rotate")
def rotate(
    agency: Annotated[str, typer.Option(help="agency that gets a new seal key and certificate")],
    register_only: Annotated[
        bool,
        typer.Option(help="only register the current seal on the ledger (after a failed rotate)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """New seal key and certificate for an agency. Certificates sealed with the old one still
    verify: the ledger's agency registry lists both, with their validity periods. Restart
    `certledger serve` afterwards so it seals with the new key."""
    rt = _open()
    try:
        done = rt.seal_keys().rotate(Principal.operator(agency), register_only=register_only)
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    result = _rotation_json(done)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{agency}: new seal {result['new']['fingerprint']} registered on the ledger")
    typer.echo(f"  old seal {result['old']['fingerprint']} stays listed (old seals verify)")


@ltv_app.command("renew")
def renew(
    within_days: Annotated[
        int, typer.Option(help="renew when the last timestamp's TSA certificate expires sooner")
    ] = 365,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a fresh document timestamp to stored certificates whose last timestamp's TSA
    certificate nears expiry. The anchored digest (of the sealed revision) is unchanged."""
    if within_days < 0:
        common.fail("--within-days must not be negative")
    rt = _open()
    try:
        done = rt.seal_keys().renew_timestamps(OPERATOR, timedelta(days=within_days))
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    skipped = [{"id": cid, "reason": why} for cid, why in done.skipped]
    if as_json:
        typer.echo(json.dumps({"renewed": list(done.renewed), "skipped": skipped}, indent=2))
        return
    typer.echo(f"renewed {len(done.renewed)} certificate(s); {len(skipped)} could not be renewed")
    for item in skipped:
        typer.echo(f"  {item['id']}: {item['reason']}")


@ltv_app.command("rotate-tsa")
def rotate_tsa_cmd() -> None:
    """New time-stamp authority key and certificate; run before `ltv renew` when the old TSA
    certificate nears expiry. Restart `certledger serve` afterwards."""
    rt = _open()
    try:
        new = rt.seal_keys().rotate_tsa(OPERATOR)
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    typer.echo(f"new TSA certificate valid until {new.not_valid_after_utc.isoformat()}")


@seal_app.command("enroll-hsm")
def enroll_hsm(
    agency: Annotated[str, typer.Option(help="agency whose seal key moves into the token")],
    module: Annotated[
        str, typer.Option(help="PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
    ],
    token: Annotated[str, typer.Option(help="token label")],
    key_label: Annotated[str, typer.Option(help="label for the new key in the token")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Generate the agency's seal key in a PKCS#11 token (user PIN from CERTLEDGER_HSM_PIN),
    certify it and register it on the ledger like a rotation; the old seal still verifies.
    Restart `certledger serve` afterwards (with CERTLEDGER_HSM_PIN set)."""
    from signing import Secret
    from signing.hsm import HSM_PIN_ENV, Pkcs11Key

    key = Pkcs11Key(Path(module), token, key_label, Secret.from_env(HSM_PIN_ENV))
    rt = _open()
    try:
        done = rt.seal_keys().enroll_hsm(Principal.operator(agency), key)
    except SealKeyError as exc:
        _fail(exc)
        return
    finally:
        rt.close()
    result = {"agency": agency, "token": token, "key_label": key_label, **_rotation_json(done)}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{agency}: seal key now in token {token!r} ({done.new.fingerprint})")
