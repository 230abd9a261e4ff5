"""API clients: who calls the service, for which agency, in which roles.

A client belongs to exactly one agency and holds one or more roles:

- ``issuer``: an agency system; issues and revokes its agency's certificates, grants sharing
  agreements for its types, subscribes to events;
- ``verifier``: a counter-staff client; looks certificates up under sharing agreements;
- ``admin``: reads the audit log of its agency's certificates.

Credentials: a bearer token (256 random bits, shown once, stored only as its SHA-256 digest)
or, instead, the SHA-256 fingerprint of a client certificate issued by the deployment's PKI
for mutual TLS. Revoking a client keeps its row (the audit log names it) but no credential of
it authenticates any more.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import select

from certificates.agencies import AGENCIES
from certificates.audit import AuditEvent, AuditLog
from certificates.errors import CertificateError
from certificates.ids import token_digest
from certificates.store.database import ClientRow, Store

__all__ = [
    "ROLES",
    "ClientError",
    "ClientInfo",
    "ClientRegistry",
    "Principal",
    "new_client_id",
    "new_client_token",
]

ROLES = ("admin", "issuer", "verifier")
_CLIENT_ID = re.compile(r"cl_[0-9a-f]{16}")


class ClientError(CertificateError):
    """A client cannot be added or revoked as asked."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. Carries no credential, so it is safe to log."""

    client_id: str
    agency: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles

    @classmethod
    def operator(cls, agency: str) -> Principal:
        """The operator at the deployment's console acting for ``agency``: the command line
        holds the agency's keys, so it has the issuer role (audited as ``cli:<agency>``)."""
        return cls(f"cli:{agency}", agency, frozenset({"issuer"}))


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: str
    name: str
    agency: str
    roles: tuple[str, ...]
    credential: str  # "token" or "certificate"
    created_at: datetime
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "agency": self.agency,
            "roles": list(self.roles),
            "credential": self.credential,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def new_client_token(agency: str) -> str:
    # The agency code in the prefix helps operators tell tokens apart; the secret is 256 bits.
    return f"clt_{agency}_{secrets.token_urlsafe(32)}"


def new_client_id() -> str:
    """A fresh client id, for a caller that needs it before :meth:`ClientRegistry.add` (a
    client certificate names its client id, and the registry stores the certificate's
    fingerprint)."""
    return f"cl_{secrets.token_hex(8)}"


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted({r.strip() for r in roles if r.strip()}))
    if not out:
        raise ClientError(f"a client needs at least one role ({', '.join(ROLES)})")
    unknown = [r for r in out if r not in ROLES]
    if unknown:
        raise ClientError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    return out


def _aware(value: datetime | None) -> datetime | None:
    # SQLite drops the zone; everything is stored in UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _info(row: ClientRow) -> ClientInfo:
    created = _aware(row.created_at)
    assert created is not None
    return ClientInfo(
        id=row.id,
        name=row.name,
        agency=row.agency,
        roles=tuple(row.roles.split(",")),
        credential="certificate" if row.cert_fingerprint else "token",
        created_at=created,
        revoked_at=_aware(row.revoked_at),
    )


class ClientRegistry:
    """Adds, lists, revokes and authenticates clients, over the store."""

    def __init__(self, store: Store, *, audit: AuditLog | None = None) -> None:
        self._store = store
        # Adding and revoking clients is audited whenever the registry is given the log (the
        # runtime's always is); the deployment's first clients are made before it exists.
        self._audit = audit

    def add(
        self,
        agency: str,
        name: str,
        roles: Iterable[str],
        *,
        cert_fingerprint: str | None = None,
        client_id: str | None = None,
        actor: str = "cli:operator",
    ) -> tuple[ClientInfo, str | None]:
        """A new client; returns it and its bearer token (``None`` for a certificate client).

        The token is returned once; only its digest is kept. ``client_id`` (from
        :func:`new_client_id`) is for a certificate issued before the client is added.
        """
        if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
            raise ClientError(f"a client id looks like cl_ and 16 hex digits, not {client_id!r}")
        if agency not in AGENCIES:
            raise ClientError(f"unknown agency {agency!r}; known: {', '.join(sorted(AGENCIES))}")
        name = name.strip()
        if not name or len(name) > 200 or any(ord(c) < 0x20 for c in name):
            raise ClientError("a client name is 1-200 printable characters")
        role_list = _roles(roles)
        token: str | None = None
        fingerprint: str | None = None
        if cert_fingerprint is not None:
            fingerprint = cert_fingerprint.strip().lower().replace(":", "")
            if len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint):
                raise ClientError("a certificate fingerprint is 64 hex digits (SHA-256 of DER)")
        else:
            token = new_client_token(agency)
        row = ClientRow(
            id=client_id or new_client_id(),
            name=name,
            agency=agency,
            roles=",".join(role_list),
            token_digest=token_digest(token) if token else None,
            cert_fingerprint=fingerprint,
            created_at=datetime.now(UTC),
        )
        with self._store.session() as s:
            if (
                fingerprint is not None
                and s.exec(
                    select(ClientRow.id).where(ClientRow.cert_fingerprint == fingerprint)
                ).first()
            ):
                raise ClientError("this certificate is registered for another client already")
            s.add(row)
            s.commit()
        self._record("client-add", actor, row)
        return _info(row), token

    def list(self, agency: str | None = None) -> list[ClientInfo]:
        with self._store.session() as s:
            stmt = select(ClientRow)
            if agency is not None:
                stmt = stmt.where(ClientRow.agency == agency)
            rows = sorted(s.exec(stmt), key=lambda r: (r.agency, _aware(r.created_at), r.id))
        return [_info(r) for r in rows]

    def revoke(self, client_id: str, *, actor: str = "cli:operator") -> ClientInfo:
        with self._store.session() as s:
            row = s.get(ClientRow, client_id)
            if row is None:
                raise ClientError(f"no client {client_id!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                s.add(row)
                s.commit()
                self._record("client-revoke", actor, row)
            return _info(row)

    def _record(self, action: str, actor: str, row: ClientRow) -> None:
        if self._audit is not None:
            # The client's id and roles, never its token or certificate.
            self._audit.record(
                AuditEvent(action, "ok", actor, row.agency, reason=f"{row.id}: {row.roles}")
            )

    def by_token(self, token: str) -> Principal | None:
        """The active client holding ``token``, or ``None``.

        Looked up by the token's digest through an index: the attacker-chosen value is the
        digest's preimage, so the lookup's timing says nothing about stored tokens.
        """
        digest = token_digest(token)
        with self._store.session() as s:
            row = s.exec(select(ClientRow).where(ClientRow.token_digest == digest)).first()
            if row is not None:
                if row.revoked_at is not None:
                    return None
                return Principal(row.id, row.agency, frozenset(row.roles.split(",")))
        return None

    def by_certificate(self, fingerprint: str) -> Principal | None:
        """The active client whose certificate has this SHA-256 fingerprint, or ``None``."""
        with self._store.session() as s:
            row = s.exec(
                select(ClientRow).where(ClientRow.cert_fingerprint == fingerprint.lower())
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.agency, frozenset(row.roles.split(",")))
