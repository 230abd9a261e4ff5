"""`certledger` command line. Exit codes: verify 0 VALID / 1 INVALID / 2 INDETERMINATE;
3 and above for anything that could not be done (unreadable input, bad data, configuration)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from certificates import (
    AGENCIES,
    CERTIFICATE_TYPES,
    BatchRefusal,
    CertificateDataError,
    CertificateError,
    CertificateNotFound,
    ConfigurationError,
    Home,
    Principal,
    RevocationRefused,
    StatusChange,
    Verdict,
    types_catalogue,
)
from certificates.verification.report import Message
from ledger import LedgerError
from signing import Secret, SigningError
from verify_api.cli import common, reports
from verify_api.cli.agreements import agreements_app
from verify_api.cli.audit import audit_app
from verify_api.cli.backup import register as register_backup
from verify_api.cli.batch import register as register_batch
from verify_api.cli.clients import clients_app
from verify_api.cli.holder import holder_app
from verify_api.cli.network import network_app
from verify_api.cli.registry import registry_app
from verify_api.cli.seal import ltv_app, seal_app
from verify_api.settings import ServiceSettings

if TYPE_CHECKING:
    from certificates import Issued
    from verify_api.runtime import Runtime

app = typer.Typer(
    help="Electronic certificates sealed with agency seals and anchored on a ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")
app.add_typer(agreements_app, name="agreements")
app.add_typer(seal_app, name="seal")
app.add_typer(ltv_app, name="ltv")
app.add_typer(network_app, name="network")
app.add_typer(registry_app, name="registry")
app.add_typer(holder_app, name="holder-key")
register_batch(app)  # issue-batch (verify_api.cli.batch)
register_backup(app)  # backup, restore (verify_api.cli.backup)


@app.callback()
def main_options(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="data directory (default: $CERTLEDGER_HOME or ~/.certledger)"),
    ] = None,
) -> None:
    common.set_home(Home.resolve(home, os.environ))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


_OFFLINE_ADVICE = (
    "move this directory to offline media (and keep a copy); nothing that serves needs it, "
    "only `certledger seal arl --offline-dir DIR` (yearly)"
)
_OFFLINE_ADVICE_ZH = (
    "请将该目录移至离线介质（并保留备份）；在线服务不需要它，仅每年一次的 "
    "`certledger seal arl --offline-dir DIR` 需要"
)


@app.command()
def init(
    demo: Annotated[
        bool, typer.Option("--demo", help="also issue a handful of sample certificates")
    ] = False,
    base_url: Annotated[
        str, typer.Option(help="public address used in QR codes")
    ] = "http://127.0.0.1:8000",
    offline_dir: Annotated[
        Path | None,
        typer.Option(
            "--offline-dir",
            help="where to write the root CA key, outside the data directory "
            "(default: <home>.root-ca next to it); move it to offline media afterwards",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create the PKI, the ledger, the database and one bearer token per agency. The root CA
    key is written to a separate offline directory, not into the data directory. With
    CERTLEDGER_DATABASE_URL set, the database is that (empty) PostgreSQL database."""
    from signing.pki import ROOT_KEY
    from verify_api.bootstrap import init_home

    home = common.home()
    passphrase = common.require_passphrase()
    offline = (offline_dir or home.offline_root).expanduser().absolute()
    try:
        url = common.settings().database_url
        creds = init_home(
            home,
            passphrase,
            base_url=base_url,
            offline_dir=offline,
            database_url=url.reveal() if url is not None else None,
        )
    except (ConfigurationError, SigningError, LedgerError) as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
    samples: list[dict[str, str]] = []
    if demo:
        from verify_api.demo import issue_samples

        rt = common.runtime(keys=True)
        try:
            samples = issue_samples(rt, home.root / "samples")
        finally:
            rt.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "home": str(home.root),
                    "offline_root_key": str(offline / ROOT_KEY),
                    "offline_root_key_advice": _OFFLINE_ADVICE,
                    "tokens": {c.agency: c.token for c in creds},
                    "samples": samples,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(f"initialised {home.root}")
    typer.echo(f"root CA key (offline) written to {offline / ROOT_KEY}")
    typer.echo(f"  {_OFFLINE_ADVICE}")
    typer.echo(f"  {_OFFLINE_ADVICE_ZH}")
    typer.echo("agency API tokens (shown once; only their digests are stored):")
    for c in creds:
        typer.echo(f"  {c.agency:20s} {c.token}")
    for s in samples:
        typer.echo(f"  sample {s['id']}: {s['file']}\n    {s['verify_url']}")


