"""What every command shares: exit codes, the failure message, the deployment it acts on and
the runtime it opens. The command modules import this one, never each other."""

from __future__ import annotations

import os
from typing import NoReturn

import typer

from certificates.errors import ConfigurationError
from certificates.home import Home
from certificates.ids import CertificateId, InvalidCertificateId
from ledger import LedgerError
from signing import Secret, SigningError
from verify_api.runtime import Runtime, open_runtime

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CONFIG",
    "EXIT_LEDGER",
    "EXIT_UNREADABLE",
    "fail",
    "home",
    "parse_id",
    "passphrase",
    "require_passphrase",
    "runtime",
    "set_home",
]

EXIT_UNREADABLE = 3
EXIT_BAD_INPUT = 4
EXIT_CONFIG = 5
EXIT_LEDGER = 6

# Seconds a command waits, before it exits, to deliver the webhooks it caused (a status
# change reaches subscribers as from the server); the outbox keeps the rest for the server.
DELIVER_ON_EXIT = 10.0

_selected: list[Home] = []  # the --home of this invocation, set by the main callback


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def set_home(home: Home) -> None:
    _selected[:] = [home]


def home() -> Home:
    return _selected[0] if _selected else Home.resolve(None)


def passphrase() -> Secret | None:
    value = os.environ.get("CERTLEDGER_PASSPHRASE", "")
    return Secret(value) if value else None


def require_passphrase() -> Secret:
    secret = passphrase()
    if secret is None:
        fail("set CERTLEDGER_PASSPHRASE to the passphrase that protects the keys", EXIT_CONFIG)
    return secret


def runtime(*, keys: bool, workers: int = 0) -> Runtime:
    """The deployment opened for one command: with ``keys`` it can issue and revoke (the
    passphrase is required), without it only read and verify."""
    try:
        rt = open_runtime(
            home(), passphrase=require_passphrase() if keys else None, workers=workers
        )
    except (ConfigurationError, SigningError, LedgerError) as exc:
        fail(str(exc), EXIT_CONFIG)
    rt.deliver_on_close = DELIVER_ON_EXIT
    return rt


def parse_id(raw: str) -> str:
    try:
        return str(CertificateId.parse(raw))
    except InvalidCertificateId as exc:
        fail(f"not a certificate id: {exc}", EXIT_BAD_INPUT)
