"""Routes for cross-agency sharing: agreements, lookups, certificate details, the audit trail.

HTTP only: every decision is made in ``certificates.sharing``; this module parses requests into
frozen models and maps the domain's answers to status codes.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition time.
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from certificates import (
    EVENTS,
    AuditEvent,
    CertificateId,
    ConfigurationError,
    InvalidCertificateId,
    Principal,
    Subscriptions,
)
from certificates.sharing.lookup import (
    AccessDenied,
    Decision,
    SharingService,
    agreement_json,
    type_of_id,
)
from verify_api.http.auth import ClientAuth
from verify_api.runtime import Runtime
from verify_api.schemas import (
    ERROR_RESPONSES,
    AgreementBody,
    AuditTrailBody,
    DetailsBody,
    LookupBody,
    SubscriptionBody,
    SubscriptionCreatedBody,
)

__all__ = ["LookupEndpoints", "canonical_id", "install_sharing_routes"]

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


class _JsonResponse(Response):
    """A JSON body with exactly the headers ``Response(body, media_type="application/json")``
    gets (content-length, content-type), set directly: this is on the details hot path."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(body: Any) -> bytes:
    """Compact UTF-8 JSON. orjson writes the same bytes as ``json.dumps(body,
    ensure_ascii=False, separators=(",", ":"))`` for what these routes answer (strings, None,
    ints, lists, dicts with string keys; stored certificate data is strings only), about 20
    times faster; what it refuses goes through json."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _JSON(body).encode()


def _json(body: Any, status: int = 200) -> Response:
    return _JsonResponse(_encode(body), status)


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


@functools.lru_cache(maxsize=8192)  # a pure function of the text; parsing is most of its cost
def canonical_id(raw: str) -> str | None:
    try:
        return str(CertificateId.parse(raw))
    except InvalidCertificateId:
        return None


def _sharing(rt: Runtime) -> SharingService:
    if rt.sharing is None:
        raise ConfigurationError("sharing is not configured on this server")
    return rt.sharing


async def _write_audit(rt: Runtime, events: list[AuditEvent]) -> None:
    # The answer leaves only after its audit entries are durable (fail closed); awaited, so
    # waiting for the group commit does not hold the event loop.
    if events and rt.audit is not None:
        await rt.audit.write_async(events)


class LookupEndpoints:
    """``GET /api/v1/certificates/{id}/details?purpose=P`` (one certificate's allowed fields)
    and ``/api/v1/lookup`` (the certificates of a type held by a holder).

    The one implementation of these routes: the FastAPI routes and :class:`LookupFastPath` both
    authenticate with :attr:`verifier` (``ClientAuth.require("verifier")``, the dependency the
    routes declare) and answer with :meth:`details` or :meth:`lookup`, so authentication,
    roles, rate limits, the agreement decision, field filtering and the audit entries cannot
    differ between them.
    """

    def __init__(self, rt: Runtime, auth: ClientAuth) -> None:
        self._rt = rt
        self.verifier: Callable[..., Awaitable[Principal]] = auth.require("verifier")
        # What the sharing service hands out is the same objects while its decision and
        # records are cached, so each answer is encoded once per cache period; the entry holds
        # those objects, which keeps their ids from being reused.
        # details: (id(body), purpose) -> (body, encoded answer)
        self._encoded: dict[tuple[int, str], tuple[dict[str, Any], bytes]] = {}
        # lookup: (id(decision), type, purpose, ids of the bodies) -> (decision, bodies, answer)
        self._encoded_lookups: dict[
            tuple[Any, ...], tuple[Decision, list[dict[str, Any]], bytes]
        ] = {}

    async def details(self, who: Principal, cert_id: str, purpose: str) -> Response:
        # Runs on the event loop: the decision and the reads come from short-lived caches or
        # a few indexed SQLite reads, and the audit write is awaited (group commit).
        cid = canonical_id(cert_id)
        if cid is None:
            return _json(_NOT_FOUND, 404)
        events: list[AuditEvent] = []
        try:
            decision, body = _sharing(self._rt).details(who, cid, purpose, sink=events)
        except AccessDenied as exc:
            await _write_audit(self._rt, events)
            return _denied(exc.decision)
        await _write_audit(self._rt, events)
        if body is None:
            return _json(_NOT_FOUND, 404)
        key = (id(body), purpose)
        hit = self._encoded.get(key)
        if hit is not None:
            return _JsonResponse(hit[1])
        raw = _encode(
            {
                **body,
                "purpose": purpose,
                "basis": decision.code,
                "agreements": list(decision.agreement_ids),
            }
        )
        if len(self._encoded) >= _MAX_ENCODED:
            self._encoded.clear()
        self._encoded[key] = (body, raw)
        return _JsonResponse(raw)

    async def lookup(self, who: Principal, type: str, holder: str, purpose: str) -> Response:
        # As details: cached decisions and records, the audit entries awaited.
        events: list[AuditEvent] = []
        try:
            decision, results = _sharing(self._rt).lookup(who, type, holder, purpose, sink=events)
        except AccessDenied as exc:
            await _write_audit(self._rt, events)
            return _denied(exc.decision)
        await _write_audit(self._rt, events)
        key = (id(decision), type, purpose, *map(id, results))
        hit = self._encoded_lookups.get(key)
        if hit is not None:
            return _JsonResponse(hit[2])
        raw = _encode(
            {
                "type": type,
                "purpose": purpose,
                "basis": decision.code,
                "agreements": list(decision.agreement_ids),
                "certificates": results,
            }
        )
        if len(self._encoded_lookups) >= _MAX_ENCODED:
            self._encoded_lookups.clear()
        self._encoded_lookups[key] = (decision, results, raw)
        return _JsonResponse(raw)


_MAX_ENCODED = 16384


def install_sharing_routes(
    app: FastAPI,
    rt: Runtime,
    auth: ClientAuth,
    subscriptions: Subscriptions,
    endpoints: LookupEndpoints | None = None,
) -> None:
    issuer = auth.require("issuer")
    any_client = auth.require("issuer", "verifier", "admin")
    auditor = auth.require("admin")
    endpoints = endpoints or LookupEndpoints(rt, auth)

    def sharing() -> SharingService:
        return _sharing(rt)

    # -- agreements ----------------------------------------------------------------------

    @app.post(
        "/api/v1/agreements",
        tags=["sharing"],
        status_code=201,
        response_model=AgreementBody,
        responses=ERROR_RESPONSES,
    )
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

    @app.get(
        "/api/v1/agreements",
        tags=["sharing"],
        response_model=list[AgreementBody],
        responses=ERROR_RESPONSES,
    )
    def list_agreements(_who: Annotated[Principal, Depends(any_client)]) -> Response:
        """Every agreement on the ledger: every agency sees the same rules."""
        return _json([agreement_json(a) for a in sharing().agreements(fresh=True)])

    @app.post(
        "/api/v1/agreements/{agreement_id}/revoke",
        tags=["sharing"],
        response_model=AgreementBody,
        responses=ERROR_RESPONSES,
    )
    def revoke_agreement(
        agreement_id: Annotated[str, Path(max_length=128)],
        body: AgreementRevoke,
        who: Annotated[Principal, Depends(issuer)],
    ) -> Response:
        agreement = sharing().revoke_agreement(who, agreement_id, body.reason)
        return _json(agreement_json(agreement))

    # -- lookups -------------------------------------------------------------------------

    # Lookups run on the event loop: the decision and the reads come from short-lived caches
    # or a few indexed SQLite reads (as on the public status route), and the audit write is
    # awaited, so no request pays for a thread-pool hop. Usually answered by LookupFastPath,
    # the same code without the routing.

    @app.get(
        "/api/v1/lookup", tags=["sharing"], response_model=LookupBody, responses=ERROR_RESPONSES
    )
    async def lookup(
        who: Annotated[Principal, Depends(endpoints.verifier)],
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
        return await endpoints.lookup(who, type, holder, purpose)

    @app.post(
        "/api/v1/lookup", tags=["sharing"], response_model=LookupBody, responses=ERROR_RESPONSES
    )
    async def lookup_post(
        body: LookupRequest, who: Annotated[Principal, Depends(endpoints.verifier)]
    ) -> Response:
        """As GET, with the holder identifier in the body, out of every URL and access log."""
        return await endpoints.lookup(who, body.type, body.holder, body.purpose)

    @app.get(
        "/api/v1/certificates/{cert_id}/details",
        tags=["sharing"],
        response_model=DetailsBody,
        responses=ERROR_RESPONSES,
    )
    async def details(
        cert_id: str,
        who: Annotated[Principal, Depends(endpoints.verifier)],
        purpose: Annotated[str, Query(pattern=_CODE, description="why you look it up")],
    ) -> Response:
        """One certificate's allowed fields (usually answered by LookupFastPath, the same
        code without the routing)."""
        return await endpoints.details(who, cert_id, purpose)

    # -- webhooks ------------------------------------------------------------------------

    @app.post(
        "/api/v1/subscriptions",
        tags=["sharing"],
        status_code=201,
        response_model=SubscriptionCreatedBody,
        responses=ERROR_RESPONSES,
    )
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

    @app.get(
        "/api/v1/subscriptions",
        tags=["sharing"],
        response_model=list[SubscriptionBody],
        responses=ERROR_RESPONSES,
    )
    def list_subscriptions(who: Annotated[Principal, Depends(any_client)]) -> Response:
        return _json([s.to_json() for s in subscriptions.of_agency(who.agency)])

    @app.post(
        "/api/v1/subscriptions/{sub_id}/revoke",
        tags=["sharing"],
        response_model=SubscriptionBody,
        responses=ERROR_RESPONSES,
    )
    def unsubscribe(
        sub_id: Annotated[str, Path(max_length=64)],
        who: Annotated[Principal, Depends(any_client)],
    ) -> Response:
        return _json(subscriptions.revoke(who, sub_id).to_json())

    # -- audit trail ---------------------------------------------------------------------

    @app.get(
        "/api/v1/certificates/{cert_id}/audit",
        tags=["sharing"],
        response_model=AuditTrailBody,
        responses=ERROR_RESPONSES,
    )
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
