"""HTTP API. Routes translate requests into calls on the certificates layer; errors are mapped to
status codes in one place (`_install_error_handlers`)."""

# No `from __future__ import annotations` here: FastAPI resolves the route signatures at
# definition time, and the agency dependency is a closure-local object.
import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from certificates import (
    AgencyNotAllowed,
    AgreementError,
    AnchorLoop,
    AuditUnavailable,
    BatchRefusal,
    CallbackPolicy,
    CertificateDataError,
    CertificateError,
    CertificateNotFound,
    ConfigurationError,
    DocumentRefused,
    ForeignCertificate,
    Home,
    Issued,
    LedgerUnavailableError,
    NotIssuer,
    Principal,
    RevocationRefused,
    StatusChange,
    SubscriptionError,
    Subscriptions,
    UnreadableDocument,
    VerificationBusy,
    WebhookDispatcher,
    anchor_audit_head,
    types_catalogue,
)
from certificates.store.engine import UNAVAILABLE_ERRORS
from certificates.store.rate_buckets import StoreBuckets
from verify_api.http.auth import ClientAuth
from verify_api.http.headers import SecurityHeadersMiddleware
from verify_api.http.ids import canonical_id
from verify_api.http.limits import BodyLimitMiddleware
from verify_api.http.ratelimit import Buckets, PublicRateLimitMiddleware, RateLimiter, RateLimits
from verify_api.http.shared_limits import SharedBuckets
from verify_api.http.unavailable import RETRY_AFTER as STORE_UNAVAILABLE_RETRY
from verify_api.http.unavailable import (
    STORE_UNAVAILABLE_BODY,
    StoreUnavailableMiddleware,
)
from verify_api.routes.agency import agency_router
from verify_api.routes.batches import batches_router, refusal_response
from verify_api.routes.citizen import citizen_router
from verify_api.routes.counter import counter_router
from verify_api.routes.docs import install_docs
from verify_api.routes.fast_paths import LookupFastPath, StatusFastPath
from verify_api.routes.pki import pki_router
from verify_api.routes.sharing import LookupEndpoints, install_sharing_routes
from verify_api.routes.start import start_router
from verify_api.runtime import Runtime, open_runtime
from verify_api.schemas import (
    ERROR_RESPONSES,
    CertificateStatusBody,
    HealthBody,
    IssuedBody,
    StatusChangedBody,
    VerificationReportBody,
)
from verify_api.settings import ServiceSettings

__all__ = ["WorkerApp", "create_app", "create_app_from_env", "create_app_from_settings"]

log = logging.getLogger("certledger.api")

STATUS_TTL = 1.0  # seconds a public status answer may be reused; bounds staleness after revoke
SEAL_CACHE_SIZE = 4096
SEAL_CHECK_MAX_AGE = 600.0  # seconds a stored certificate's seal check is reused
ANCHOR_INTERVAL = 5.0
AUDIT_ANCHOR_INTERVAL = 60.0  # seconds between anchorings of the audit-log head


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="certificate type code, e.g. business-licence")
    data: dict[str, Any] = Field(description="field values; see GET /api/v1/types")


class ReissueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(
        description="the corrected field values; the type's uniqueness fields stay the same"
    )


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
    )


def _error(status: int, code: str, zh: str, en: str, **extra: Any) -> Response:
    return _json({"detail": {"code": code, "message": {"zh": zh, "en": en}, **extra}}, status)


_NOT_FOUND = ("NOT_FOUND", "未找到该证照。", "No certificate with this id.")


