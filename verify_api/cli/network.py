"""`certledger network up|add-agency|down|status|stop-node|start-node`: the local Fabric
network.

The network's genesis registry (agencies, their MSP ids, allowed types and seal
fingerprints) is the deployment's own (``--home``), so certificates it issues verify
against the Fabric ledger exactly as against the embedded one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from verify_api.cli import common

__all__ = ["network_app"]

network_app = typer.Typer(
    help="The local Hyperledger Fabric network (3 Raft orderers, one peer per agency).",
    no_args_is_help=True,
)

_DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="network directory (default: <home>/fabric-network)"),
]


def _fail(message: str, code: int = common.EXIT_CONFIG) -> NoReturn:
    common.fail(message, code)


def _home_root() -> Path:
    from certificates import Home

    home = common.home()
    return (home if isinstance(home, Home) else Home.resolve(None, os.environ)).root


def _dir(directory: Path | None) -> Path:
    return (directory or _home_root() / "fabric-network").absolute()


def _registry() -> list[object]:
    from certificates import Home
    from ledger import EmbeddedLedger, LedgerError
    from signing import load_certificate

    home = Home(_home_root())
    if not home.exists():
        _fail(f"{home.root} holds no deployment: run `certledger init` first")
    try:
        ledger = EmbeddedLedger.open_readonly(
            home.ledger, load_certificate(home.pki / "ledger-node.pem")
        )
        try:
            return list(ledger.registry())
        finally:
            ledger.close()
    except (LedgerError, OSError) as exc:
        _fail(f"cannot read the deployment's agency registry: {exc}")


@network_app.command("up")
def network_up(directory: _DirOption = None) -> None:
    """Build Fabric once (cached), then create and/or start the network and deploy the contract."""
    import network
    from ledger import AgencyRecord

    root = _dir(directory)
    registry = None
    if not (root / "network.json").exists():
        registry = [r for r in _registry() if isinstance(r, AgencyRecord)]
    started = time.monotonic()
    try:
        profile = network.up(root, registry)
    except network.NetworkError as exc:
        _fail(str(exc))
    typer.echo(f"network ready in {time.monotonic() - started:.1f} s: {root}")
    typer.echo("serve an agency against it with:")
    typer.echo(f"  CERTLEDGER_LEDGER=fabric CERTLEDGER_FABRIC_PROFILE={profile} \\")
    typer.echo("  CERTLEDGER_AGENCY=<agency code> certledger serve")


@network_app.command("add-agency")
def network_add_agency(
    code: Annotated[str, typer.Argument(help="the agency's code in the deployment's registry")],
    directory: _DirOption = None,
) -> None:
    """Bring an agency of the deployment's registry into the running network: its org's
    crypto, the channel update signed by a majority of admins, its peer joined, the
    contract approved for it, and its registry entry by a majority of agencies.
    Re-runnable: each step is checked before it is done."""
    import network
    from ledger import AgencyRecord

    root = _dir(directory)
    if not (root / "network.json").exists():
        _fail(f"no network at {root}: run `certledger network up` first / 网络尚未创建")
    record = next((r for r in _registry() if isinstance(r, AgencyRecord) and r.code == code), None)
    if record is None:
        _fail(
            f"agency {code!r} is not in the deployment's registry / 部署的机构名册中没有该机构",
            common.EXIT_BAD_INPUT,
        )
    started = time.monotonic()
    try:
        network.add_agency(root, record)
    except network.NetworkError as exc:
        _fail(f"{exc} (re-run the command to finish / 可重新运行以完成)")
    typer.echo(f"{code} joined the network in {time.monotonic() - started:.1f} s")


@network_app.command("down")
def network_down(
    directory: _DirOption = None,
    purge: Annotated[bool, typer.Option(help="also delete the network's data")] = False,
) -> None:
    """Stop every node this network started (by PID)."""
    import network

    stopped = network.down(_dir(directory), purge=purge)
    typer.echo(f"stopped {len(stopped)} process(es)" + (" and deleted the data" if purge else ""))


@network_app.command("status")
def network_status(
    directory: _DirOption = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Each node's process, health and block height."""
    import network

    try:
        nodes = network.status(_dir(directory))
    except network.NetworkError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps([n.to_json() for n in nodes], indent=2))
    else:
        for n in nodes:
            health = "healthy" if n.healthy else "DOWN"
            height = "-" if n.height is None else str(n.height)
            pid = "-" if n.pid is None else str(n.pid)
            typer.echo(
                f"{n.name:28s} {n.kind:9s} {n.address:17s} pid {pid:>7s}  {health:8s} "
                f"height {height}"
            )
    if not all(n.healthy for n in nodes):
        raise typer.Exit(1)


@network_app.command("stop-node")
def network_stop_node(
    name: str,
    directory: _DirOption = None,
    kill: Annotated[bool, typer.Option(help="SIGKILL instead of SIGTERM")] = False,
) -> None:
    """Stop one node (fault drills: a peer, an orderer, a chaincode server)."""
    import network

    if not network.kill_node(network.Layout(_dir(directory)), name, hard=kill):
        _fail(f"{name} is not running", 1)
    typer.echo(f"stopped {name}")


@network_app.command("start-node")
def network_start_node(name: str, directory: _DirOption = None) -> None:
    """Start one stopped node again."""
    import network

    try:
        pid = network.start_node(network.Layout(_dir(directory)), name)
    except network.NetworkError as exc:
        _fail(str(exc))
    typer.echo(f"started {name} (pid {pid})")


def main() -> None:
    """``python -m verify_api.cli.network``: the same commands without the main CLI."""
    network_app()


if __name__ == "__main__":
    main()