@app.command("types")
def types_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the certificate types, their fields and an example."""
    catalogue = types_catalogue()
    if as_json:
        typer.echo(json.dumps(catalogue, ensure_ascii=False, indent=2))
        return
    for t in catalogue:
        typer.echo(f"{t['code']:28s} {t['name_zh']} / {t['name_en']}  (issued by {t['agency']})")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        common.fail(f"cannot read {path}: {exc.strerror}", common.EXIT_UNREADABLE)
    except (ValueError, UnicodeDecodeError) as exc:
        common.fail(f"{path} is not valid JSON: {exc}", common.EXIT_BAD_INPUT)
    if not isinstance(raw, dict):
        common.fail(f"{path} must hold a JSON object of field values", common.EXIT_BAD_INPUT)
    return raw


def _print_data_errors(exc: CertificateDataError) -> None:
    for e in exc.errors:
        typer.secho(f"  {e.field}: {e.message_en} / {e.message_zh}", err=True)


@app.command()
def issue(
    agency: Annotated[str, typer.Option(help="issuing agency code")],
    cert_type: Annotated[str, typer.Option("--type", help="certificate type code")],
    data: Annotated[Path, typer.Option(help="JSON file with the field values")],
    out: Annotated[Path, typer.Option(help="where to write the sealed PDF")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="the same key with the same data gives back the certificate issued the "
            "first time (nothing new is issued); with other data it is refused"
        ),
    ] = None,
) -> None:
    """Issue one certificate: validate, render, seal, store and anchor."""
    values = _read_json(data)
    rt = common.runtime(keys=True)
    with _issuing(rt):
        issued = rt.issuing().issue_as(
            Principal.operator(agency), cert_type, values, idempotency_key=idempotency_key
        )
    _write_issued(issued, out, as_json)


@app.command()
def reissue(
    certificate: Annotated[str, typer.Argument(help="id of the certificate to correct")],
    agency: Annotated[str, typer.Option(help="issuing agency code")],
    data: Annotated[Path, typer.Option(help="JSON file with the corrected field values")],
    out: Annotated[Path, typer.Option(help="where to write the new version's sealed PDF")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-issue a certificate with corrected data: the next version of the same number, which
    supersedes it (the old version is revoked on the ledger, "superseded by" the new one)."""
    cid = common.parse_id(certificate)
    values = _read_json(data)
    rt = common.runtime(keys=True)
    with _issuing(rt):
        issued = rt.issuing().reissue_as(Principal.operator(agency), cid, values)
    _write_issued(issued, out, as_json, supersedes=cid)


@contextmanager
def _issuing(rt: Runtime) -> Iterator[None]:
    """Runs an issuance and closes ``rt``; a refusal exits non-zero with its reason (invalid
    data field by field), nothing issued."""
    try:
        yield
    except CertificateDataError as exc:
        typer.secho(
            "error: the certificate data is invalid; nothing was issued", err=True, fg="red"
        )
        _print_data_errors(exc)
        raise typer.Exit(common.EXIT_BAD_INPUT) from None
    except BatchRefusal as exc:
        common.fail(f"{exc.en} / {exc.zh}", common.EXIT_BAD_INPUT)
    except CertificateError as exc:
        common.fail(str(exc), common.EXIT_BAD_INPUT)
    finally:
        rt.close()


