"""The counter desk (``/counter``): a clerk signs in with the counter's verifier client
credential and verifies documents three ways (a PDF dropped or picked, the QR code on paper
through the camera, a keyboard-wedge scanner typing the link), all ending in one result page.

The handlers translate HTTP into calls on the desk service (``certificates.CounterDesk``) and
render its values (``verify_api.web.counter_views``); no workflow rule lives here. The
credential is checked by the API's own :class:`ClientAuth` (same lookup, rate limits,
audit); refusals carry the API's own messages, taken from the app's error handlers.

Security headers on every desk answer: a strict Content-Security-Policy (no inline script,
no inline style, no framing), ``Referrer-Policy: no-referrer`` (verification links carry QR
tokens), ``nosniff``, and ``Cache-Control: no-store`` (the pages show personal data).
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition.
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from certificates import (
    CertificateError,
    CounterDesk,
    LinkNotRecognised,
    Principal,
)
from certificates.verification.report import Message
from verify_api.http.auth import ClientAuth, peer_certificate_fingerprint
from verify_api.http.sessions import Session, SessionStore, same_secret
from verify_api.runtime import Runtime
from verify_api.web.counter_views import (
    Assets,
    Clerk,
    desk_page,
    message_page,
    record_page,
    result_page,
    sign_in_page,
)

__all__ = ["SESSION_COOKIE", "counter_router", "upload_too_large"]

SESSION_COOKIE = "certledger_desk"
# Before sign-in: a random value in a cookie and in the form (double submit), so that a
# sign-in cannot be posted from another site (login CSRF).
PRESIGN_COOKIE = "certledger_presign"
_PATH = "/counter"
_STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
# npm installs the QR decoder into the repository's node_modules (package.json, `npm ci`);
# the service serves the pinned file and its licence from its own origin, never a CDN.
_NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
_VENDOR = {
    "jsQR.js": (_NODE_MODULES / "jsqr" / "dist" / "jsQR.js", "text/javascript; charset=utf-8"),
    "jsQR.LICENSE.txt": (_NODE_MODULES / "jsqr" / "LICENSE", "text/plain; charset=utf-8"),
}
_OWN = {
    "counter.css": "text/css; charset=utf-8",
    "counter.js": "text/javascript; charset=utf-8",
}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    # The camera for this origin's own pages only; nothing else the desk does not use.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}

_CSRF_REFUSED = Message(
    "表单已过期或不是从本柜台页面提交的，请重新打开页面后再试。",
    "This form has expired or was not sent from this desk's page; reopen the page and try again.",
)
_SIGNED_OUT = Message(
    "您尚未登录，或登录已超时，请重新登录。",
    "You are not signed in, or your session timed out; please sign in again.",
)
_NO_TOKEN = Message("请输入客户端令牌。", "Please enter the client token.")
_NO_CERTIFICATE = Message(
    "此连接没有出示客户端证书。", "This connection presented no client certificate."
)
_BAD_FORM = Message(
    "无法读取提交的表单，请返回柜台页面重新提交。",
    "The form sent cannot be read; go back to the desk and send it again.",
)
_NO_FILE = Message("请选择要核验的 PDF 文件。", "Please choose the PDF file to verify.")
# The API's words for an empty upload (verify_api.app, POST /api/v1/verify).
_EMPTY = Message("上传的文件是空的。", "The uploaded file is empty.")
_BAD_LANG = ("zh", "en")


def upload_too_large(limit: int) -> Message:
    """The words of the body limit's 413 (verify_api.http.limits), for the desk's check
    before sending; tests/web compares the two, so they cannot drift apart."""
    return Message(
        f"上传文件超过大小限制（{limit} 字节）。",
        f"The upload exceeds the size limit of {limit} bytes.",
    )


def _lang(value: object) -> str:
    return value if isinstance(value, str) and value in _BAD_LANG else "zh"


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _asset_url(name: str, data: bytes) -> str:
    return f"{_PATH}/static/{name}?v={hashlib.sha256(data).hexdigest()[:16]}"


@dataclass
class _Static:
    files: dict[str, tuple[bytes, str]]
    assets: Assets


def _load_static() -> _Static:
    files: dict[str, tuple[bytes, str]] = {}
    for name, media in _OWN.items():
        files[name] = ((_STATIC / name).read_bytes(), media)
    for name, (path, media) in _VENDOR.items():
        if path.is_file():
            files[name] = (path.read_bytes(), media)
    qr = files.get("jsQR.js")
    return _Static(
        files,
        Assets(
            css=_asset_url("counter.css", files["counter.css"][0]),
            js=_asset_url("counter.js", files["counter.js"][0]),
            qr=_asset_url("jsQR.js", qr[0]) if qr else "",
        ),
    )


async def _api_refusal(request: Request, exc: Exception) -> tuple[int, Message]:
    """The API's own answer to ``exc`` (its status and zh/en message), from the app's error
    handlers: the desk shows exactly what ``POST /api/v1/verify`` would say."""
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]]
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = await handler(request, exc)
            try:
                detail = json.loads(bytes(response.body))["detail"]
                message = detail["message"]
                return response.status_code, Message(str(message["zh"]), str(message["en"]))
            except (ValueError, KeyError, TypeError):
                break
    return 500, Message("服务器内部错误。", "Internal server error.")


def counter_router(rt: Runtime, auth: ClientAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    static = _load_static()
    assets = static.assets
    sessions = SessionStore(rt.home.root / "console-sessions.sqlite")
    desk = CounterDesk(public=rt.public, sharing=rt.sharing, audit=rt.audit)
    verifier = auth.require("verifier")
    base_url = rt.settings.base_url.rstrip("/")
    max_bytes = rt.settings.max_upload_bytes

    # -- sessions ------------------------------------------------------------------------

    def _active_client(session: Session) -> Principal | None:
        """The session's client as the registry has it now: a client revoked, or no longer
        a verifier, since sign-in ends its sessions at its next request."""
        info = next((c for c in rt.clients.list(session.agency) if c.id == session.client_id), None)
        if info is None or info.revoked_at is not None or "verifier" not in info.roles:
            sessions.end_client(session.client_id)
            return None
        return Principal(info.id, info.agency, frozenset(info.roles))

    def _signed_in(request: Request) -> tuple[Session, Principal] | None:
        session = sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        if session.fingerprint is not None and (
            peer_certificate_fingerprint(request.scope) != session.fingerprint
        ):
            return None  # a certificate session holds only with that certificate
        principal = _active_client(session)
        return (session, principal) if principal is not None else None

    def _clerk(session: Session) -> Clerk:
        return Clerk(session.name, session.client_id, session.csrf)

    def _secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def _sign_in_answer(
        request: Request, lang: str, *, error: Message | None = None, status: int = 200
    ) -> HTMLResponse:
        presign = secrets.token_urlsafe(32)
        response = _html(
            sign_in_page(
                lang=lang,
                csrf=presign,
                assets=assets,
                error=error,
                certificate=peer_certificate_fingerprint(request.scope) is not None,
            ),
            status,
        )
        response.set_cookie(
            PRESIGN_COOKIE,
            presign,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=_PATH,
        )
        return response

    def _desk_answer(
        session: Session,
        who: Principal,
        lang: str,
        *,
        error: Message | None = None,
        status: int = 200,
        link: str = "",
    ) -> HTMLResponse:
        return _html(
            desk_page(
                lang=lang,
                clerk=_clerk(session),
                assets=assets,
                today=desk.today(who),
                max_upload_bytes=max_bytes,
                too_large=upload_too_large(max_bytes),
                error=[error] if error else [],
                link=link,
            ),
            status,
        )

    async def _form(request: Request) -> tuple[dict[str, Any], str] | HTMLResponse:
        """The posted form, or the page saying it could not be read (a malformed body, too
        many fields or files): a 400 in both languages, not the framework's English."""
        try:
            form = await request.form(max_files=1, max_fields=16)
        except StarletteHTTPException:
            lang = _lang(request.query_params.get("lang"))
            return _html(
                message_page(
                    lang=lang, assets=assets, clerk=None, messages=[_BAD_FORM], back=_PATH
                ),
                400,
            )
        fields: dict[str, Any] = dict(form.items())
        return fields, _lang(fields.get("lang"))

    # -- pages ---------------------------------------------------------------------------

    @router.get(_PATH)
    def desk_home(request: Request, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = _signed_in(request)
        if signed is None:
            return _sign_in_answer(request, lang)
        return _desk_answer(*signed, lang)

    @router.post(f"{_PATH}/sign-in")
    async def sign_in(request: Request) -> Response:
        parsed = await _form(request)
        if isinstance(parsed, HTMLResponse):
            return parsed
        fields, lang = parsed
        if not same_secret(request.cookies.get(PRESIGN_COOKIE), str(fields.get("csrf") or "")):
            return _sign_in_answer(request, lang, error=_CSRF_REFUSED, status=403)
        fingerprint: str | None = None
        if fields.get("method") == "certificate":
            fingerprint = peer_certificate_fingerprint(request.scope)
            if fingerprint is None:
                return _sign_in_answer(request, lang, error=_NO_CERTIFICATE, status=400)
            authorization = None
        else:
            token = str(fields.get("token") or "").strip()
            if not token:
                return _sign_in_answer(request, lang, error=_NO_TOKEN, status=400)
            authorization = f"Bearer {token}"
        try:
            # The API's own check: lookup by digest, rate limits, audit of every denial.
            who: Principal = await verifier(request, authorization)
        except HTTPException as exc:
            detail: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
            msg = detail.get("message", {})
            error = Message(str(msg.get("zh", "登录失败。")), str(msg.get("en", "Sign-in failed.")))
            return _sign_in_answer(request, lang, error=error, status=exc.status_code)
        info = next((c for c in rt.clients.list(who.agency) if c.id == who.client_id), None)
        raw, _session = sessions.create(
            client_id=who.client_id,
            agency=who.agency,
            roles=who.roles,
            name=info.name if info else who.client_id,
            credential="certificate" if fingerprint else "token",
            fingerprint=fingerprint,
        )
        response = RedirectResponse(
            f"{_PATH}?lang={lang}" if lang != "zh" else _PATH, 303, headers=_HEADERS
        )
        # HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it;
        # Secure under TLS; no Max-Age: gone with the browser, and idle-timed on the server.
        response.set_cookie(
            SESSION_COOKIE,
            raw,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=_PATH,
        )
        response.delete_cookie(PRESIGN_COOKIE, path=_PATH)
        return response

    def _checked_post(
        request: Request, fields: dict[str, Any], lang: str
    ) -> tuple[Session, Principal] | HTMLResponse:
        signed = _signed_in(request)
        if signed is None:
            return _sign_in_answer(request, lang, error=_SIGNED_OUT, status=401)
        session, _who = signed
        if not same_secret(session.csrf, str(fields.get("csrf") or "")):
            return _html(
                message_page(
                    lang=lang,
                    assets=assets,
                    clerk=_clerk(session),
                    messages=[_CSRF_REFUSED],
                    back=_PATH,
                ),
                403,
            )
        return signed

    async def _signed_post(
        request: Request,
    ) -> tuple[dict[str, Any], str, tuple[Session, Principal]] | HTMLResponse:
        """A posted form of a signed-in clerk whose CSRF token matches, or the page that
        says why not (every desk form but sign-in goes through here)."""
        parsed = await _form(request)
        if isinstance(parsed, HTMLResponse):
            return parsed
        fields, lang = parsed
        checked = _checked_post(request, fields, lang)
        if isinstance(checked, HTMLResponse):
            return checked
        return fields, lang, checked

    @router.post(f"{_PATH}/sign-out")
    async def sign_out(request: Request) -> Response:
        post = await _signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        _fields, lang, _signed = post
        sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(
            f"{_PATH}?lang={lang}" if lang != "zh" else _PATH, 303, headers=_HEADERS
        )
        response.delete_cookie(SESSION_COOKIE, path=_PATH)
        return response

    def _result(request: Request, session: Session, lang: str, result: Any) -> HTMLResponse:
        record_url = f"{base_url}{_PATH}/records/{result.record.seq}"
        return _html(
            result_page(
                lang=lang,
                clerk=_clerk(session),
                assets=assets,
                result=result,
                record_url=record_url,
            )
        )

    @router.post(f"{_PATH}/verify")
    async def verify_file(request: Request) -> Response:
        # The body limit (verify_api.http.limits) has counted every byte before this runs.
        post = await _signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, (session, who) = post
        upload = fields.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _desk_answer(session, who, lang, error=_NO_FILE, status=400)
        data = await upload.read()
        if not data:
            return _desk_answer(session, who, lang, error=_EMPTY, status=400)
        try:
            result = await run_in_threadpool(desk.verify_upload, who, data)
        except CertificateError as exc:
            status, message = await _api_refusal(request, exc)
            return _desk_answer(session, who, lang, error=message, status=status)
        return _result(request, session, lang, result)

    @router.post(f"{_PATH}/scan")
    async def verify_link(request: Request) -> Response:
        post = await _signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, (session, who) = post
        link = str(fields.get("link") or "")
        try:
            result = await run_in_threadpool(desk.verify_link, who, link)
        except LinkNotRecognised as exc:
            error = Message(exc.zh, exc.en)
            return _desk_answer(session, who, lang, error=error, status=422, link=link[:2048])
        except CertificateError as exc:
            status, message = await _api_refusal(request, exc)
            return _desk_answer(session, who, lang, error=message, status=status, link=link[:2048])
        return _result(request, session, lang, result)

    @router.get(f"{_PATH}/records/{{seq}}")
    def open_record(request: Request, seq: str, lang: str = "zh") -> Response:
        lang = _lang(lang)
        signed = _signed_in(request)
        if signed is None:
            return _sign_in_answer(request, lang)
        session, who = signed
        record = desk.record(who, int(seq)) if seq.isdigit() and len(seq) < 19 else None
        if record is None:
            missing = Message(
                "没有这条核验记录，或它不属于本机构的柜台。",
                "No such verification record, or it is not one of this agency's counters.",
            )
            return _html(
                message_page(
                    lang=lang, assets=assets, clerk=_clerk(session), messages=[missing], back=_PATH
                ),
                404,
            )
        names = {c.id: c.name for c in rt.clients.list(who.agency)}
        return _html(
            record_page(
                lang=lang, clerk=_clerk(session), assets=assets, record=record, clerk_names=names
            )
        )

    @router.get(f"{_PATH}/static/{{name}}")
    def static_file(name: str, v: str = "") -> Response:
        hit = static.files.get(name)
        if hit is None:
            return Response(
                "未找到该文件。 / No such file.\n",
                404,
                media_type="text/plain; charset=utf-8",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        data, media = hit
        current = hashlib.sha256(data).hexdigest()[:16]
        # Content-addressed URLs may be kept for long; any other asks again each time.
        cache = "public, max-age=31536000, immutable" if v == current else "no-cache"
        return Response(
            data,
            media_type=media,
            headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
        )

    return router
