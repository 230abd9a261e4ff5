"""`certledger registry propose|approve|list|history`: registry changes by a majority.

Each command parses its options, calls :class:`certificates.governance.GovernanceService`
(the rules are the contract's, see docs/fabric.md "Registry governance") and prints the
answer. ``--as`` names the agency that acts; on Fabric the ledger signs with that agency's
own identity from the connection profile (``CERTLEDGER_AGENCY`` is the default).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer

from certificates.governance import (
    DEFAULT_VALID_DAYS,
    GovernanceError,
    GovernanceService,
    GovernanceUnavailable,
    ProposalView,
    proposal_json,
)
from verify_api.cli import common
from verify_api.runtime import Runtime

__all__ = ["registry_app"]

registry_app = typer.Typer(
    help="Agency registry changes: a proposal takes effect once a majority of agencies approve.",
    no_args_is_help=True,
)

_As = Annotated[
    str | None, typer.Option("--as", help="agency that acts (default: CERTLEDGER_AGENCY)")
]
_Json = Annotated[bool, typer.Option("--json")]


def _fail(exc: GovernanceError) -> NoReturn:
    code = common.EXIT_LEDGER if isinstance(exc, GovernanceUnavailable) else common.EXIT_BAD_INPUT
    common.fail(f"{exc.en} / {exc.zh}", code)


@contextlib.contextmanager
def _runtime(*, keys: bool) -> Iterator[Runtime]:
    rt = common.runtime(keys=keys)
    try:
        yield rt
    finally:
        rt.close()


def _actor(rt: Runtime, given: str | None) -> str:
    agency = given or rt.agency
    if not agency:
        common.fail(
            "say which agency acts: --as CODE (or set CERTLEDGER_AGENCY) / "
            "请用 --as 指定执行操作的机构",
            common.EXIT_BAD_INPUT,
        )
    return agency


def _print(view: ProposalView, as_json: bool) -> None:
    data = proposal_json(view)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{data['proposal_id']}  {data['kind']} {data['agency']}  {data['status']}  "
        f"approvals {len(data['approvals'])}/{data['needed']} ({', '.join(data['approvals'])})"
        + (
            f"  registry revision {data['registry_revision']}"
            if data["registry_revision"]
            else f"  expires {data['expires_at']}"
        )
    )


@registry_app.command("propose")
def propose(
    kind: Annotated[str, typer.Argument(help="add-agency | add-seal | retire-seal | set-types")],
    agency: Annotated[str, typer.Argument(help="code of the agency the change is about")],
    actor: _As = None,
    msp_id: Annotated[str | None, typer.Option(help="add-agency: its MSP id")] = None,
    name_zh: Annotated[str | None, typer.Option(help="add-agency: Chinese name")] = None,
    name_en: Annotated[str | None, typer.Option(help="add-agency: English name")] = None,
    types: Annotated[
        str | None,
        typer.Option(help="add-agency / set-types: comma-separated certificate types"),
    ] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="seal certificate SHA-256 fingerprint (64 hex)")
    ] = None,
    valid_days: Annotated[
        int, typer.Option(help="days the proposal stays open (1-90)")
    ] = DEFAULT_VALID_DAYS,
    as_json: _Json = False,
) -> None:
    """Propose a registry change; the proposal counts as the proposing agency's approval."""
    type_list = None if types is None else [t.strip() for t in types.split(",") if t.strip()]
    try:
        change = GovernanceService.change(
            kind,
            agency,
            msp_id=msp_id,
            name_zh=name_zh,
            name_en=name_en,
            allowed_types=type_list,
            fingerprint=fingerprint,
        )
    except GovernanceError as exc:
        _fail(exc)
    with _runtime(keys=True) as rt:
        try:
            view = GovernanceService(rt.ledger, rt.audit).propose(
                _actor(rt, actor), change, valid_days
            )
        except GovernanceError as exc:
            _fail(exc)
        _print(view, as_json)


@registry_app.command("approve")
def approve(
    proposal_id: Annotated[str, typer.Argument(help="the proposal's id (as `list` shows it)")],
    actor: _As = None,
    as_json: _Json = False,
) -> None:
    """Approve a proposal; it takes effect at the approval that makes the majority."""
    with _runtime(keys=True) as rt:
        try:
            view = GovernanceService(rt.ledger, rt.audit).approve(_actor(rt, actor), proposal_id)
        except GovernanceError as exc:
            _fail(exc)
        _print(view, as_json)


@registry_app.command("list")
def list_proposals(as_json: _Json = False) -> None:
    """The newest proposals with their approvals and status (open, applied, expired)."""
    with _runtime(keys=False) as rt:
        try:
            views = GovernanceService(rt.ledger, rt.audit).proposals()
        except GovernanceError as exc:
            _fail(exc)
        if as_json:
            typer.echo(json.dumps([proposal_json(v) for v in views], ensure_ascii=False, indent=2))
            return
        if not views:
            typer.echo("no registry proposals")
        for view in views:
            _print(view, False)
