"""`certledger clients add|list|revoke`: API clients, their agency and roles.

A new client's bearer token is printed once; only its SHA-256 digest is stored, so a lost token
is replaced by adding a new client and revoking the old one.

``clients add --certificate-out DIR`` makes a client that authenticates with mutual TLS instead:
the PKI's issuing CA certifies a new key (see :mod:`signing.tls`), the files go to ``DIR`` for
the client to take away, the key's random passphrase is printed once, and the registry keeps
only the certificate's fingerprint. Expiry and loss are handled like a lost token.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from certificates.sharing.clients import (
    ROLES,
    ClientError,
    ClientInfo,
    ClientRegistry,
    new_client_id,
)
from signing import SigningError
from signing.tls import (
    ClientCredentials,
    ClientFiles,
    TlsCertificateError,
    issue_client_certificate,
)
from verify_api.cli import common
from verify_api.runtime import Runtime

__all__ = ["clients_app"]

clients_app = typer.Typer(help="API clients (agency systems, counter staff, admins).")


def _registry() -> tuple[Runtime, ClientRegistry]:
    rt = common.runtime(keys=False)
    return rt, rt.clients  # audited: every add and revoke leaves an entry


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
    certificate_out: Annotated[
        Path | None,
        typer.Option(
            "--certificate-out",
            help="issue a mutual-TLS client certificate from the PKI into this directory "
            "instead of a token (needs CERTLEDGER_PASSPHRASE)",
        ),
    ] = None,
    validity_days: Annotated[
        int, typer.Option(help="with --certificate-out: days the certificate is valid")
    ] = 365,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a client; prints its token once (or registers or issues its TLS certificate)."""
    if certificate_out is not None:
        if cert is not None:
            common.fail("give --cert (a certificate you have) or --certificate-out, not both")
        _add_with_new_certificate(agency, name, role, certificate_out, validity_days, as_json)
        return
    fingerprint = None
    if cert is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
        except (OSError, ValueError) as exc:
            common.fail(f"cannot read the client certificate: {exc}")
            return
        fingerprint = hashlib.sha256(der).hexdigest()
    rt, registry = _registry()
    try:
        info, token = registry.add(agency, name, role, cert_fingerprint=fingerprint)
    except ClientError as exc:
        common.fail(str(exc))
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


def _add_with_new_certificate(
    agency: str, name: str, roles: list[str], out_dir: Path, validity_days: int, as_json: bool
) -> None:

    passphrase = common.require_passphrase()
    rt, registry = _registry()
    try:
        # The certificate names the client id and the registry stores the certificate's
        # fingerprint: the id comes first, the key and certificate stay in memory until the
        # client is registered, and the files are written last.
        client_id = new_client_id()
        try:
            issued = issue_client_certificate(
                rt.home.pki,
                passphrase,
                client_id=client_id,
                agency=agency,
                validity=timedelta(days=validity_days),
            )
        except TlsCertificateError as exc:
            common.fail(str(exc))
            return
        except SigningError as exc:  # the PKI: missing, or a wrong passphrase
            common.fail(str(exc), common.EXIT_CONFIG)
        try:
            info, _ = registry.add(
                agency, name, roles, cert_fingerprint=issued.fingerprint, client_id=client_id
            )
        except ClientError as exc:
            common.fail(str(exc))
            return
        try:
            files = issued.write(out_dir)
        except TlsCertificateError as exc:
            # Nobody holds this certificate's key: the client must not stay usable.
            registry.revoke(info.id)
            common.fail(f"{exc}; client {info.id} was revoked again")
            return
    finally:
        rt.close()
    _print_certificate_client(info, issued, files, as_json)


def _print_certificate_client(
    info: ClientInfo, issued: ClientCredentials, files: ClientFiles, as_json: bool
) -> None:
    # The key passphrase is shown here once, like a token; it is stored nowhere.
    secret = issued.key_passphrase.reveal()
    not_after = issued.certificate.not_valid_after_utc
    paths = {
        "certificate": str(files.certificate),
        "key": str(files.key),
        "pkcs12": str(files.pkcs12),
        "trust_root": str(files.trust_root),
    }
    if as_json:
        certificate = {
            "fingerprint": issued.fingerprint,
            "not_after": not_after.isoformat(),
            "files": paths,
            "key_passphrase": secret,
        }
        body = {**info.to_json(), "token": None, "certificate": certificate}
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    typer.echo(f"added client {info.id} ({info.agency}; roles {', '.join(info.roles)})")
    typer.echo(f"client certificate valid until {not_after:%Y-%m-%d}, SHA-256 {issued.fingerprint}")
    for what, path in paths.items():
        typer.echo(f"  {what:12s} {path}")
    typer.echo("passphrase of the key and PKCS#12 files (shown once; stored nowhere):")
    typer.echo(f"  {secret}")


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
        common.fail(str(exc))
        return
    finally:
        rt.close()
    typer.echo(f"revoked client {info.id} ({info.agency})")
