"""The service's configuration: read once, at the edge, from the environment, validated, and
passed into the runtime as one object. Nothing below the edge reads ``os.environ``.

The deployment's own settings file (``settings.json`` in the data directory: the public base
URL, the upload limit, the ledger backend) is read by the runtime; the fields here named like
it override it for one process (one data directory served under another address, say).

Secrets (the key passphrase, an HSM's PIN) are :class:`signing.Secret` fields. A server's
workers get the settings explicitly, pickled into each worker process; secrets are not
picklable by design, so :meth:`for_workers` leaves them out and each worker takes them from
the environment it inherits, the one hand-off of a secret to another process.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from certificates import ConfigurationError
from certificates.notifications.callbacks import ALLOW_ENV as WEBHOOK_ALLOW_ENV
from certificates.store.engine import DATABASE_URL_ENV, Database
from signing import SealLevel, Secret
from signing.hsm import HSM_PIN_ENV
from verify_api.http.audit_writer import SOCKET_ENV
from verify_api.http.ratelimit import RateLimits
from verify_api.http.shared_limits import TABLE_ENV

__all__ = ["LEDGER_BACKENDS", "PASSPHRASE_ENV", "ServiceSettings"]

PASSPHRASE_ENV = "CERTLEDGER_PASSPHRASE"  # noqa: S105  (a variable's name, not a secret)
AGENCY_ENV = "CERTLEDGER_AGENCY"
SEAL_LEVEL_ENV = "CERTLEDGER_SEAL_LEVEL"
LEDGER_ENV = "CERTLEDGER_LEDGER"
FABRIC_PROFILE_ENV = "CERTLEDGER_FABRIC_PROFILE"
BASE_URL_ENV = "CERTLEDGER_BASE_URL"
MAX_UPLOAD_ENV = "CERTLEDGER_MAX_UPLOAD_BYTES"
RATE_PUBLIC_ENV = "CERTLEDGER_RATE_PUBLIC"
RATE_CLIENT_ENV = "CERTLEDGER_RATE_CLIENT"
RATE_LOOPBACK_ENV = "CERTLEDGER_RATE_LOOPBACK"
VERIFY_WORKERS_ENV = "CERTLEDGER_VERIFY_WORKERS"
LEDGER_BACKENDS = ("embedded", "fabric")


@dataclass(frozen=True)
class ServiceSettings:
    passphrase: Secret | None = field(default=None, compare=False)
    hsm_pin: Secret | None = field(default=None, compare=False)
    # The agency this deployment acts for (its Fabric peer's identity); None: every agency.
    agency: str | None = None
    # The PAdES level to seal at; None: B-LTA where the PKI runs an OCSP responder, else B-T.
    seal_level: SealLevel | None = None
    ledger_backend: str | None = None
    fabric_profile: str | None = None
    # PostgreSQL for the shared state of several API hosts; None: the data directory's SQLite
    # file. A secret: the URL may hold the database password.
    database_url: Secret | None = field(default=None, compare=False)
    base_url: str | None = None
    max_upload_bytes: int | None = None
    # Worker processes that check uploads in the sandbox; None: one per core.
    verify_workers: int | None = None
    # Callback hosts and networks the operator admits although they are internal.
    webhook_allow: tuple[str, ...] = ()
    limits: RateLimits = field(default_factory=RateLimits)
    # Set by `certledger serve` for its workers: the audit writer's socket, the shared table.
    audit_socket: str | None = None
    rate_table: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        """The settings in ``env`` (default: this process's environment), validated: a bad
        value fails here, at start-up, naming the variable."""
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def secret(name: str) -> Secret | None:
            value = env.get(name, "")
            return Secret(value) if value else None

        level = None
        if raw := text(SEAL_LEVEL_ENV):
            try:
                level = SealLevel(raw.upper())
            except ValueError:
                levels = ", ".join(lv.value for lv in SealLevel)
                raise ConfigurationError(
                    f"{SEAL_LEVEL_ENV}={raw!r} is not one of {levels}"
                ) from None
        backend = text(LEDGER_ENV)
        if backend is not None and backend not in LEDGER_BACKENDS:
            raise ConfigurationError(
                f"unknown ledger backend {backend!r}; use {LEDGER_ENV}=embedded or "
                f"{LEDGER_ENV}=fabric"
            )
        max_upload = None
        if raw := text(MAX_UPLOAD_ENV):
            if not raw.isdigit() or int(raw) <= 0:
                raise ConfigurationError(f"{MAX_UPLOAD_ENV} must be a positive integer")
            max_upload = int(raw)
        verify_workers = None
        if raw := text(VERIFY_WORKERS_ENV):
            if not raw.isdigit() or not 1 <= int(raw) <= 64:
                raise ConfigurationError(f"{VERIFY_WORKERS_ENV} must be a whole number, 1 to 64")
            verify_workers = int(raw)
        base_url = text(BASE_URL_ENV)
        database_url = secret(DATABASE_URL_ENV)
        if database_url is not None:
            Database.postgres(database_url.reveal())  # a bad URL fails here, not at first use
        return cls(
            passphrase=secret(PASSPHRASE_ENV),
            hsm_pin=secret(HSM_PIN_ENV),
            agency=text(AGENCY_ENV),
            seal_level=level,
            ledger_backend=backend,
            fabric_profile=text(FABRIC_PROFILE_ENV),
            database_url=database_url,
            base_url=base_url.rstrip("/") if base_url else None,
            max_upload_bytes=max_upload,
            verify_workers=verify_workers,
            webhook_allow=tuple(
                e.strip() for e in env.get(WEBHOOK_ALLOW_ENV, "").split(",") if e.strip()
            ),
            limits=_limits(env),
            audit_socket=text(SOCKET_ENV),
            rate_table=text(TABLE_ENV),
        )

    def replace(self, **changes: object) -> ServiceSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def for_workers(self) -> ServiceSettings:
        """These settings without the secrets: what is pickled into a server's workers."""
        return self.replace(passphrase=None, hsm_pin=None, database_url=None)

    def with_secrets_from(self, env: Mapping[str, str] | None = None) -> ServiceSettings:
        """In a worker: the secrets taken from the environment it inherited."""
        fresh = ServiceSettings.from_env(env)
        return self.replace(
            passphrase=fresh.passphrase, hsm_pin=fresh.hsm_pin, database_url=fresh.database_url
        )


def _limits(env: Mapping[str, str]) -> RateLimits:
    defaults = RateLimits()

    def pair(name: str, default: tuple[float, float]) -> tuple[float, float]:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        rate, _, burst = raw.partition("/")
        try:
            r = float(rate)
            b = float(burst) if burst else 2 * r
        except ValueError:
            raise ConfigurationError(
                f"{name}={raw!r} is not a rate: give requests per second, optionally "
                "with a burst, e.g. 20 or 20/40 (0 switches the limit off)"
            ) from None
        if r < 0 or b < 0:
            raise ConfigurationError(f"{name} must not be negative")
        return r, b

    pr, pb = pair(RATE_PUBLIC_ENV, (defaults.public_rate, defaults.public_burst))
    cr, cb = pair(RATE_CLIENT_ENV, (defaults.client_rate, defaults.client_burst))
    loop = env.get(RATE_LOOPBACK_ENV, "").strip().lower() in ("1", "true", "yes")
    return RateLimits(pr, pb, cr, cb, loop)
