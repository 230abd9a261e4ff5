"""What every command shares: exit codes, the failure message, the deployment it acts on and
the runtime it opens. The command modules import this one, never each other."""

from __future__ import annotations

import os
from typing import NoReturn

import typer

from certificates import CertificateId, ConfigurationError, Home, InvalidCertificateId
from ledger import LedgerError
from signing import Secret, SigningError
from verify_api.runtime import Runtime, open_runtime
from verify_api.settings import ServiceSettings

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
    "settings",
    "use_settings",
]

EXIT_UNREADABLE = 3
EXIT_BAD_INPUT = 4
EXIT_CONFIG = 5
EXIT_LEDGER = 6

# Seconds a command waits, before it exits, to deliver the webhooks it caused (a status
# change reaches subscribers as from the server); the outbox keeps the rest for the server.
DELIVER_ON_EXIT = 10.0

_selected: list[Home] = []  # the --home of this invocation, set by the main callback
_settings: list[ServiceSettings] = []  # read once per invocation


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def set_home(home: Home) -> None:
    """The start of an invocation: its deployment; its settings are read afresh when first
    needed (one process may run several invocations, as tests do)."""
    _selected[:] = [home]
    _settings.clear()


def home() -> Home:
    return _selected[0] if _selected else Home.resolve(None, os.environ)


def settings() -> ServiceSettings:
    """This invocation's settings, read from the environment once and validated."""
    if not _settings:
        try:
            _settings.append(ServiceSettings.from_env(os.environ))
        except ConfigurationError as exc:
            fail(str(exc), EXIT_CONFIG)
    return _settings[0]


def use_settings(value: ServiceSettings) -> None:
    """Replace this invocation's settings (an option that overrides the environment)."""
    _settings[:] = [value]


def passphrase() -> Secret | None:
    return settings().passphrase


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
            home(),
            passphrase=require_passphrase() if keys else None,
            workers=workers,
            config=settings(),
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
