"""Routes for cross-agency sharing: agreements, lookups, certificate details, the audit trail.

HTTP only: every decision is made in ``certificates.lookup``; this module parses requests into
frozen models and maps the domain's answers to status codes.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition time.
import json
import logging
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from certificates.audit import AuditEvent
from certificates.clients import Principal
from certificates.errors import ConfigurationError
from certificates.ids import CertificateId, InvalidCertificateId
from certificates.lookup import (
    AccessDenied,
    Decision,
    SharingService,
    agreement_json,
    type_of_id,
)
from certificates.notifications import EVENTS, Subscriptions

from .auth import ClientAuth
from .runtime import Runtime

__all__ = ["canonical_id", "install_sharing_routes"]

log = logging.getLogger("certledger.api.sharing")

_CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grantee: str = Field(pattern=_CODE, description="agency code that may look up")
    types: list[Annotated[str, Field(pattern=_CODE)]] = Field(min_length=1, max_length=20)
    purposes: list[Annotated[str, Field(pattern=_CODE)]] = Field(min_length=1, max_length=20)
    fields: list[Annotated[str, Field(pattern=_CODE)]] = Field(min_length=1, max_length=100)
    valid_until: date = Field(description="last day the agreement applies")


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = Field(max_length=64, description="certificate type code")
    holder: str = Field(min_length=1, max_length=64, description="holder identifier")
    purpose: str = Field(pattern=_CODE, description="why you look it up")

    def __repr__(self) -> str:
        # The holder identifier must not reach logs or error texts through a repr.
        return f"LookupRequest(type={self.type!r}, holder=****, purpose={self.purpose!r})"

    __str__ = __repr__


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(min_length=8, max_length=500, description="http(s) callback URL")
    events: list[str] = Field(min_length=1, max_length=len(EVENTS), description=str(EVENTS))
    cert_id: str | None = Field(
        default=None,
        max_length=40,
        description="follow one certificate (e.g. one your agency accepted); "
        "omit for every certificate your agency issued",
    )


class AgreementRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=1, max_length=500)


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
    )


def _denied(decision: Decision) -> Response:
    return _json(
        {"detail": {"code": decision.code, "message": {"zh": decision.zh, "en": decision.en}}},
        403,
    )


_NOT_FOUND = {
    "detail": {
        "code": "NOT_FOUND",
        "message": {"zh": "未找到该证照。", "en": "No certificate with this id."},
    }
}


def canonical_id(raw: str) -> str | None:
    try:
        return str(CertificateId.parse(raw))
    except InvalidCertificateId:
        return None


def install_sharing_routes(
    app: FastAPI, rt: Runtime, auth: ClientAuth, subscriptions: Subscriptions
) -> None:
    issuer = auth.require("issuer")
    verifier = auth.require("verifier")
    any_client = auth.require("issuer", "verifier", "admin")
    auditor = auth.require("admin")

    def sharing() -> SharingService:
        if rt.sharing is None:
            raise ConfigurationError("sharing is not configured on this server")
        return rt.sharing

    # -- agreements ----------------------------------------------------------------------

    @app.post("/api/v1/agreements", tags=["sharing"], status_code=201)
    def create_agreement(
        body: AgreementCreate, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Grant another agency lookups of some of your types, for purposes, until a date."""
        agreement = sharing().create_agreement(
            who,
            grantee=body.grantee,
            cert_types=body.types,
            purposes=body.purposes,
            fields=body.fields,
            valid_until=body.valid_until,
        )
        return _json(agreement_json(agreement), 201)

    @app.get("/api/v1/agreements", tags=["sharing"])
    def list_agreements(_who: Annotated[Principal, Depends(any_client)]) -> Response:
        """Every agreement on the ledger: every agency sees the same rules."""
        return _json([agreement_json(a) for a in sharing().agreements(fresh=True)])

    @app.post("/api/v1/agreements/{agreement_id}/revoke", tags=["sharing"])
    def revoke_agreement(
        agreement_id: Annotated[str, Path(max_length=128)],
        body: AgreementRevoke,
        who: Annotated[Principal, Depends(issuer)],
    ) -> Response:
        agreement = sharing().revoke_agreement(who, agreement_id, body.reason)
        return _json(agreement_json(agreement))

    # -- lookups -------------------------------------------------------------------------

    async def write_audit(events: list[AuditEvent]) -> None:
        # The answer leaves only after its audit entries are durable (fail closed); awaited,
        # so waiting for the group commit does not hold the event loop.
        if events and rt.audit is not None:
            await rt.audit.record_async(events)

    # Lookups run on the event loop: the decision and the reads are a few indexed SQLite
    # reads (as on the public status route), and the audit write is awaited, so no request
    # pays for a thread-pool hop.

    async def run_lookup(who: Principal, type: str, holder: str, purpose: str) -> Response:
        events: list[AuditEvent] = []
        try:
            decision, results = sharing().lookup(who, type, holder, purpose, sink=events)
        except AccessDenied as exc:
            await write_audit(events)
            return _denied(exc.decision)
        await write_audit(events)
        return _json(
            {
                "type": type,
                "purpose": purpose,
                "basis": decision.code,
                "agreements": list(decision.agreement_ids),
                "certificates": results,
            }
        )

    @app.get("/api/v1/lookup", tags=["sharing"])
    async def lookup(
        who: Annotated[Principal, Depends(verifier)],
        type: Annotated[str, Query(max_length=64, description="certificate type code")],
        holder: Annotated[
            str,
            Query(
                min_length=1,
                max_length=64,
                description="holder identifier; matched by keyed digest, never stored or logged "
                "by this service (prefer POST: proxies and clients may log query strings)",
            ),
        ],
        purpose: Annotated[str, Query(pattern=_CODE, description="why you look it up")],
    ) -> Response:
        return await run_lookup(who, type, holder, purpose)

    @app.post("/api/v1/lookup", tags=["sharing"])
    async def lookup_post(
        body: LookupRequest, who: Annotated[Principal, Depends(verifier)]
    ) -> Response:
        """As GET, with the holder identifier in the body, out of every URL and access log."""
        return await run_lookup(who, body.type, body.holder, body.purpose)

    @app.get("/api/v1/certificates/{cert_id}/details", tags=["sharing"])
    async def details(
        cert_id: str,
        who: Annotated[Principal, Depends(verifier)],
        purpose: Annotated[str, Query(pattern=_CODE, description="why you look it up")],
    ) -> Response:
        cid = canonical_id(cert_id)
        if cid is None:
            return _json(_NOT_FOUND, 404)
        events: list[AuditEvent] = []
        try:
            decision, body = sharing().details(who, cid, purpose, sink=events)
        except AccessDenied as exc:
            await write_audit(events)
            return _denied(exc.decision)
        await write_audit(events)
        if body is None:
            return _json(_NOT_FOUND, 404)
        return _json(
            {
                **body,
                "purpose": purpose,
                "basis": decision.code,
                "agreements": list(decision.agreement_ids),
            }
        )

    # -- webhooks ------------------------------------------------------------------------

    @app.post("/api/v1/subscriptions", tags=["sharing"], status_code=201)
    def subscribe(
        body: SubscriptionCreate, who: Annotated[Principal, Depends(any_client)]
    ) -> Response:
        """Subscribe to events; the response carries the signing secret, shown once."""
        cid = None
        issuer_of_cert = None
        if body.cert_id is not None:
            cid = canonical_id(body.cert_id)
            ctype = type_of_id(cid) if cid else None
            if cid is None or ctype is None:
                return _json(_NOT_FOUND, 404)
            issuer_of_cert = ctype.agency
        sub, secret = subscriptions.add(
            who, body.url, body.events, cert_id=cid, issuer_of_cert=issuer_of_cert
        )
        return _json({**sub.to_json(), "secret": secret}, 201)

    @app.get("/api/v1/subscriptions", tags=["sharing"])
    def list_subscriptions(who: Annotated[Principal, Depends(any_client)]) -> Response:
        return _json([s.to_json() for s in subscriptions.of_agency(who.agency)])

    @app.post("/api/v1/subscriptions/{sub_id}/revoke", tags=["sharing"])
    def unsubscribe(
        sub_id: Annotated[str, Path(max_length=64)],
        who: Annotated[Principal, Depends(any_client)],
    ) -> Response:
        return _json(subscriptions.revoke(who, sub_id).to_json())

    # -- audit trail ---------------------------------------------------------------------

    @app.get("/api/v1/certificates/{cert_id}/audit", tags=["sharing"])
    def certificate_audit(cert_id: str, who: Annotated[Principal, Depends(auditor)]) -> Response:
        """Who looked at a certificate: for the issuing agency's administrators."""
        cid = canonical_id(cert_id)
        if cid is None or rt.audit is None:
            return _json(_NOT_FOUND, 404)
        ctype = type_of_id(cid)
        if ctype is None or ctype.agency != who.agency:
            # Decided from the id alone, before any read: existence cannot be probed.
            return _json(
                {
                    "detail": {
                        "code": "FOREIGN_CERTIFICATE",
                        "message": {
                            "zh": "只能查看本机构签发证照的审计记录。",
                            "en": "Administrators see the audit trail of their agency's "
                            "certificates only.",
                        },
                    }
                },
                403,
            )
        entries = rt.audit.entries(cert_id=cid)
        return _json({"id": cid, "entries": [e.to_json() for e in entries]})