def _write_issued(issued: Issued, out: Path, as_json: bool, supersedes: str | None = None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(issued.pdf)
    result: dict[str, Any] = {
        "id": issued.cert_id,
        "file": str(out),
        "verify_url": issued.verify_url,
        "sealed_digest": issued.sealed_digest,
        "status": "active" if issued.anchored else "pending",
        "ledger": {"block": issued.block, "tx_id": issued.tx_id},
    }
    if supersedes is not None:
        result["supersedes"] = supersedes
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        replaced = f", superseding {supersedes}" if supersedes else ""
        typer.echo(
            f"issued {issued.cert_id} -> {out} ({result['status']}{replaced})\n{issued.verify_url}"
        )


_LANG_HELP = "language of the report: zh (default) or en"


def _lang(value: str) -> str:
    if value not in reports.LANGS:
        common.fail(f"--lang must be zh or en, not {value!r}", common.EXIT_BAD_INPUT)
    return value


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="the certificate PDF")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    lang: Annotated[str, typer.Option("--lang", help=_LANG_HELP)] = "zh",
) -> None:
    """Verify a certificate PDF. Exit 0 VALID, 1 INVALID, 2 INDETERMINATE, >=3 cannot check."""
    from certificates import UnreadableDocument

    lang = _lang(lang)
    try:
        data = file.read_bytes()
    except OSError as exc:
        common.fail(f"cannot read {file}: {exc.strerror}", common.EXIT_UNREADABLE)
    if not data:
        common.fail(f"{file} is empty", common.EXIT_UNREADABLE)
    rt = common.runtime(keys=False)
    try:
        report = rt.verifier.verify_pdf(data)
    except UnreadableDocument as exc:
        said = exc.zh if lang == "zh" else exc.en
        common.fail(f"{file}: {said}", common.EXIT_UNREADABLE)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        colour = {Verdict.VALID: "green", Verdict.INVALID: "red"}.get(report.verdict, "yellow")
        first, *rest = reports.report_lines(report, lang)
        typer.secho(first, fg=colour, bold=True)
        for line in rest:
            typer.echo(line)
    raise typer.Exit({Verdict.VALID: 0, Verdict.INVALID: 1}.get(report.verdict, 2))


def _change_status(
    cert_id: str, reason: str, change: StatusChange, done: tuple[str, str], lang: str
) -> None:
    """Apply ``change`` as the certificate's issuing agency, through the same service as the
    HTTP route (ledger, store, audit, notifications)."""
    cid = common.parse_id(cert_id)
    rt = common.runtime(keys=True)
    try:
        rt.statuses().change_as_operator(cid, change, reason)
    except CertificateNotFound:
        common.fail("未找到该证照" if lang == "zh" else "no certificate with this id")
    except RevocationRefused as exc:
        # The typed refusal in the person's language; the ledger's own words are not shown.
        common.fail(exc.zh if lang == "zh" else exc.en, common.EXIT_LEDGER)
    except (CertificateError, LedgerError) as exc:
        common.fail(str(exc), common.EXIT_LEDGER)
    finally:
        rt.close()
    typer.echo(f"{done[0] if lang == 'zh' else done[1]} {cid}")


def _confirm_revocation(cert_id: str, yes: bool, lang: str) -> None:
    """Revocation is final: a person at a terminal is asked; anything else must have said
    --yes, and is refused before anything is opened (nothing revoked)."""
    if yes:
        return
    if not sys.stdin.isatty():
        common.fail(
            "撤销是最终的：输入不是终端，无法询问确认；确认无误请加 --yes。"
            if lang == "zh"
            else "revocation is final: stdin is not a terminal, so nobody can confirm; "
            "add --yes if you mean it",
            common.EXIT_BAD_INPUT,
        )
    if not typer.confirm(reports.confirm_revoke_text(cert_id, lang), default=False):
        common.fail("未撤销。" if lang == "zh" else "not revoked", common.EXIT_BAD_INPUT)


@app.command()
def revoke(
    cert_id: Annotated[str, typer.Argument(help="certificate id")],
    reason: Annotated[str, typer.Option(help="why it is revoked (shown to verifiers)")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask for confirmation (revocation is final)")
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help=_LANG_HELP)] = "zh",
) -> None:
    """Revoke a certificate on the ledger (as its issuing agency); revocation is final, so it
    asks first (--yes to skip; required when stdin is not a terminal)."""
    lang = _lang(lang)
    cid = common.parse_id(cert_id)
    _confirm_revocation(cid, yes, lang)
    _change_status(cid, reason, StatusChange.REVOKE, ("已撤销", "revoked"), lang)


