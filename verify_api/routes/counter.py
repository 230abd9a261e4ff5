"""The counter desk (``/counter``): a clerk signs in with the counter's verifier client
credential and verifies documents three ways (a PDF dropped or picked, the QR code on paper
through the camera, a keyboard-wedge scanner typing the link), all ending in one result page.

The handlers translate HTTP into calls on the desk service (``certificates.CounterDesk``) and
render its values (``verify_api.web.counter_views``); no workflow rule lives here. The
credential is checked by the API's own :class:`ClientAuth` (same lookup, rate limits,
audit); refusals carry the API's own messages, taken from the app's error handlers. Sign-in,
sessions, CSRF checks and headers are the piece both consoles share (``verify_api.http.console``).

Security headers on every desk answer: a strict Content-Security-Policy (no inline script,
no inline style, no framing), ``Referrer-Policy: no-referrer`` (verification links carry QR
tokens), ``nosniff``, and ``Cache-Control: no-store`` (the pages show personal data).
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition.
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certificates import (
    CertificateError,
    CounterDesk,
    LinkNotRecognised,
    Principal,
)
from certificates.verification.report import Message
from verify_api.http.auth import ClientAuth, peer_certificate_fingerprint
from verify_api.http.console import (
    Console,
    api_refusal,
    console_headers,
    console_lang,
    static_answer,
    static_url,
)
from verify_api.http.sessions import Session, SessionStore
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
# The camera for this origin's own pages only; nothing else the desk does not use.
_HEADERS = console_headers(CSP, "camera=(self), microphone=(), geolocation=()")

_CSRF_REFUSED = Message(
    "表单已过期或不是从本柜台页面提交的，请重新打开页面后再试。",
    "This form has expired or was not sent from this desk's page; reopen the page and try again.",
)
_BAD_FORM = Message(
    "无法读取提交的表单，请返回柜台页面重新提交。",
    "The form sent cannot be read; go back to the desk and send it again.",
)
_NO_FILE = Message("请选择要核验的 PDF 文件。", "Please choose the PDF file to verify.")
# The API's words for an empty upload (verify_api.app, POST /api/v1/verify).
_EMPTY = Message("上传的文件是空的。", "The uploaded file is empty.")


def upload_too_large(limit: int) -> Message:
    """The words of the body limit's 413 (verify_api.http.limits), for the desk's check
    before sending; tests/web compares the two, so they cannot drift apart."""
    return Message(
        f"上传文件超过大小限制（{limit} 字节）。",
        f"The upload exceeds the size limit of {limit} bytes.",
    )


_lang = console_lang


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _asset_url(name: str, data: bytes) -> str:
    return static_url(_PATH, name, data)


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


def counter_router(rt: Runtime, auth: ClientAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    static = _load_static()
    assets = static.assets
    sessions = SessionStore(rt.store)
    desk = CounterDesk(public=rt.public, sharing=rt.sharing, audit=rt.audit)
    verifier = auth.require("verifier")
    base_url = rt.settings.base_url.rstrip("/")
    max_bytes = rt.settings.max_upload_bytes

    # -- sessions ------------------------------------------------------------------------

    def _clerk(session: Session) -> Clerk:
        return Clerk(session.name, session.client_id, session.csrf)

    def _sign_in_page(
        request: Request, lang: str, presign: str, error: Message | None, status: int
    ) -> HTMLResponse:
        return _html(
            sign_in_page(
                lang=lang,
                csrf=presign,
                assets=assets,
                error=error,
                certificate=peer_certificate_fingerprint(request.scope) is not None,
            ),
            status,
        )

    def _message_page(
        request: Request,
        lang: str,
        signed: tuple[Session, Principal] | None,
        messages: list[Message],
        status: int,
    ) -> HTMLResponse:
        clerk = _clerk(signed[0]) if signed else None
        return _html(
            message_page(lang=lang, assets=assets, clerk=clerk, messages=messages, back=_PATH),
            status,
        )

    console = Console(
        store=sessions,
        clients=rt.clients,
        role="verifier",
        check=verifier,
        cookie=SESSION_COOKIE,
        presign=PRESIGN_COOKIE,
        path=_PATH,
        headers=_HEADERS,
        csrf_refused=_CSRF_REFUSED,
        bad_form=_BAD_FORM,
        sign_in_page=_sign_in_page,
        message_page=_message_page,
        max_fields=16,
        max_files=1,
    )
    _signed_in = console.signed_in
    _sign_in_answer = console.sign_in_answer
    _signed_post = console.signed_post

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

    # -- pages ---------------------------------------------------------------------------

    @router.get(_PATH)
    def desk_home(request: Request, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = _signed_in(request)
        if signed is None:
            return _sign_in_answer(request, lang)
        return _desk_answer(*signed, lang)

    router.add_api_route(f"{_PATH}/sign-in", console.sign_in, methods=["POST"])
    router.add_api_route(f"{_PATH}/sign-out", console.sign_out, methods=["POST"])

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
            status, message = await api_refusal(request, exc)
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
            status, message = await api_refusal(request, exc)
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
        return static_answer(static.files, name, v)

    return router
