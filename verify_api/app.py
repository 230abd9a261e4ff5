"""HTTP API. Routes translate requests into calls on the certificates layer; errors are mapped to
status codes in one place (`_install_error_handlers`)."""

# No `from __future__ import annotations` here: FastAPI resolves the route signatures at
# definition time, and the agency dependency is a closure-local object.
import gc
import json
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from certificates.agencies import AGENCIES
from certificates.audit.log import AuditEvent, AuditUnavailable
from certificates.errors import (
    AgencyNotAllowed,
    CertificateError,
    CertificateNotFound,
    ConfigurationError,
    LedgerUnavailableError,
    RevocationRefused,
    UnreadableDocument,
)
from certificates.home import Home
from certificates.ids import CertificateId, InvalidCertificateId, tokens_match
from certificates.notifications.dispatcher import WebhookDispatcher
from certificates.notifications.subscriptions import SubscriptionError, Subscriptions
from certificates.sharing.clients import Principal
from certificates.sharing.lookup import AgreementError
from certificates.status import NotIssuer, StatusChange
from certificates.store.database import PublicView
from certificates.types import CERTIFICATE_TYPES, CertificateDataError, types_catalogue
from certificates.verification.seal_cache import dump_seal_report, load_seal_report
from signing import SealReport, Secret
from verify_api.http.auth import ClientAuth
from verify_api.http.limits import BodyLimitMiddleware
from verify_api.http.ratelimit import PublicRateLimitMiddleware, RateLimiter, RateLimits
from verify_api.http.shared_limits import TABLE_ENV, SharedBuckets
from verify_api.routes.pages import PageFacts, not_found_page, verification_page
from verify_api.routes.pki import pki_router
from verify_api.routes.sharing import LookupEndpoints, LookupFastPath, install_sharing_routes
from verify_api.runtime import Runtime, open_runtime

__all__ = ["create_app", "create_app_from_env"]

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


