"""`certledger clients add|list|revoke`: API clients, their agency and roles.

A new client's bearer token is printed once; only its SHA-256 digest is stored, so a lost token
is replaced by adding a new client and revoking the old one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from certificates.clients import ROLES, ClientError, ClientRegistry

__all__ = ["clients_app"]

clients_app = typer.Typer(help="API clients (agency systems, counter staff, admins).")


def _registry() -> tuple[Any, ClientRegistry]:
    from .cli import _runtime

    rt = _runtime(keys=False)
    return rt, ClientRegistry(rt.store)


def _fail(message: str) -> None:
    from .cli import EXIT_BAD_INPUT, _fail

    _fail(message, EXIT_BAD_INPUT)


@clients_app.command("add")
def add(
    agency: Annotated[str, typer.Option(help="agency code the client acts for")],
    name: Annotated[str, typer.Option(help="who or what the client is, for the audit log")],
    role: Annotated[
        list[str], typer.Option("--role", help=f"one of {', '.join(ROLES)}; repeatable")
    ],
    cert: Annotated[
        Path | None,
        typer.Option(help="PEM client certificate for mutual TLS instead of a token"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a client; prints its token once (or registers its TLS certificate)."""
    fingerprint = None
    if cert is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
        except (OSError, ValueError) as exc:
            _fail(f"cannot read the client certificate: {exc}")
            return
        fingerprint = hashlib.sha256(der).hexdigest()
    rt, registry = _registry()
    try:
        info, token = registry.add(agency, name, role, cert_fingerprint=fingerprint)
    except ClientError as exc:
        _fail(str(exc))
        return
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps({**info.to_json(), "token": token}, ensure_ascii=False))
        return
    typer.echo(f"added client {info.id} ({info.agency}; roles {', '.join(info.roles)})")
    if token:
        typer.echo("token (shown once; only its digest is stored):")
        typer.echo(f"  {token}")


@clients_app.command("list")
def list_clients(
    agency: Annotated[str | None, typer.Option(help="only this agency's clients")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List clients (never their tokens: only digests are stored)."""
    rt, registry = _registry()
    try:
        items = registry.list(agency)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in items], ensure_ascii=False, indent=2))
        return
    for c in items:
        state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
        typer.echo(
            f"{c.id}  {c.agency:18s} {','.join(c.roles):24s} {c.credential:11s} {state:18s} "
            f"{c.name}"
        )


@clients_app.command("revoke")
def revoke(
    client_id: Annotated[str, typer.Argument(help="client id, e.g. cl_0123abcd...")],
) -> None:
    """Revoke a client: its token or certificate stops working (within a second)."""
    rt, registry = _registry()
    try:
        info = registry.revoke(client_id)
    except ClientError as exc:
        _fail(str(exc))
        return
    finally:
        rt.close()
    typer.echo(f"revoked client {info.id} ({info.agency})")
