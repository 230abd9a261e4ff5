"""`certledger audit verify|show|anchor`: the tamper-evident audit log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from certificates import anchor_audit_head
from ledger import LedgerError
from verify_api.cli import common

__all__ = ["audit_app"]

# How long a signalled audit writer keeps serving workers that are still finishing requests.
DRAIN_SECONDS = 30.0

audit_app = typer.Typer(help="The audit log: who looked at what, why, and when.")


@audit_app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Re-check the hash chain and the head anchored on the ledger; exit 1 if tampered."""

    rt = common.runtime(keys=False)
    try:
        report = rt.audit.verify(rt.ledger)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok:
        typer.secho(f"audit log OK: {report.reason}", fg="green")
    else:
        where = f"entry {report.first_bad_seq}: " if report.first_bad_seq else ""
        typer.secho(f"audit log TAMPERED: {where}{report.reason}", fg="red", err=True)
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("show")
def show(
    certificate: Annotated[str, typer.Option("--certificate", help="certificate id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who issued, verified, looked up or was refused a certificate, when and why."""

    cid = common.parse_id(certificate)
    rt = common.runtime(keys=False)
    try:
        entries = rt.audit.entries(cert_id=cid)
        names = {c.id: c.name for c in rt.clients.list()}
    finally:
        rt.close()
    rows = [
        {**e.to_json(), "client_name": names.get(e.event.client_id, e.event.client_id)}
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps({"id": cid, "entries": rows}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{cid}: {len(rows)} audit entries")
    for r in rows:
        fields = f" fields={','.join(r['fields'])}" if r["fields"] else ""
        purpose = f" purpose={r['purpose']}" if r["purpose"] else ""
        typer.echo(
            f"  #{r['seq']} {r['at']} {r['action']:9s} {r['result']:8s} "
            f"{r['client_name']} ({r['agency'] or 'public'}){purpose}{fields}"
        )


@audit_app.command("anchor")
def anchor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Anchor the audit log's head on the ledger now (the server does it every minute)."""
    rt = common.runtime(keys=True)
    try:
        anchor_audit_head(rt.audit, rt.ledger, rt.agency)
        anchored = rt.audit.anchored(rt.ledger)
    except LedgerError as exc:
        common.fail(str(exc), common.EXIT_LEDGER)
    finally:
        rt.close()
    seq = anchored.seq if anchored else 0
    if as_json:
        typer.echo(json.dumps({"anchored_seq": seq}))
    else:
        typer.echo(f"audit head anchored at entry {seq}")


@audit_app.command("writer", hidden=True)
def writer(
    socket_path: Annotated[str, typer.Option("--socket", help="Unix socket to listen on")],
    parent: Annotated[
        int | None, typer.Option("--parent", help="stop when this process (the server) ends")
    ] = None,
) -> None:
    """The audit writer service for server workers (`certledger serve` starts it)."""
    import signal

    from certificates import AuditLog, ConfigurationError
    from certificates.audit.writer import AuditWriterService
    from verify_api.runtime import open_store

    try:
        store = open_store(common.home(), common.settings())
    except ConfigurationError as exc:
        common.fail(str(exc), common.EXIT_CONFIG)
    audit = AuditLog(store)
    import os

    orphaned = (lambda: os.getppid() != parent) if parent is not None else None
    service = AuditWriterService(audit, socket_path, orphaned=orphaned)
    # SIGTERM: serve stopping it after its workers, or a service manager signalling the whole
    # group at once; either way it serves the workers still connected until they have gone.
    signal.signal(signal.SIGTERM, lambda *_: service.drain(DRAIN_SECONDS))
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    try:
        service.bind()
        service.serve_forever()
    except OSError as exc:
        common.fail(
            f"cannot serve the audit log on {socket_path}: {exc.strerror}", common.EXIT_CONFIG
        )
    finally:
        audit.close()
        store.close()