def create_app(
    rt: Runtime,
    *,
    background_anchoring: bool = True,
    limits: RateLimits | None = None,
    webhooks: WebhookDispatcher | None = None,
    shared_limits: Buckets | None = None,
) -> FastAPI:
    """The application. ``shared_limits``: the server's rate-limit table when it runs several
    workers, or the store's when several hosts share a PostgreSQL store (the buckets then hold
    for the whole server or all hosts, not per worker)."""
    limits = limits or rt.config.limits
    # The server's own delivery thread and callback policy (read when the app is made).
    dispatcher = webhooks or WebhookDispatcher(
        Subscriptions(
            rt.store, audit=rt.audit, policy=CallbackPolicy.from_entries(rt.config.webhook_allow)
        )
    )
    rt.use_webhooks(dispatcher)
    # Uploads are anyone's: checked in the sandbox, never in the server process.
    rt.check_uploads_in_sandbox(rt.config.verify_workers)
    subscriptions = rt.subscriptions
    ip_limiter = RateLimiter(
        limits.public_rate, limits.public_burst, shared=shared_limits, namespace="ip:"
    )
    audit_log = rt.audit
    auth = ClientAuth(
        rt.clients,
        audit=audit_log,
        client_limiter=RateLimiter(
            limits.client_rate, limits.client_burst, shared=shared_limits, namespace="client:"
        ),
        ip_limiter=ip_limiter,
        limit_loopback=limits.limit_loopback,
    )
    issuer = auth.require("issuer")

    loop = AnchorLoop(
        anchor_pending=rt.issuance.anchor_pending if rt.issuance is not None else None,
        anchor_audit=lambda: anchor_audit_head(rt.audit, rt.ledger, rt.agency),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background_anchoring and rt.issuance is not None:
            loop.start()
        dispatcher.start()
        rt.follow_ledger()  # Fabric: store and caches kept in step from the ledger's events
        if rt.issuance is not None:
            # Batches a crashed server left interrupted go on by themselves, not on resubmit.
            rt.batches().resume_interrupted(rt.agency)
        try:
            yield
        finally:
            rt.stop_following()
            dispatcher.stop()
            loop.stop()

    app = FastAPI(
        title="CertLedger",
        summary="Sealed electronic certificates anchored on a permissioned ledger",
        version="0.1.0",
        lifespan=lifespan,
        # /docs from pinned assets shipped with the service, never a CDN (routes.docs).
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    _install_error_handlers(app)
    lookup_endpoints = LookupEndpoints(rt, auth)
    # Innermost: run after the rate limits, before routing.
    app.add_middleware(LookupFastPath, endpoints=lookup_endpoints, api=app)
    app.add_middleware(StatusFastPath, cache=rt.public.status_cache)
    app.add_middleware(BodyLimitMiddleware, max_bytes=rt.settings.max_upload_bytes)
    app.add_middleware(
        PublicRateLimitMiddleware,
        limiter=ip_limiter,
        limit_loopback=limits.limit_loopback,
        identify=auth.identify,
    )
    # A database outage anywhere inside (the limits and fast paths included) is a 503.
    app.add_middleware(StoreUnavailableMiddleware)
    # Outermost: every answer, the limits' and the fast paths' included (verify_api.http.headers).
    app.add_middleware(SecurityHeadersMiddleware)

    # -- public ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"], response_model=HealthBody)
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get(
        "/api/v1/types",
        tags=["public"],
        response_model=list[dict[str, Any]],
        responses=ERROR_RESPONSES,
    )
    def list_types() -> Response:
        return _json(types_catalogue())

    @app.post(
        "/api/v1/verify",
        tags=["public"],
        response_model=VerificationReportBody,
        responses=ERROR_RESPONSES,
    )
    def verify_upload(
        file: Annotated[UploadFile, File(description="the certificate PDF")],
    ) -> Response:
        data = file.file.read()
        if not data:
            return _error(400, "EMPTY_FILE", "上传的文件是空的。", "The uploaded file is empty.")
        return _json(rt.public.verify_upload(data).to_json())

    @app.get(
        "/api/v1/certificates/{cert_id}",
        tags=["public"],
        response_model=CertificateStatusBody,
        responses=ERROR_RESPONSES,
    )
    async def certificate_status(cert_id: str) -> Response:
        # async on purpose: a cache hit never leaves the event loop (no thread-pool hop), and a
        # miss is two indexed SQLite reads of ~0.1 ms, cheaper than the hop itself.
        cid = canonical_id(cert_id)
        raw = rt.public.status_json(cid) if cid is not None else None
        if raw is None:
            return _error(404, *_NOT_FOUND)
        return Response(raw, media_type="application/json")

    # -- agencies ----------------------------------------------------------------------------

    @app.post(
        "/api/v1/certificates",
        tags=["agencies"],
        status_code=201,
        response_model=IssuedBody,
        responses=ERROR_RESPONSES,
    )
    def issue(
        body: IssueRequest,
        who: Annotated[Principal, Depends(issuer)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="the same key with the same request answers the certificate "
                "issued the first time and issues nothing; with another request: 409",
            ),
        ] = None,
    ) -> Response:
        try:
            issued = rt.issuing().issue_as(
                who, body.type, body.data, idempotency_key=idempotency_key
            )
        except BatchRefusal as exc:  # an active one in the way, or a key reused or malformed
            return refusal_response(exc)
        return _json(issued_body(issued), 201)

    def issued_body(issued: Issued, **more: str) -> dict[str, Any]:
        return {
            "id": issued.cert_id,
            "type": issued.cert_type,
            "issuer": issued.agency,
            "verify_url": issued.verify_url,
            "pdf_url": f"/api/v1/certificates/{issued.cert_id}/pdf",
            "sealed_digest": issued.sealed_digest,
            "status": "active" if issued.anchored else "pending",
            "ledger": {
                "backend": rt.ledger.backend,
                "block": issued.block,
                "tx_id": issued.tx_id,
            },
            **more,
        }

    @app.post(
        "/api/v1/certificates/{cert_id}/reissue",
        tags=["agencies"],
        status_code=201,
        response_model=IssuedBody,
        responses=ERROR_RESPONSES,
    )
    def reissue(
        cert_id: str, body: ReissueRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """A corrected certificate: the next version of ``cert_id``, which it supersedes (the
        old version is revoked on the ledger, "superseded by" the new one)."""
        cid = canonical_id(cert_id)
        if cid is None:
            return _error(404, *_NOT_FOUND)
        try:
            issued = rt.issuing().reissue_as(who, cid, body.data)
        except BatchRefusal as exc:
            return refusal_response(exc)
        return _json(issued_body(issued, supersedes=cid), 201)

    @app.get(
        "/api/v1/certificates/{cert_id}/pdf",
        tags=["agencies"],
        responses={**ERROR_RESPONSES, 200: {"content": {"application/pdf": {}}}},
    )
    def download(cert_id: str, who: Annotated[Principal, Depends(issuer)]) -> Response:
        cid = canonical_id(cert_id)
        if cid is None:
            return _error(404, *_NOT_FOUND)
        stored = rt.register.pdf_for(who, cid)
        return Response(
            stored.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{stored.cert_id}.pdf"'},
        )

    def change_status(cert_id: str, reason: str, who: Principal, change: StatusChange) -> Response:
        cid = canonical_id(cert_id)
        if cid is None:
            return _error(404, *_NOT_FOUND)
        done = rt.statuses().change(who, cid, change, reason)
        return _json({"id": done.cert_id, "status": done.status, "reason": done.reason})

    @app.post(
        "/api/v1/certificates/{cert_id}/revoke",
        tags=["agencies"],
        response_model=StatusChangedBody,
        responses=ERROR_RESPONSES,
    )
    def revoke(
        cert_id: str, body: StatusChangeRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Revoke a certificate you issued, for good (the reason is public)."""
        return change_status(cert_id, body.reason, who, StatusChange.REVOKE)

    @app.post(
        "/api/v1/certificates/{cert_id}/suspend",
        tags=["agencies"],
        response_model=StatusChangedBody,
        responses=ERROR_RESPONSES,
    )
    def suspend(
        cert_id: str, body: StatusChangeRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Suspend an active certificate you issued until it is reinstated (the reason is
        public); it does not verify while suspended."""
        return change_status(cert_id, body.reason, who, StatusChange.SUSPEND)

    @app.post(
        "/api/v1/certificates/{cert_id}/reinstate",
        tags=["agencies"],
        response_model=StatusChangedBody,
        responses=ERROR_RESPONSES,
    )
    def reinstate(
        cert_id: str, body: StatusChangeRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Make a suspended certificate you issued active again (the reason is public)."""
        return change_status(cert_id, body.reason, who, StatusChange.REINSTATE)

    install_sharing_routes(app, rt, auth, subscriptions, lookup_endpoints)

    # -- time-stamp authority ----------------------------------------------------------------

    @app.post("/tsa", tags=["ops"], include_in_schema=True)
    async def timestamp(request: Request, content_type: Annotated[str, Header()] = "") -> Response:
        if rt.tsa is None:
            return _error(
                503, "TSA_DISABLED", "时间戳服务未启用。", "The time-stamp service is not enabled."
            )
        if content_type.split(";")[0].strip() != "application/timestamp-query":
            return _error(
                415,
                "BAD_CONTENT_TYPE",
                "请求类型须为 application/timestamp-query。",
                "The request must be application/timestamp-query.",
            )
        body = await request.body()
        return Response(rt.tsa.respond(body), media_type="application/timestamp-reply")

    app.include_router(pki_router(rt))  # CRL, OCSP and CA certificate (verify_api.routes.pki)
    app.include_router(batches_router(rt, auth))  # CSV batches (verify_api.routes.batches)
    app.include_router(counter_router(rt, auth))  # the counter desk (verify_api.routes.counter)
    app.include_router(agency_router(rt, auth))  # the agency console (verify_api.routes.agency)
    app.include_router(citizen_router(rt))  # the QR page and its audio (verify_api.routes.citizen)
    app.include_router(start_router())  # the start page, / (verify_api.routes.start)
    return app


# The HTTP answer to a refusal that carries a code (subscriptions, agreements); any other
# code is a refusal by the state of things: 409. Domain errors carry no HTTP codes.
_REFUSAL_STATUS = {
    "NOT_FOUND": 404,
    "NOT_ISSUER": 403,
    "NOT_OWNER": 403,
    "NOT_OWN_TYPE": 403,
    "UNKNOWN_EVENT": 422,
    "BAD_URL": 422,
    "UNKNOWN_FIELD": 422,
    "UNKNOWN_AGENCY": 422,
    "INVALID_AGREEMENT": 422,
    "TOO_MANY": 409,
    "REFUSED": 409,
}


def _install_error_handlers(app: FastAPI) -> None:
    async def _store_unavailable(_r: Request, exc: Exception) -> Response:
        # As StoreUnavailableMiddleware answers outside the routes; here too for the consoles,
        # which show what the API would say (verify_api.http.console.api_refusal).
        log.warning("database unavailable: %s", type(exc).__name__)
        return Response(
            STORE_UNAVAILABLE_BODY,
            status_code=503,
            media_type="application/json",
            headers=STORE_UNAVAILABLE_RETRY,
        )

    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _store_unavailable)

    @app.exception_handler(CertificateDataError)
    async def _data(_r: Request, exc: CertificateDataError) -> Response:
        return _error(
            422,
            "INVALID_DATA",
            "证照数据有误，未签发任何证照。",
            "The certificate data is invalid; nothing was issued.",
            errors=[
                {
                    "field": e.field,
                    "code": e.code,
                    "message": {"zh": e.message_zh, "en": e.message_en},
                }
                for e in exc.errors
            ],
        )

    @app.exception_handler(DocumentRefused)
    async def _refused_document(_r: Request, exc: DocumentRefused) -> Response:
        # 413 where the document's data is too much (decoded size, memory), 422 where its
        # shape is (revisions, objects, nesting) or the work takes too long.
        status = 413 if exc.limit in ("decoded_bytes", "memory") else 422
        return _error(status, "DOCUMENT_REFUSED", exc.zh, exc.en, limit=exc.limit)

    @app.exception_handler(VerificationBusy)
    async def _busy(_r: Request, _exc: VerificationBusy) -> Response:
        response = _error(
            503,
            "VERIFIER_BUSY",
            "验证服务繁忙，请稍后重试。",
            "The verifier is busy; try again in a few seconds.",
        )
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(UnreadableDocument)
    async def _unreadable(_r: Request, exc: UnreadableDocument) -> Response:
        # The typed reason in each language; the checker's own words are not shown.
        return _error(400, "UNREADABLE_PDF", exc.zh, exc.en, reason=exc.code)

    @app.exception_handler(CertificateNotFound)
    async def _nf(_r: Request, _exc: CertificateNotFound) -> Response:
        return _error(404, *_NOT_FOUND)

    @app.exception_handler(NotIssuer)
    async def _not_issuer(_r: Request, exc: NotIssuer) -> Response:
        return _error(403, "NOT_ISSUER", exc.zh, exc.en)

    @app.exception_handler(ForeignCertificate)
    async def _foreign(_r: Request, exc: ForeignCertificate) -> Response:
        return _error(403, "FOREIGN_CERTIFICATE", exc.zh, exc.en)

    @app.exception_handler(AgencyNotAllowed)
    async def _forbidden(_r: Request, exc: AgencyNotAllowed) -> Response:
        # The Chinese sentence stands alone: the exception's text is English detail.
        zh = getattr(exc, "zh", None) or "不允许的操作：本机构不签发该类型的证照，或类型未知。"
        return _error(403, "NOT_ALLOWED", zh, f"Not allowed: {exc}")

    @app.exception_handler(RevocationRefused)
    async def _refused(_r: Request, exc: RevocationRefused) -> Response:
        return _error(409, "REFUSED", exc.zh, exc.en, reason=exc.code)

    @app.exception_handler(LedgerUnavailableError)
    async def _ledger(_r: Request, exc: LedgerUnavailableError) -> Response:
        return _error(
            503,
            "LEDGER_UNAVAILABLE",
            "暂时无法访问账本，请稍后重试。",
            "The ledger cannot be reached; try again later.",
        )

    @app.exception_handler(ConfigurationError)
    async def _config(_r: Request, exc: ConfigurationError) -> Response:
        return _error(
            503,
            "NOT_CONFIGURED",
            "服务配置不完整，请联系系统管理员。",
            f"Service not configured: {exc}",
        )

    @app.exception_handler(AuditUnavailable)
    async def _audit(_r: Request, _exc: AuditUnavailable) -> Response:
        # Fail closed: an answer whose audit entry could not be written is not given.
        return _error(
            503,
            "AUDIT_UNAVAILABLE",
            "暂时无法写入审计日志，请稍后重试。",
            "The audit log cannot be written; try again later.",
        )

    @app.exception_handler(SubscriptionError)
    async def _subscription(_r: Request, exc: SubscriptionError) -> Response:
        return _error(_REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.zh, exc.en)

    @app.exception_handler(AgreementError)
    async def _agreement(_r: Request, exc: AgreementError) -> Response:
        return _error(_REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.zh, exc.en)

    @app.exception_handler(CertificateError)
    async def _domain(_r: Request, exc: CertificateError) -> Response:
        zh = getattr(exc, "zh", None) or "请求有误，未作任何更改。"
        return _error(400, "BAD_REQUEST", zh, f"Bad request: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _field_errors(request, exc)
        return _error(
            422, "INVALID_REQUEST", "请求格式不正确。", "The request is malformed.", errors=errors
        )

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, exc: Exception) -> Response:
        # Log the type only: exception texts can carry data from the request.
        log.error("unexpected error: %s", type(exc).__name__)
        return _error(500, "INTERNAL", "服务器内部错误。", "Internal server error.")


# The Chinese words for pydantic's error types; the English ones are pydantic's own.
_FIELD_ERRORS_ZH = {
    "missing": "缺少必填字段。",
    "string_too_short": "内容不能为空。",
    "string_too_long": "内容过长。",
    "string_type": "应为文字。",
    "extra_forbidden": "不允许的字段。",
    "json_invalid": "请求体不是有效的 JSON。",
    "model_attributes_type": "请求体应为 JSON 对象。",
    "dict_type": "应为 JSON 对象。",
}


def _field_errors(request: Request, exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each problem named by its field. A missing body names the fields the body needs (a
    revoke without a body is told ``reason``), not the empty path of the body itself."""
    out: list[dict[str, Any]] = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        kind = str(e.get("type", ""))
        # The body as a whole (missing, or not an object) is named "body", never "".
        fields = [".".join(str(p) for p in loc[1:]) or "body"]
        en = str(e.get("msg", ""))
        if loc == ("body",) and kind == "missing":
            fields = _required_body_fields(request) or ["body"]
            en = en if fields != ["body"] else "The request body is missing."
        for field in fields:
            out.append(
                {
                    "field": field,
                    "code": kind,
                    "message": {"zh": _FIELD_ERRORS_ZH.get(kind, "格式不正确。"), "en": en},
                }
            )
    return out


def _required_body_fields(request: Request) -> list[str]:
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [name for name, f in model.model_fields.items() if f.is_required()]


def create_app_from_settings(home: Home, settings: ServiceSettings) -> FastAPI:
    """One server process's app: opens the runtime with ``settings`` and serves it."""
    shared: Buckets | None
    try:
        shared = SharedBuckets(Path(settings.rate_table)) if settings.rate_table else None
    except (OSError, ValueError) as exc:
        # Without the table each worker would allow the whole rate: refuse to start instead
        # (checked first, so a refused start leaves no runtime open).
        raise ConfigurationError(f"cannot open the shared rate-limit table: {exc}") from None
    rt = open_runtime(home, passphrase=settings.passphrase, config=settings)
    if rt.store.dialect == "postgresql":
        # Hosts sharing the store share its buckets: a limit of N a minute admits N in all,
        # not N per host. The workers' table would hold for this host only.
        shared = StoreBuckets(rt.store)
    app = create_app(rt, limits=settings.limits, shared_limits=shared)
    # Everything built so far (the framework, the models, the keys) lives as long as the
    # worker. Frozen out of the collector, it is not traversed again by every full
    # collection: these took 50-85 ms each under load, a few times a minute, and were the
    # whole p99 of the lookup path (measured, `make bench-lookup`).
    gc.collect()
    gc.freeze()
    return app


@dataclass(frozen=True)
class WorkerApp:
    """The app factory `certledger serve` hands to uvicorn: pickled into every worker process
    with the server's settings (without their secrets, which are not picklable; each worker
    takes them from the environment it inherits)."""

    home_root: str
    settings: ServiceSettings

    def __call__(self) -> FastAPI:
        return create_app_from_settings(
            Home(Path(self.home_root)), self.settings.with_secrets_from(os.environ)
        )


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory verify_api.app:create_app_from_env``: the settings
    from this process's environment."""
    return create_app_from_settings(
        Home.resolve(None, os.environ), ServiceSettings.from_env(os.environ)
    )
