"""Routes for cross-agency sharing: agreements, lookups, certificate details, the audit trail.

HTTP only: every decision is made in ``certificates.sharing``; this module parses requests into
frozen models and maps the domain's answers to status codes.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition time.
import functools
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certificates.audit.log import AuditEvent
from certificates.errors import ConfigurationError
from certificates.ids import CertificateId, InvalidCertificateId
from certificates.notifications.subscriptions import EVENTS, Subscriptions
from certificates.sharing.clients import Principal
from certificates.sharing.lookup import (
    AccessDenied,
    Decision,
    SharingService,
    agreement_json,
    type_of_id,
)
from verify_api.http.auth import ClientAuth
from verify_api.runtime import Runtime

__all__ = ["LookupEndpoints", "LookupFastPath", "canonical_id", "install_sharing_routes"]

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
_DETAILS_PREFIX = "/api/v1/certificates/"
_DETAILS_SUFFIX = "/details"
_PURPOSE_QUERY = re.compile(rb"purpose=[a-z0-9][a-z0-9_-]{0,63}")  # the route's _CODE, raw
_LOOKUP_PATH = "/api/v1/lookup"
# type, holder and purpose in the documented order, each a value that needs no decoding and
# that the route accepts as it is (type: at most 64 characters; holder: 1-64; purpose: _CODE).
_LOOKUP_QUERY = re.compile(
    rb"type=([a-z0-9-]{1,64})&holder=([0-9A-Za-z]{1,64})&purpose=([a-z0-9][a-z0-9_-]{0,63})"
)
# The same values in a POSTed body (LookupRequest), which the fast path reads whole.
_LOOKUP_KEYS = {"type", "holder", "purpose"}
_LOOKUP_TYPE = re.compile(r"[a-z0-9-]{1,64}")
_LOOKUP_HOLDER = re.compile(r"[0-9A-Za-z]{1,64}")
_LOOKUP_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_LOOKUP_BODY = 1024  # far above what three such values take
# What common clients send for JSON (.NET's JsonContent and older Spring add the charset);
# anything else, also JSON in other spellings, goes to the route.
_JSON_CONTENT_TYPES = frozenset(
    {b"application/json", b"application/json; charset=utf-8", b"application/json;charset=UTF-8"}
)


class _Replay:
    """A ``receive`` that first gives back the messages already read, then reads on."""

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop(0)
        return await self._receive()


class LookupFastPath:
    """Serves details and lookup requests without FastAPI's routing and parameter machinery,
    which costs more than the answer (as :class:`verify_api.app.StatusFastPath` does for
    status).

    It takes only requests whose parameters need no parsing to be valid (for details one
    ``purpose`` query parameter matching the route's pattern; for lookups ``type``, ``holder``
    and ``purpose`` in that order, plain letters, digits and hyphens, or a POSTed
    ``application/json`` object with exactly those three such values; nothing to decode, at
    most one ``Authorization`` header) and then calls exactly what the route calls: the
    ``verifier`` dependency, then :meth:`LookupEndpoints.details` or
    :meth:`LookupEndpoints.lookup`. Exceptions go to the app's own exception handlers, as
    inside the route. Any other request (a missing or malformed parameter, an extra one,
    another order, another body) goes on to the route unchanged (a body it read is replayed),
    so its answers (422 and the rest) stay FastAPI's.
    """

    def __init__(self, app: ASGIApp, *, endpoints: LookupEndpoints, api: FastAPI) -> None:
        self.app = app
        self.endpoints = endpoints
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            answer: Callable[[Principal], Awaitable[Response]] | None = None
            method = scope["method"]
            if method == "GET":
                answer = self._query(scope)
            elif method == "POST" and scope["path"] == _LOOKUP_PATH:
                # The body is read here; whatever this does not take goes on to the route
                # with the body replayed, as if nothing had read it.
                answer, receive = await self._posted(scope, receive)
            if answer is not None:
                authorization: str | None = None
                single = True
                for name, value in scope["headers"]:
                    if name == b"authorization":
                        single = authorization is None
                        authorization = value.decode("latin-1")
                if single:
                    await self._serve(scope, receive, send, authorization, answer)
                    return
        await self.app(scope, receive, send)

    def _query(self, scope: Scope) -> Callable[[Principal], Awaitable[Response]] | None:
        path: str = scope["path"]
        query: bytes = scope["query_string"]
        if path.endswith(_DETAILS_SUFFIX) and path.startswith(_DETAILS_PREFIX):
            cert_id = path[len(_DETAILS_PREFIX) : -len(_DETAILS_SUFFIX)]
            if cert_id and "/" not in cert_id and _PURPOSE_QUERY.fullmatch(query):
                return functools.partial(
                    self.endpoints.details, cert_id=cert_id, purpose=query[8:].decode()
                )
        elif path == _LOOKUP_PATH:
            m = _LOOKUP_QUERY.fullmatch(query)
            if m is not None:
                return functools.partial(
                    self.endpoints.lookup,
                    type=m[1].decode(),
                    holder=m[2].decode(),
                    purpose=m[3].decode(),
                )
        return None

    async def _posted(
        self, scope: Scope, receive: Receive
    ) -> tuple[Callable[[Principal], Awaitable[Response]] | None, Receive]:
        """A lookup whose JSON body is exactly ``{"type", "holder", "purpose"}`` with plain
        values (as the GET form), and the ``receive`` the rest of the app must use."""
        content_types = [v for k, v in scope["headers"] if k == b"content-type"]
        if len(content_types) != 1 or content_types[0] not in _JSON_CONTENT_TYPES:
            return None, receive
        messages: list[Message] = []
        body = b""
        complete = False
        while len(body) <= _MAX_LOOKUP_BODY:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the route sees the same
            body += message.get("body", b"")
            if not message.get("more_body", False):
                complete = True
                break
        replay = _Replay(messages, receive)
        if not complete or len(body) > _MAX_LOOKUP_BODY:
            return None, replay
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, replay
        if type(fields) is not dict or fields.keys() != _LOOKUP_KEYS:
            return None, replay
        ctype, holder, purpose = fields["type"], fields["holder"], fields["purpose"]
        if not (
            type(ctype) is str
            and type(holder) is str
            and type(purpose) is str
            and _LOOKUP_TYPE.fullmatch(ctype)
            and _LOOKUP_HOLDER.fullmatch(holder)
            and _LOOKUP_PURPOSE.fullmatch(purpose)
        ):
            return None, replay
        answer = functools.partial(
            self.endpoints.lookup, type=ctype, holder=holder, purpose=purpose
        )
        return answer, replay

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        authorization: str | None,
        answer: Callable[[Principal], Awaitable[Response]],
    ) -> None:
        request = Request(scope, receive)
        try:
            who = await self.endpoints.verifier(request=request, authorization=authorization)
            response = await answer(who)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # as from the route: the server's last-resort handler answers 500
            result = handler(request, exc)
            response = await result if inspect.isawaitable(result) else result
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[[Request, Any], Any] | None:
        """The handler the app's exception middleware would pick for ``exc``."""
        handlers = self.api.exception_handlers
        status = getattr(exc, "status_code", None)
        if isinstance(exc, StarletteHTTPException) and status in handlers:
            return handlers[status]
        for cls in type(exc).__mro__:
            if cls is Exception:
                break  # left to the server's last-resort handler, as for the route
            if cls in handlers:
                return handlers[cls]
        return None


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

    # Lookups run on the event loop: the decision and the reads come from short-lived caches
    # or a few indexed SQLite reads (as on the public status route), and the audit write is
    # awaited, so no request pays for a thread-pool hop. Usually answered by LookupFastPath,
    # the same code without the routing.

    @app.get("/api/v1/lookup", tags=["sharing"])
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

    @app.post("/api/v1/lookup", tags=["sharing"])
    async def lookup_post(
        body: LookupRequest, who: Annotated[Principal, Depends(endpoints.verifier)]
    ) -> Response:
        """As GET, with the holder identifier in the body, out of every URL and access log."""
        return await endpoints.lookup(who, body.type, body.holder, body.purpose)

    @app.get("/api/v1/certificates/{cert_id}/details", tags=["sharing"])
    async def details(
        cert_id: str,
        who: Annotated[Principal, Depends(endpoints.verifier)],
        purpose: Annotated[str, Query(pattern=_CODE, description="why you look it up")],
    ) -> Response:
        """One certificate's allowed fields (usually answered by LookupFastPath, the same
        code without the routing)."""
        return await endpoints.details(who, cert_id, purpose)

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