@app.command()
def suspend(
    cert_id: Annotated[str, typer.Argument(help="certificate id")],
    reason: Annotated[str, typer.Option(help="why it is suspended (shown to verifiers)")],
    lang: Annotated[str, typer.Option("--lang", help=_LANG_HELP)] = "zh",
) -> None:
    """Suspend an active certificate (as its issuing agency) until it is reinstated."""
    _change_status(cert_id, reason, StatusChange.SUSPEND, ("已暂停", "suspended"), _lang(lang))


@app.command()
def reinstate(
    cert_id: Annotated[str, typer.Argument(help="certificate id")],
    reason: Annotated[str, typer.Option(help="why it is active again (shown to verifiers)")],
    lang: Annotated[str, typer.Option("--lang", help=_LANG_HELP)] = "zh",
) -> None:
    """Make a suspended certificate active again (as its issuing agency)."""
    _change_status(cert_id, reason, StatusChange.REINSTATE, ("已恢复", "reinstated"), _lang(lang))


@app.command()
def status(
    cert_id: Annotated[str, typer.Argument(help="certificate id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    lang: Annotated[str, typer.Option("--lang", help=_LANG_HELP)] = "zh",
) -> None:
    """Show a certificate's ledger status and history (--json for machines)."""
    lang = _lang(lang)
    cid = common.parse_id(cert_id)
    rt = common.runtime(keys=False)
    try:
        record = rt.ledger.get(cid)
        history = rt.ledger.history(cid) if record else []
        local = rt.store.public_view(cid)
    except LedgerError as exc:
        common.fail(f"the ledger cannot be read: {exc}", common.EXIT_LEDGER)
    finally:
        rt.close()
    if record is None and local is None:
        common.fail("未找到该证照" if lang == "zh" else "no certificate with this id")
    body: dict[str, Any] = {
        "id": cid,
        "status": record.status if record else "pending",
        "reason": record.reason if record else None,
        "type": record.cert_type if record else local.cert_type,  # type: ignore[union-attr]
        "issuer": record.agency if record else local.agency,  # type: ignore[union-attr]
        "valid_until": str(record.valid_until) if record and record.valid_until else None,
        "ledger": {
            "block": record.anchored_block,
            "tx_id": record.anchored_tx,
            "anchored_at": record.anchored_at.isoformat() if record.anchored_at else None,
        }
        if record
        else None,
        "history": [h.to_json() for h in history],
    }
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    ctype = CERTIFICATE_TYPES.get(body["type"])
    issuer = AGENCIES.get(body["issuer"])
    names = Message(ctype.name_zh, ctype.name_en) if ctype else None
    if issuer is not None:
        body = {**body, "issuer": issuer.name_zh if lang == "zh" else issuer.name_en}
    for line in reports.status_lines(body, lang, names):
        typer.echo(line)


@app.command()
def anchor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Anchor certificates left pending (after a crash or a ledger outage) now."""
    rt = common.runtime(keys=True)
    try:
        n = rt.issuing().anchor_pending()
        left = rt.store.count_pending()
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps({"anchored": n, "pending": left}))
    else:
        typer.echo(f"anchored {n} pending certificate(s); {left} still pending")
    raise typer.Exit(0 if left == 0 else common.EXIT_LEDGER)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    agency: Annotated[
        str | None,
        typer.Option(help="serve as this agency only (Fabric: its own peer and identity)"),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls", help="HTTPS; clients may authenticate with certificates from the PKI"
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="server certificate chain (PEM) instead of one from the PKI"),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="its private key (PEM)")] = None,
    tls_host: Annotated[
        list[str] | None,
        typer.Option(help="another name for the PKI-issued server certificate; repeatable"),
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="plain HTTP on a non-loopback address, for a proxy in front that terminates "
            "TLS; needs an https:// base URL",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API, the QR verification pages and the time-stamp authority.

    Outside loopback it serves HTTPS only (--tls), unless --insecure-http says a proxy in
    front terminates TLS."""

    home = common.home()
    settings = common.settings()
    # Decided before anything is opened or bound: a refused start leaves nothing behind.
    wants_tls = tls or tls_cert is not None or tls_key is not None
    refusal = plain_http_refusal(
        host,
        tls=wants_tls,
        insecure_http=insecure_http,
        base_url=_public_base_url(home, settings) if insecure_http and not wants_tls else None,
    )
    if refusal is not None:
        common.fail(refusal, common.EXIT_BAD_INPUT if wants_tls else common.EXIT_CONFIG)
    if insecure_http:
        logging.getLogger("certledger.serve").warning(
            "plain HTTP on %s (--insecure-http): only the proxy in front, terminating TLS, "
            "keeps tokens and certificate data off the network in the clear / "
            "明文 HTTP（--insecure-http）：须由前置代理终止 TLS",
            host,
        )
    passphrase = common.require_passphrase()
    if agency:
        settings = settings.replace(agency=agency)
        common.use_settings(settings)
    # Fail at start-up, with a clear message, on a wrong passphrase or a missing deployment.
    rt = common.runtime(keys=True)
    base_url = rt.settings.base_url
    rt.close()
    tls_options: dict[str, Any] = {}
    if wants_tls:
        tls_options = _serve_tls(home, passphrase, host, base_url, tls_cert, tls_key, tls_host)
    scheme = "https" if tls_options else "http"
    typer.echo(
        f"serving {home.root} on {scheme}://{host}:{port}  "
        f"(API docs: {scheme}://{host}:{port}/docs)"
    )
    # One audit writer process for every worker (verify_api.http.audit_writer), started before
    # them and stopped after them.
    from verify_api.http.audit_writer import AuditWriterProcess

    writer = AuditWriterProcess(home.root)
    try:
        writer.start()
    except ConfigurationError as exc:
        writer.stop()
        common.fail(str(exc), common.EXIT_CONFIG)
    limits_dir = _shared_rate_limits(workers)
    settings = settings.replace(
        audit_socket=writer.socket_path,
        rate_table=str(limits_dir / "buckets") if limits_dir is not None else None,
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again against the
    # handler it found. With the default handler that kills this process before the
    # ``finally`` below: the audit writer was never stopped and found itself orphaned. An
    # exit of our own instead lets the writer finish its last batch first.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _run_workers(home, settings, host, port, workers, tls_options)
    finally:
        writer.stop()
        if limits_dir is not None:
            shutil.rmtree(limits_dir, ignore_errors=True)


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name that merely resolves to
    one is not taken on trust, nor are the empty host and 0.0.0.0 / :: (every interface)."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plain_http_refusal(
    host: str, *, tls: bool, insecure_http: bool, base_url: str | None
) -> str | None:
    """Why ``serve`` must not start with this transport (in English and Chinese), or None.

    Plain HTTP is served on loopback only: elsewhere bearer tokens, client credentials and
    holders' data would cross the network in the clear. ``insecure_http`` is the operator's
    word that a proxy in front terminates TLS; the QR codes printed on certificates must then
    point at that proxy's https address (``base_url``), or people would be sent to plain http.
    """
    if tls and insecure_http:
        return (
            "give --tls (or --tls-cert/--tls-key) or --insecure-http, not both\n"
            "--tls（或 --tls-cert/--tls-key）与 --insecure-http 只能选其一"
        )
    if insecure_http:
        if (base_url or "").strip().lower().startswith("https://"):
            return None
        shown = base_url or "none"
        return (
            "--insecure-http is for serving behind a proxy that terminates TLS, so the base URL "
            f"in QR codes must start with https:// (it is {shown}): set it with "
            "`certledger init --base-url https://…` or CERTLEDGER_BASE_URL\n"
            "--insecure-http 仅用于终止 TLS 的反向代理之后，二维码中的基础地址须以 https:// 开头"
            f"（当前为 {shown}）：请用 `certledger init --base-url https://…` 或 "
            "CERTLEDGER_BASE_URL 设置"
        )
    if tls or _is_loopback(host):
        return None
    where, where_zh = (host, host) if host else ("every interface", "所有网络接口")
    return (
        f"refusing to serve plain HTTP on {where}, which is not a loopback address: tokens "
        "and certificate data would cross the network in the clear. Serve HTTPS with --tls "
        "(or --tls-cert F --tls-key F), or, behind a proxy that terminates TLS, pass "
        "--insecure-http (with an https:// base URL)\n"
        f"拒绝在非回环地址 {where_zh} 上以明文 HTTP 提供服务：令牌和证照数据将以明文在网络上"
        "传输。请用 --tls（或 --tls-cert F --tls-key F）启用 HTTPS；若在终止 TLS 的反向代理"
        "之后，请加 --insecure-http（基础地址须为 https://）"
    )


def _public_base_url(home: Home, settings: ServiceSettings) -> str:
    """The base URL QR codes will carry: the deployment's, or the process's override."""
    try:
        return home.settings(base_url=settings.base_url).base_url
    except ConfigurationError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_workers(
    home: Home,
    settings: ServiceSettings,
    host: str,
    port: int,
    workers: int,
    tls_options: dict[str, Any],
) -> None:
    """uvicorn with the settings handed to every worker explicitly: the factory object (with
    the settings, less their secrets) is pickled into each worker process."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from verify_api.app import WorkerApp

    config = uvicorn.Config(
        WorkerApp(str(home.root), settings.for_workers()),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # No access log: request lines carry verification tokens in their query strings.
        access_log=False,
        log_level="warning",
        **tls_options,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        common.fail("the server did not start; see the messages above", common.EXIT_CONFIG)


def _shared_rate_limits(workers: int) -> Path | None:
    """With several workers, one rate-limit table for all of them (verify_api.http.shared_limits),
    in a directory of this server's own; with one, the worker keeps its buckets in memory."""
    from verify_api.http.shared_limits import SharedBuckets

    if workers <= 1:
        return None
    directory = Path(tempfile.mkdtemp(prefix="certledger-limits-"))  # 0700
    SharedBuckets.create(directory / "buckets").close()
    return directory


def _serve_tls(
    home: Home,
    passphrase: Secret,
    host: str,
    base_url: str,
    cert: Path | None,
    key: Path | None,
    extra_hosts: list[str] | None,
) -> dict[str, Any]:
    import ssl

    from signing.tls import TlsCertificateError
    from verify_api.http.tls import prepare_server_tls, server_hosts

    if (cert is None) != (key is None):
        common.fail("give --tls-cert and --tls-key together (or neither)", common.EXIT_BAD_INPUT)
    try:
        prepared = prepare_server_tls(
            home,
            passphrase,
            server_hosts(host, base_url, extra_hosts or ()),
            cert_file=cert,
            key_file=key,
        )
    except TlsCertificateError as exc:  # e.g. a malformed --tls-host
        common.fail(str(exc), common.EXIT_BAD_INPUT)
    except SigningError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
    except (ssl.SSLError, OSError) as exc:
        common.fail(f"cannot load the TLS certificate and key: {exc}", common.EXIT_CONFIG)
    if prepared.issued:
        typer.echo(f"issued a server certificate for {', '.join(prepared.hosts)}")
    typer.echo(
        f"TLS: {prepared.certificate}; client certificates accepted from {prepared.client_ca}"
    )
    return prepared.uvicorn_options()


@ledger_app.command("verify")
def ledger_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Re-check the whole hash chain, Merkle roots and header signatures."""
    rt = common.runtime(keys=False)
    try:
        report = rt.ledger.verify_chain()
    finally:
        rt.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "blocks_checked": report.blocks_checked,
                    "first_bad_block": report.first_bad_block,
                    "reason": report.reason,
                }
            )
        )
    elif report.ok:
        typer.secho(f"ledger OK: {report.blocks_checked} block(s) verified", fg="green")
    else:
        typer.secho(
            f"ledger TAMPERED: first bad block {report.first_bad_block}: {report.reason}",
            fg="red",
            err=True,
        )
    raise typer.Exit(0 if report.ok else 1)


def _die(message: str, code: int) -> NoReturn:
    # Outside typer's own invocation a typer.Exit would surface as a traceback.
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise SystemExit(code)


def main() -> None:
    try:
        app(standalone_mode=True)
    except (ConfigurationError, SigningError, LedgerError) as exc:
        _die(str(exc), common.EXIT_CONFIG)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        # A bug, not bad input. Exception texts can carry certificate data, so only the type is
        # printed unless the operator asks for the details.
        if os.environ.get("CERTLEDGER_DEBUG"):
            raise
        _die(f"internal error ({type(exc).__name__}); set CERTLEDGER_DEBUG=1 for details", 70)