class _TTLCache:
    """A small thread-safe LRU with expiry, per process."""

    def __init__(self, size: int, ttl: float) -> None:
        self._size, self._ttl = size, ttl
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: str, value: Any) -> None:
        # Jitter the expiry (80-120%) so entries filled together do not all expire together
        # and come back as a burst of misses. Not security relevant.
        ttl = self._ttl * (0.8 + 0.4 * random.random())  # noqa: S311
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class StatusFastPath:
    """Answers public status requests that are in the cache without FastAPI's routing and
    parameter machinery, which costs more than the answer itself (about half of the server's
    CPU per request). A miss, or any other request, goes on to the real route unchanged."""

    PREFIX = "/api/v1/certificates/"

    def __init__(self, app: ASGIApp, *, cache: _TTLCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(self.PREFIX):
                key = path[len(self.PREFIX) :]
                # Keys are canonical ids; anything else (another form, a sub-path) misses.
                raw = self.cache.get(key) if "/" not in key else None
                if raw is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(raw)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": raw})
                    return
        await self.app(scope, receive, send)


def create_app(
    rt: Runtime,
    *,
    background_anchoring: bool = True,
    limits: RateLimits | None = None,
    webhooks: WebhookDispatcher | None = None,
    shared_limits: SharedBuckets | None = None,
) -> FastAPI:
    """The application. ``shared_limits``: the server's rate-limit table when it runs several
    workers (the buckets then hold for the whole server, not per worker)."""
    limits = limits or RateLimits.from_env()
    # The server's own delivery thread and callback policy (read when the app is made).
    dispatcher = webhooks or WebhookDispatcher(Subscriptions(rt.store, audit=rt.audit))
    rt.use_webhooks(dispatcher)
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

    def audit(event: AuditEvent) -> None:
        audit_log.record(event)

    status_cache = _TTLCache(65536, STATUS_TTL)
    if rt.status is not None:
        # What this process shows changes at once; other workers within their cache periods.
        rt.status.on_change(status_cache.drop)
    # What the local store says about a certificate (type, issuer, masked subject, dates)
    # never changes once written, so it is kept longer; only the ledger status is re-read
    # when a status answer expires.
    view_cache = _TTLCache(65536, 600.0)
    seal_cache = _TTLCache(SEAL_CACHE_SIZE, 600.0)
    stop = threading.Event()

    def anchor_loop() -> None:
        assert rt.issuance is not None
        next_audit = time.monotonic() + AUDIT_ANCHOR_INTERVAL
        while not stop.is_set():
            try:
                n = rt.issuance.anchor_pending()
                if n:
                    log.info("anchored %d pending certificate(s)", n)
            except Exception:  # the loop must survive anything and retry later
                log.exception("background anchoring failed; will retry")
            if time.monotonic() >= next_audit:
                next_audit = time.monotonic() + AUDIT_ANCHOR_INTERVAL
                try:
                    anchor_audit_head(rt)
                except Exception:  # as above: retried at the next interval
                    log.exception("anchoring the audit-log head failed; will retry")
            stop.wait(ANCHOR_INTERVAL)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        thread = None
        if background_anchoring and rt.issuance is not None:
            thread = threading.Thread(target=anchor_loop, name="anchor-pending", daemon=True)
            thread.start()
        dispatcher.start()
        try:
            yield
        finally:
            dispatcher.stop()
            stop.set()
            if thread:
                thread.join(timeout=10)

    app = FastAPI(
        title="CertLedger",
        summary="Sealed electronic certificates anchored on a permissioned ledger",
        version="0.1.0",
        lifespan=lifespan,
    )
    _install_error_handlers(app)
    lookup_endpoints = LookupEndpoints(rt, auth)
    # Innermost: run after the rate limits, before routing.
    app.add_middleware(LookupFastPath, endpoints=lookup_endpoints, api=app)
    app.add_middleware(StatusFastPath, cache=status_cache)
    app.add_middleware(BodyLimitMiddleware, max_bytes=rt.settings.max_upload_bytes)
    app.add_middleware(
        PublicRateLimitMiddleware, limiter=ip_limiter, limit_loopback=limits.limit_loopback
    )

    # -- public ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/api/v1/types", tags=["public"])
    def list_types() -> Response:
        return _json(types_catalogue())

    @app.post("/api/v1/verify", tags=["public"])
    def verify_upload(
        file: Annotated[UploadFile, File(description="the certificate PDF")],
    ) -> Response:
        data = file.file.read()
        if not data:
            return _error(400, "EMPTY_FILE", "上传的文件是空的。", "The uploaded file is empty.")
        report = rt.verifier.verify_pdf(data)
        cert = report.certificate
        audit(
            AuditEvent(
                "verify",
                report.verdict.value,
                cert_id=cert.id if cert else None,
                cert_type=cert.type if cert else None,
            )
        )
        return _json(report.to_json())

    @app.get("/api/v1/certificates/{cert_id}", tags=["public"])
    async def certificate_status(cert_id: str) -> Response:
        # async on purpose: a cache hit never leaves the event loop (no thread-pool hop), and a
        # miss is two indexed SQLite reads of ~0.1 ms, cheaper than the hop itself.
        cid = _canonical_id(cert_id)
        if cid is None:
            return _error(404, *_NOT_FOUND)
        raw = status_cache.get(cid)
        if raw is None:
            view = view_cache.get(cid)
            if view is None:
                view = rt.store.public_view(cid)
                if view is not None:
                    view_cache.put(cid, view)
            body = _status_body(rt, cid, view)
            if body is None:
                return _error(404, *_NOT_FOUND)
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            status_cache.put(cid, raw)
        return Response(raw, media_type="application/json")

    @app.get("/v/{cert_id}", tags=["public"], response_class=HTMLResponse)
    def verification_page_route(
        cert_id: str,
        t: Annotated[str, Query(max_length=200)] = "",
        lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
        size: Annotated[str, Query(pattern="^(normal|large)$")] = "normal",
    ) -> HTMLResponse:
        large = size == "large"
        cid = _canonical_id(cert_id)
        view = rt.store.public_view(cid) if cid else None
        # Unknown id and wrong token get the same answer, so ids cannot be probed.
        if view is None or not t or not tokens_match(t, view.token_digest):
            return HTMLResponse(not_found_page(lang=lang, large=large), status_code=404)
        audit(AuditEvent("view", "ok", cert_id=view.id, cert_type=view.cert_type))
        seal: SealReport | None = seal_cache.get(view.id)
        if seal is None:
            # The stored copy never changes: one check serves every worker for a while (the
            # ledger checks below stay live on every view).
            cached = rt.store.recent_seal_check(view.id, SEAL_CHECK_MAX_AGE)
            seal = load_seal_report(cached) if cached else None
            if seal is None:
                row = rt.store.get(view.id)
                assert row is not None
                seal = rt.verifier.check_seal(row.pdf)
                rt.store.save_seal_check(view.id, dump_seal_report(seal))
            seal_cache.put(view.id, seal)
        report = rt.verifier.report_for(seal)
        ctype = CERTIFICATE_TYPES.get(view.cert_type)
        issuer = AGENCIES.get(view.agency)
        zh = lang == "zh"
        facts = PageFacts(
            cert_id=view.id,
            token=t,
            type_name=(ctype.name_zh if zh else ctype.name_en) if ctype else view.cert_type,
            subject=view.subject,
            issuer=(issuer.name_zh if zh else issuer.name_en) if issuer else view.agency,
            issued_on=view.issued_at.date().isoformat(),
            valid_until=view.valid_until.isoformat() if view.valid_until else None,
            status=report.certificate.status if report.certificate else view.status,
        )
        return HTMLResponse(verification_page(report, facts, lang=lang, large=large))

    # -- agencies ----------------------------------------------------------------------------

    @app.post("/api/v1/certificates", tags=["agencies"], status_code=201)
    def issue(body: IssueRequest, who: Annotated[Principal, Depends(issuer)]) -> Response:
        issued = rt.issuing().issue_as(who, body.type, body.data)
        return _json(
            {
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
            },
            201,
        )

    @app.get("/api/v1/certificates/{cert_id}/pdf", tags=["agencies"])
    def download(cert_id: str, who: Annotated[Principal, Depends(issuer)]) -> Response:
        agency = who.agency
        cid = _canonical_id(cert_id)
        row = rt.store.get(cid) if cid else None
        if row is None:
            return _error(404, *_NOT_FOUND)
        if row.agency != agency:
            audit(
                AuditEvent(
                    "download",
                    "denied",
                    who.client_id,
                    agency,
                    row.id,
                    row.cert_type,
                    reason="FOREIGN_CERTIFICATE",
                )
            )
            return _error(
                403,
                "FOREIGN_CERTIFICATE",
                "只能下载本机构签发的证照。",
                "An agency may download only the certificates it issued.",
            )
        return Response(
            row.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{row.id}.pdf"'},
        )

    def change_status(cert_id: str, reason: str, who: Principal, change: StatusChange) -> Response:
        cid = _canonical_id(cert_id)
        if cid is None:
            return _error(404, *_NOT_FOUND)
        done = rt.statuses().change(who, cid, change, reason)
        return _json({"id": done.cert_id, "status": done.status, "reason": done.reason})

    @app.post("/api/v1/certificates/{cert_id}/revoke", tags=["agencies"])
    def revoke(
        cert_id: str, body: StatusChangeRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Revoke a certificate you issued, for good (the reason is public)."""
        return change_status(cert_id, body.reason, who, StatusChange.REVOKE)

    @app.post("/api/v1/certificates/{cert_id}/suspend", tags=["agencies"])
    def suspend(
        cert_id: str, body: StatusChangeRequest, who: Annotated[Principal, Depends(issuer)]
    ) -> Response:
        """Suspend an active certificate you issued until it is reinstated (the reason is
        public); it does not verify while suspended."""
        return change_status(cert_id, body.reason, who, StatusChange.SUSPEND)

    @app.post("/api/v1/certificates/{cert_id}/reinstate", tags=["agencies"])
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
    return app


def anchor_audit_head(rt: Runtime) -> None:
    """Anchor the audit log's head on the ledger.

    It is anchored as the deployment's own agency (``CERTLEDGER_AGENCY``, the identity a Fabric
    peer connection acts for) or, on an embedded ledger serving every agency, as the first
    agency of the registry. The choice is fixed at the first anchoring (see AuditLog.anchor).
    """
    if rt.audit is None:
        return
    agency = os.environ.get("CERTLEDGER_AGENCY", "")
    if not agency:
        registry = rt.ledger.registry()
        if not registry:
            return
        agency = registry[0].code
    rt.audit.anchor(rt.ledger, agency)


def _canonical_id(raw: str) -> str | None:
    try:
        return str(CertificateId.parse(raw))
    except InvalidCertificateId:
        return None


def _status_body(rt: Runtime, cid: str, view: PublicView | None) -> dict[str, Any] | None:
    try:
        record = rt.ledger.get(cid)
        ledger_ok = True
    except Exception:  # any ledger failure: report "unknown", never "active"
        record, ledger_ok = None, False
    if view is None and record is None:
        return None
    cert_type = view.cert_type if view else record.cert_type  # type: ignore[union-attr]
    agency = view.agency if view else record.agency  # type: ignore[union-attr]
    ctype = CERTIFICATE_TYPES.get(cert_type)
    issuer = AGENCIES.get(agency)
    if not ledger_ok:
        status, reason = "unknown", None
    elif record is None:
        status, reason = "pending", None
    else:
        status, reason = record.status, record.reason
    valid_until = view.valid_until if view else (record.valid_until if record else None)
    return {
        "id": cid,
        "type": cert_type,
        "type_name": {"zh": ctype.name_zh, "en": ctype.name_en} if ctype else None,
        "issuer": agency,
        "issuer_name": {"zh": issuer.name_zh, "en": issuer.name_en} if issuer else None,
        "subject": view.subject if view else None,
        "issued_at": view.issued_at.isoformat() if view else None,
        "valid_until": str(valid_until) if valid_until else None,
        "status": status,
        "status_reason": reason,
        "ledger": {
            "backend": rt.ledger.backend,
            "block": record.anchored_block if record else None,
            "tx_id": record.anchored_tx if record else None,
            "anchored_at": record.anchored_at.isoformat()
            if record and record.anchored_at
            else None,
        },
    }


def _install_error_handlers(app: FastAPI) -> None:
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

    @app.exception_handler(UnreadableDocument)
    async def _unreadable(_r: Request, exc: UnreadableDocument) -> Response:
        return _error(
            400,
            "UNREADABLE_PDF",
            f"无法读取该文件：{exc}",
            f"The file cannot be read as a PDF: {exc}",
        )

    @app.exception_handler(CertificateNotFound)
    async def _nf(_r: Request, _exc: CertificateNotFound) -> Response:
        return _error(404, *_NOT_FOUND)

    @app.exception_handler(NotIssuer)
    async def _not_issuer(_r: Request, exc: NotIssuer) -> Response:
        return _error(403, "NOT_ISSUER", exc.zh, exc.en)

    @app.exception_handler(AgencyNotAllowed)
    async def _forbidden(_r: Request, exc: AgencyNotAllowed) -> Response:
        return _error(403, "NOT_ALLOWED", f"不允许的操作：{exc}", f"Not allowed: {exc}")

    @app.exception_handler(RevocationRefused)
    async def _refused(_r: Request, exc: RevocationRefused) -> Response:
        return _error(409, "REFUSED", f"账本拒绝了该操作：{exc}", f"The ledger refused: {exc}")

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
            503, "NOT_CONFIGURED", f"服务配置不完整：{exc}", f"Service not configured: {exc}"
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
        return _error(exc.status, exc.code, exc.zh, exc.en)

    @app.exception_handler(AgreementError)
    async def _agreement(_r: Request, exc: AgreementError) -> Response:
        return _error(exc.status, exc.code, exc.zh, exc.en)

    @app.exception_handler(CertificateError)
    async def _domain(_r: Request, exc: CertificateError) -> Response:
        return _error(400, "BAD_REQUEST", f"请求有误：{exc}", f"Bad request: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())[1:]),
                "code": e.get("type", ""),
                "message": {"zh": "字段缺失或格式不正确。", "en": str(e.get("msg", ""))},
            }
            for e in exc.errors()
        ]
        return _error(
            422, "INVALID_REQUEST", "请求格式不正确。", "The request is malformed.", errors=errors
        )

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, exc: Exception) -> Response:
        # Log the type only: exception texts can carry data from the request.
        log.error("unexpected error: %s", type(exc).__name__)
        return _error(500, "INTERNAL", "服务器内部错误。", "Internal server error.")


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` with several workers: each worker opens the runtime."""
    home = Home.resolve(os.environ.get("CERTLEDGER_HOME"))
    passphrase = (
        Secret(os.environ["CERTLEDGER_PASSPHRASE"])
        if os.environ.get("CERTLEDGER_PASSPHRASE")
        else None
    )
    table = os.environ.get(TABLE_ENV)
    try:
        shared = SharedBuckets(Path(table)) if table else None
    except (OSError, ValueError) as exc:
        # Without the table each worker would allow the whole rate: refuse to start instead
        # (checked first, so a refused start leaves no runtime open).
        raise ConfigurationError(f"cannot open the shared rate-limit table: {exc}") from None
    rt = open_runtime(home, passphrase=passphrase)
    app = create_app(rt, shared_limits=shared)
    # Everything built so far (the framework, the models, the keys) lives as long as the
    # worker. Frozen out of the collector, it is not traversed again by every full
    # collection: these took 50-85 ms each under load, a few times a minute, and were the
    # whole p99 of the lookup path (measured, `make bench-lookup`).
    gc.collect()
    gc.freeze()
    return app
