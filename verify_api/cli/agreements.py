"""`certledger agreements add|list|revoke`: sharing agreements on the ledger, from the CLI.

The same service calls as `POST/GET /api/v1/agreements`, acting as the granting agency's
operator; the ledger's contract enforces that an agency grants and revokes only its own.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from certificates import AgreementError, Principal, agreement_json
from verify_api.cli import common

__all__ = ["agreements_app"]

agreements_app = typer.Typer(help="Sharing agreements between agencies (kept on the ledger).")


def _done(rt: Any, exc: AgreementError) -> None:

    rt.close()
    common.fail(f"{exc.code}: {exc.en}", common.EXIT_BAD_INPUT)


@agreements_app.command("add")
def add(
    agency: Annotated[str, typer.Option(help="the granting (issuing) agency")],
    grantee: Annotated[str, typer.Option(help="the agency that may look up")],
    cert_type: Annotated[list[str], typer.Option("--type", help="certificate type; repeatable")],
    purpose: Annotated[list[str], typer.Option("--purpose", help="allowed purpose; repeatable")],
    field: Annotated[list[str], typer.Option("--field", help="released field; repeatable")],
    valid_until: Annotated[str, typer.Option(help="last day, YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Grant another agency lookups of some of your types."""

    try:
        until = date.fromisoformat(valid_until)
    except ValueError:
        common.fail("--valid-until must be a date YYYY-MM-DD", common.EXIT_BAD_INPUT)
    rt = common.runtime(keys=True)
    try:
        agreement = rt.sharing.create_agreement(
            Principal.operator(agency),
            grantee=grantee,
            cert_types=cert_type,
            purposes=purpose,
            fields=field,
            valid_until=until,
        )
    except AgreementError as exc:
        _done(rt, exc)
        return
    rt.close()
    body = agreement_json(agreement)
    typer.echo(json.dumps(body, ensure_ascii=False) if as_json else f"created {body['id']}")


@agreements_app.command("list")
def list_agreements(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every agreement on the ledger, active and revoked."""

    rt = common.runtime(keys=False)
    try:
        items = [agreement_json(a) for a in rt.sharing.agreements(fresh=True)]
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for a in items:
        typer.echo(
            f"{a['id']}  {a['grantor']} -> {a['grantee']}  {','.join(a['types'])}  "
            f"purposes={','.join(a['purposes'])}  fields={','.join(a['fields'])}  "
            f"until {a['valid_until']}  {a['status']}"
        )


@agreements_app.command("revoke")
def revoke(
    agreement_id: Annotated[str, typer.Argument(help="agreement id, e.g. AG-...")],
    agency: Annotated[str, typer.Option(help="the granting agency")],
    reason: Annotated[str, typer.Option(help="why it ends")],
) -> None:
    """End an agreement your agency granted."""

    rt = common.runtime(keys=True)
    try:
        rt.sharing.revoke_agreement(Principal.operator(agency), agreement_id, reason)
    except AgreementError as exc:
        _done(rt, exc)
        return
    rt.close()
    typer.echo(f"revoked {agreement_id}")
